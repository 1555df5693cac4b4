// Plain data shared by the CLI, workflows and activities. No I/O, no Node built-ins: workflows import these types.

/** A secret is never a value in a file or in workflow history, only a name resolved on the worker. */
export interface SecretRef {
  secret: string;
}

export interface HealthCheck {
  /** TCP port that must accept connections on the container's host address. */
  tcp?: number;
  /** A command run inside the container (docker exec) that exits 0 when the service is ready. */
  command?: string[];
  /** An HTTP GET on the container's host address that must answer with a status below 400. */
  http?: { port: number; path: string };
  timeoutSeconds: number;
}

export interface ImageSpec {
  name: string;
  /** Build context directory, relative to the catalog file. */
  context: string;
  dockerfile: string;
  /** Another catalog image this one is built FROM, or null for a root image. */
  parent: string | null;
  /** For a root image: the external base reference its FROM uses (made locally by the lab, never pulled). */
  base: string | null;
  labels: Record<string, string>;
  buildArgs: Record<string, string>;
  ports: number[];
  health?: HealthCheck;
  /** The process a container runs, when it differs from the image's CMD (e.g. another config file). */
  command: string[] | null;
  /** Defaults for every container of this image (a service adds to them). */
  volumes: string[];
  privileged: boolean;
  capAdd: string[];
  /** Address variables of services this image depends on: passed in its env, and their stage must come first. */
  needs: string[];
  /** Address variables it only reads (e.g. ifmap lists the control nodes it will accept): passed, no ordering. */
  reads: string[];
  /** Environment variables that carry credentials; the topology maps each to a secret reference. */
  secrets: string[];
  /** Why this image is a stand-in for software that cannot be had here; null for the real thing. */
  standin: string | null;
  /** A clustered service (Cassandra, ZooKeeper, RabbitMQ): the next stage waits for a quorum of its members. */
  quorum?: QuorumCheck;
}

export interface QuorumCheck {
  /** Run inside each healthy member: exits 0 when that member is part of a cluster that has quorum. Without it, a
   *  majority of healthy members is the quorum. */
  command?: string[];
}

export interface Catalog {
  file: string;
  images: ImageSpec[];
}

export interface DirectorySpec {
  path: string;
  mode: string;
  /** user:group, enforced on every run when set. Absent: a new directory is made root's, and an existing one keeps
   *  its owner, since a container's entrypoint gives its data directory to its service user (zookeeper, mysql): a run
   *  that took it back would leave the running service unable to create files there. */
  owner?: string;
}

export interface RoleSpec {
  directories: DirectorySpec[];
  kernelModules: string[];
}

export interface HostSpec {
  name: string;
  address: string;
  sshPort: number;
  roles: string[];
}

export interface ServiceSpec {
  name: string;
  image: string;
  stage: string;
  /** Placement: roles and/or explicit host names. */
  roles: string[];
  hosts: string[];
  env: Record<string, string | SecretRef>;
  volumes: string[];
  /** Overrides the image's default when set (false: run a privileged image unprivileged, e.g. on an engine that
   *  refuses privileged containers). */
  privileged?: boolean;
  capAdd: string[];
  health?: HealthCheck;
}

export interface RegistrySpec {
  address: string;
  /** CA certificate file (absolute path) the registry's TLS certificate chains to, or null for the system store. */
  ca: string | null;
  username: string;
  password: SecretRef;
}

/** A bastion (OpenSSH's ProxyJump): hosts behind it are reached through a connection to it. */
export interface JumpHostSpec {
  address: string;
  port: number;
  user: string;
}

export interface SshSpec {
  user: string;
  /** Private key file (absolute path); null: use the ssh-agent at SSH_AUTH_SOCK. */
  keyFile: string | null;
  /** known_hosts file (absolute path) that pins every host key (plain, hashed, [host]:port, @cert-authority, @revoked). */
  knownHosts: string;
  /** How a non-root user reaches the Docker engine: `sudo -n` (default) or as a member of the docker group. */
  docker?: 'sudo' | 'group';
  /** The bastion hosts are reached through, unless a host says otherwise (hosts[i].jumpHost). */
  jumpHost?: JumpHostSpec | null;
  /** Hosts whose bastion differs from jumpHost (null: reached directly), by host name. */
  hostJumpHosts?: Record<string, JumpHostSpec | null>;
}

export interface Topology {
  file: string;
  name: string;
  release: string;
  catalog: Catalog;
  registry: RegistrySpec;
  ssh: SshSpec;
  hosts: HostSpec[];
  roles: Record<string, RoleSpec>;
  services: ServiceSpec[];
  stages: string[];
  /** Explicit address variables (e.g. an external KEYSTONE_SERVER); they win over addresses derived from placement. */
  addresses: Record<string, string>;
  /** Plain settings every container gets (ADMIN_USER, ADMIN_TENANT...): what the original's common.env held, less
   * the addresses (derived) and the passwords (secrets). */
  env: Record<string, string>;
  /** Credential variable -> secret reference; a container gets those its image declares. */
  secrets: Record<string, SecretRef>;
  concurrency: Concurrency;
  rollout: Rollout;
  /** Set only by an explicit `simulate:` block: host work goes to the simulated worker, for measuring scale. */
  simulate?: SimulationSpec;
}

/** Separate limits, so that builds, pushes and SSH fan-out do not starve each other. */
export interface Concurrency {
  builds: number;
  pushes: number;
  /** Hosts prepared or changed at the same time. */
  hosts: number;
}

/** Compute hosts come up in batches: a canary first, then a share of the rest at a time; a failed batch stops. */
export interface Rollout {
  computeCanary: number;
  computeBatchPercent: number;
  /** How long a failed step waits for an operator (retry, skip, abort) before the run fails; 0: fail at once. */
  parkTimeoutSeconds: number;
  /** How many instances of a service (not a cluster: those go one at a time) may be down at once while replaced
   *  (default 1, model/rollout.ts). Absent unless the topology sets it, so plans made before it are unchanged. */
  maxUnavailable?: number;
  /** rolling (default): replacements one at a time, old container kept until the new one passes its gate;
   *  recreate: every changed container removed and created at once (the behaviour before rolling upgrades). */
  upgrade?: UpgradeStrategy;
}

export type UpgradeStrategy = 'rolling' | 'recreate';

export const DEFAULT_CONCURRENCY: Concurrency = { builds: 2, pushes: 1, hosts: 5 };
export const DEFAULT_ROLLOUT: Rollout = { computeCanary: 1, computeBatchPercent: 25, parkTimeoutSeconds: 24 * 3600 };

export const DEFAULT_STAGES = ['common', 'database', 'config', 'control', 'analytics', 'webui', 'openstack', 'compute'];

/** Simulated hosts, for measuring scale only (never an e2e test): host work (prepare, survey, pull, start, health,
 *  quorum) is done by a simulated worker that waits a random latency and fails at the given rates. Chosen by the
 *  topology's `simulate:` block, and served only by a worker started with `--simulate`, on its own task queue. */
export interface SimulationSpec {
  /** Latency of one host step, log-normal: its median and 95th percentile, in milliseconds. */
  latencyMs: { median: number; p95: number };
  /** Share of activity attempts that fail with a transient (retryable) error, 0 to 1. */
  transientFailureRate: number;
  /** Share of hosts whose preparation fails permanently (non-retryable), 0 to 1, chosen by a hash of the host name. */
  permanentFailureRate: number;
  /** Hosts whose preparation fails permanently until the fault is cleared (`contrail-deploy simulate clear HOST`). */
  failHosts: string[];
}
