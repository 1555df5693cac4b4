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
  /** The topology's name, kept in the container's topology label (model/drift.ts), outside its spec hash. */
  topology?: string;
  container: PlannedContainer;
  host: HostRef;
  /** repository@sha256:... of the image just pushed. */
  imageRef: string;
  registry: RegistryRef;
  ssh: SshSettings;
  /** Set only for a topology with `simulate:`; the real activities refuse such a request. */
  simulate?: SimulationSpec;
  /** A running container it replaces is stopped and kept (renamed) until the new one passes its gate. */
  keepPrevious?: boolean;
  /** A running container with another spec is left as it runs, and the result says so (waitsForTurn): the workflow
   *  asks again in its service's turn. Absent or stopped containers are started at once. */
  replaceInTurn?: boolean;
}

export type ContainerOutcome = 'created' | 'recreated' | 'unchanged';

export interface StartResult {
  container: string;
  host: string;
  id: string;
  outcome: ContainerOutcome;
  /** The id of the replaced container, kept stopped (keepPrevious): restorePrevious or discardPrevious ends it. */
  previous?: string;
  /** replaceInTurn: a running container would be replaced; nothing was changed (outcome 'unchanged'). */
  waitsForTurn?: boolean;
}

/** A replaced container kept by startContainer: started again in its replacement's place, or removed. */
export interface PreviousRequest {
  container: PlannedContainer;
  host: HostRef;
  ssh: SshSettings;
  previous: string;
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
  /** Hosts whose member must be among those in quorum: a replaced member, so that the next one is replaced only once
   *  this one is back in the cluster (a majority without it would lose quorum when the next one goes). */
  include?: string[];
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

/** `run --remove-orphans`: the containers of this topology on the host that it no longer plans there go. */
export interface OrphanRequest {
  host: HostRef;
  topology: string;
  /** The container names the plan places on this host: never removed. */
  planned: string[];
  ssh: SshSettings;
  /** Set only for a topology with `simulate:`; the real activities refuse such a request. */
  simulate?: SimulationSpec;
}

export interface OrphanResult {
  host: string;
  removed: string[];
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
  restorePrevious(req: PreviousRequest): Promise<StartResult>;
  discardPrevious(req: PreviousRequest): Promise<void>;
  removeOrphans(req: OrphanRequest): Promise<OrphanResult>;
}
