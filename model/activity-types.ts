// The requests and results that workflows, activities and the CLI share: the one place they are declared. Bundled into
// workflow code, so: types only, no Node built-ins, no runtime imports outside model/.
import type { HostRef, PlannedContainer, PlannedHost, PlannedImage } from './plan';
import type { JumpHostSpec, SecretRef, SimulationSpec } from './types';

// ---- images (build task queue) ----

export interface RegistryRef {
  address: string;
  /** CA file the registry's TLS certificate chains to; null: the system store. */
  ca?: string | null;
  username: string;
  password: SecretRef;
}

export interface BuildRequest {
  runId: string;
  release: string;
  image: PlannedImage;
  /** Exact reference of the parent just pushed (repository@sha256:...), or null for a root image. */
  parentRef: string | null;
  registry: RegistryRef;
  noCache?: boolean;
}

export interface BuildResult {
  image: string;
  tag: string;
  imageId: string;
  inputHash: string;
  /** True when an image with the same input hash was already there: no docker build ran. */
  skipped: boolean;
  logFile: string;
}

export interface PushRequest {
  image: string;
  tag: string;
  registry: RegistryRef;
}

export interface PushResult {
  image: string;
  digest: string;
  /** repository@digest: what a sub builds FROM and what hosts run. */
  ref: string;
}

export interface LookupResult {
  image: string;
  inputHash: string;
  /** repository@digest when the registry already holds input-<hash>: neither build nor push is needed. */
  ref: string | null;
}

export interface TreeLookupRequest {
  runId: string;
  release: string;
  images: PlannedImage[];
  registry: RegistryRef;
}

export interface PublishRequest {
  registry: RegistryRef;
  release: string;
  /** image name -> repository@digest: the whole set, every image pushed. */
  digests: Record<string, string>;
}

export interface PublishResult {
  release: string;
  moved: string[];
  unchanged: string[];
}

// ---- hosts (deploy task queue) ----

export interface SshSettings {
  user: string;
  keyFile: string | null;
  knownHosts: string;
  /** How a non-root user reaches the Docker engine (default sudo); root needs neither. */
  docker?: 'sudo' | 'group';
  /** The bastion every host is reached through (OpenSSH's ProxyJump), unless overridden for the host. */
  jumpHost?: JumpHostSpec | null;
  /** Per-host bastions where a host differs from jumpHost (null: reached directly); only the overridden hosts. */
  hostJumpHosts?: Record<string, JumpHostSpec | null>;
}

export interface PrepareRequest {
  host: PlannedHost;
  ssh: SshSettings;
  /** The registry the host pulls from: its CA (a file on the worker) is installed in the host engine's trust. */
  registry?: { address: string; ca: string | null };
  /** Set only for a topology with `simulate:`; the real activities refuse such a request. */
  simulate?: SimulationSpec;
}

export type ItemOutcome = 'created' | 'changed' | 'unchanged';

export interface PrepareResult {
  host: string;
  dockerVersion: string;
  items: { item: string; outcome: ItemOutcome }[];
}

// ---- containers (deploy task queue) ----

export interface StartRequest {
  runId: string;
  container: PlannedContainer;
  host: HostRef;
  /** repository@sha256:... of the image just pushed. */
  imageRef: string;
  registry: RegistryRef;
  ssh: SshSettings;
  /** Set only for a topology with `simulate:`; the real activities refuse such a request. */
  simulate?: SimulationSpec;
}

export type ContainerOutcome = 'created' | 'recreated' | 'unchanged';

export interface StartResult {
  container: string;
  host: string;
  id: string;
  outcome: ContainerOutcome;
}

export interface PullRequest {
  host: HostRef;
  /** repository@sha256:... of every image the host will run. */
  imageRefs: string[];
  registry: RegistryRef;
  ssh: SshSettings;
  /** Set only for a topology with `simulate:`; the real activities refuse such a request. */
  simulate?: SimulationSpec;
}

export interface PullResult {
  host: string;
  pulled: string[];
  present: string[];
}

export interface HealthRequest {
  container: PlannedContainer;
  host: HostRef;
  ssh: SshSettings;
  /** Set only for a topology with `simulate:`; the real activities refuse such a request. */
  simulate?: SimulationSpec;
}

export interface HealthResult {
  container: string;
  host: string;
  answeredAfterMs: number;
}

export interface SurveyRequest {
  host: HostRef;
  /** The planned containers on this host. */
  containers: PlannedContainer[];
  ssh: SshSettings;
  /** Set only for a topology with `simulate:`; the real activities refuse such a request. */
  simulate?: SimulationSpec;
}

export interface SurveyedContainer {
  container: string;
  /** The image the running container was created from (repository@digest), if it runs. */
  imageRef: string | null;
  /** Running, made from this plan's spec with imageRef, and answering its health check right now. */
  healthy: boolean;
  /** For a clustered service: this member says it is in a cluster with quorum. */
  inQuorum?: boolean;
  /** The in-container checks were not run: the host's engine runs them and its latest verdict is healthy. */
  engineHealthy?: true;
  /** Why not healthy, for the record. */
  note?: string;
}

export interface SurveyResult {
  host: string;
  containers: SurveyedContainer[];
}

export interface QuorumRequest {
  service: string;
  /** The members that passed their own health gate. */
  healthy: { container: PlannedContainer; host: HostRef }[];
  members: number;
  need: number;
  command?: string[];
  timeoutSeconds: number;
  ssh: SshSettings;
  /** Set only for a topology with `simulate:`; the real activities refuse such a request. */
  simulate?: SimulationSpec;
}

export interface QuorumResult {
  service: string;
  /** Hosts whose member says it is in a cluster with quorum. */
  inQuorum: string[];
}

// ---- the activity set ----

/** Every activity a worker registers, as workflows call it (activities/index.ts is checked against this). */
export interface ActivityFunctions {
  buildImage(req: BuildRequest): Promise<BuildResult>;
  lookupImage(req: BuildRequest): Promise<LookupResult>;
  lookupImages(req: TreeLookupRequest): Promise<Record<string, LookupResult>>;
  pushImage(req: PushRequest): Promise<PushResult>;
  publishRelease(req: PublishRequest): Promise<PublishResult>;
  prepareHost(req: PrepareRequest): Promise<PrepareResult>;
  pullImages(req: PullRequest): Promise<PullResult>;
  surveyHost(req: SurveyRequest): Promise<SurveyResult>;
  startContainer(req: StartRequest): Promise<StartResult>;
  checkHealth(req: HealthRequest): Promise<HealthResult>;
  checkQuorum(req: QuorumRequest): Promise<QuorumResult>;
}
