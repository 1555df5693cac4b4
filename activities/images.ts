// Image activities (build task queue): build through dockerode on the build host's engine, push to the registry.
// Several build workers, each beside its own engine, may serve the one build queue: a build pushes its image itself,
// from the engine that holds it, and the push step then finds it in the registry (any worker may take that step, and
// only the building engine could push). A sub built on another engine pulls its parent by digest (FROM parent@sha256).
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { Context } from '@temporalio/activity';
import type Docker from 'dockerode';
import { ApplicationFailure } from '@temporalio/common';
import { baseImageArg, type PlannedImage } from '../model/plan';
import { buildEngine, DockerStreamError, followStream, isConnectionError } from '../lib/docker';
import { buildLogDir } from '../lib/paths';
import { maskSecrets, resolveSecret } from '../lib/secrets';
import { mavenBuildFailure } from '../lib/build-errors';
import { RegistryClient } from '../lib/registry';
import { keepAlive } from './heartbeat';
import { compareKeys, stableJson } from '../model/stable-json';
import type { BuildRequest, BuildResult, LookupResult, PublishRequest, PublishResult, PushRequest, PushResult, TreeLookupRequest } from '../model/activity-types';

export const INPUT_HASH_LABEL = 'net.contrail-deploy.input-hash';
export const RUN_LABEL = 'net.contrail-deploy.run';
export const HASH_TAG_PREFIX = 'input-';

const LOG_TAIL_LINES = 20;

/** Is this exact image (same input hash) already in the registry? Cheap: one HEAD request, no docker build. */
export async function lookupImage(req: BuildRequest, registry = new RegistryClient(req.registry)): Promise<LookupResult> {
  const { image } = req;
  const { inputHash } = imageInputs(req);
  const digest = await registry.digestOf(image.repository, `${HASH_TAG_PREFIX}${inputHash}`, `lookup of ${image.name}`);
  return { image: image.name, inputHash, ref: digest ? `${image.repository}@${digest}` : null };
}

/**
 * Looks the whole image tree up in one go: each root, then the children of every image the registry holds (their
 * input hash needs the parent's digest). An image missing from the result has a parent that must be built first.
 */
export async function lookupImages(req: TreeLookupRequest): Promise<Record<string, LookupResult>> {
  const registry = new RegistryClient(req.registry);
  const results: Record<string, LookupResult> = {};
  const visit = async (image: PlannedImage, parentRef: string | null): Promise<void> => {
    const found = await lookupImage({ runId: req.runId, release: req.release, image, parentRef, registry: req.registry }, registry);
    results[image.name] = found;
    if (found.ref) await Promise.all(req.images.filter((i) => i.parent === image.name).map((child) => visit(child, found.ref)));
  };
  await Promise.all(req.images.filter((i) => !i.parent).map((root) => visit(root, null)));
  return results;
}

/** What identifies a build: its context files, build args (the parent's exact digest among them) and the hash of all. */
function imageInputs(req: BuildRequest): { files: string[]; buildArgs: Record<string, string>; inputHash: string } {
  const { image } = req;
  const from = req.parentRef ?? image.base;
  if (!from) throw ApplicationFailure.nonRetryable(`image ${image.name}: neither a parent nor a base`, 'InvalidPlan');
  const buildArgs = { ...image.buildArgs, ...baseImageArg(from) };
  const files = listContext(image.name, image.contextDir);
  return { files, buildArgs, inputHash: hashInputs(image, files, buildArgs) };
}

export async function buildImage(req: BuildRequest): Promise<BuildResult> {
  const { image } = req;
  const ctx = Context.current();
  const { files, buildArgs, inputHash } = imageInputs(req);
  // Pushed under its input hash only; the release tag moves once the whole set is pushed (publishRelease).
  const tag = `${image.repository}:${HASH_TAG_PREFIX}${inputHash}`;
  const logFile = path.join(buildLogDir(), req.runId.replace(/[^A-Za-z0-9._-]/g, '_'), `${image.name}.log`);
  const docker = buildEngine();

  // Built here before but not pushed (e.g. the registry was wiped or the push failed): no need to build again.
  const existing = await docker.getImage(tag).inspect().catch(() => undefined);
  if (existing?.Config?.Labels?.[INPUT_HASH_LABEL] === inputHash && !req.noCache) {
    await pushFromBuild(docker, { image: image.name, tag, registry: req.registry });
    return { image: image.name, tag, imageId: existing.Id, inputHash, skipped: true, logFile };
  }

  fs.mkdirSync(path.dirname(logFile), { recursive: true });
  const log = fs.createWriteStream(logFile);
  const tail: string[] = [];
  let imageId = '';
  let step = '';
  const stopHeartbeats = keepAlive(() => ({ image: image.name, step }));
  try {
    const stream = (await docker.buildImage(
      { context: image.contextDir, src: files },
      {
        t: tag,
        dockerfile: image.dockerfile,
        buildargs: { ...buildArgs, ...buildProxyArgs() },
        // No run id in the image: equal inputs must give an equal image, or every child's layer cache is lost.
        labels: { ...image.labels, [INPUT_HASH_LABEL]: inputHash },
        nocache: req.noCache ?? false,
        networkmode: 'host',
        forcerm: true,
        registryconfig: { [req.registry.address]: { username: req.registry.username, password: resolveSecret(req.registry.password.secret) } },
        abortSignal: ctx.cancellationSignal,
      } as Docker.ImageBuildOptions,
    )) as NodeJS.ReadableStream;
    await followStream(stream, (e) => {
      const text = maskSecrets(e.stream ?? e.status ?? e.error ?? '');
      if (text.trim()) {
        log.write(text.endsWith('\n') ? text : `${text}\n`);
        for (const line of text.split('\n').filter((l) => l.trim())) {
          tail.push(line);
          if (line.startsWith('Step ')) step = line;
        }
        if (tail.length > LOG_TAIL_LINES) tail.splice(0, tail.length - LOG_TAIL_LINES);
      }
      if (e.aux?.ID) imageId = e.aux.ID;
      ctx.heartbeat({ image: image.name, step });
    });
  } catch (e) {
    throw buildFailure(image.name, e, tail, logFile, ctx.cancellationSignal.aborted);
  } finally {
    stopHeartbeats();
    log.end();
  }
  if (!imageId) imageId = (await docker.getImage(tag).inspect()).Id;
  await pushFromBuild(docker, { image: image.name, tag, registry: req.registry });
  return { image: image.name, tag, imageId, inputHash, skipped: false, logFile };
}

/**
 * The build's own push, from the engine that built the image. When the registry cannot take it now (unreachable, a
 * refused password), the build still counts: its push step pushes from here, retrying, and reports the failure.
 */
async function pushFromBuild(docker: Docker, req: PushRequest): Promise<void> {
  await pushFromEngine(docker, req).catch(() => undefined);
}

/**
 * A build host whose engine reaches package sources only through a proxy (CONTRAIL_BUILD_PROXY, e.g. build2 on the
 * lab): Docker's predefined proxy build args, which RUN steps see but which stay out of the image, the layer cache key
 * and the input hash (the same inputs give the same image on every engine).
 */
function buildProxyArgs(): Record<string, string> {
  const proxy = process.env.CONTRAIL_BUILD_PROXY;
  return proxy ? { HTTP_PROXY: proxy, HTTPS_PROXY: proxy, http_proxy: proxy, https_proxy: proxy } : {};
}

function buildFailure(name: string, e: unknown, tail: string[], logFile: string, cancelled: boolean): Error {
  const lastLines = maskSecrets(tail.join('\n'));
  if (cancelled) return ApplicationFailure.nonRetryable(`build of ${name} was cancelled`, 'BuildCancelled');
  if (e instanceof DockerStreamError) {
    // A Maven artifact the log names: missing (no retry) or its repository unreachable (retried).
    const maven = mavenBuildFailure(name, tail.map((line) => maskSecrets(line)), logFile);
    if (maven) return maven;
    // The Dockerfile or the context is wrong: retrying the same inputs gives the same result.
    return ApplicationFailure.nonRetryable(
      `build of ${name} failed: ${maskSecrets(e.message)}\n--- last lines of ${logFile} ---\n${lastLines}\nFix the Dockerfile or its context, then run again.`,
      'BuildFailed',
    );
  }
  const status = (e as { statusCode?: number }).statusCode;
  if (status === 400 || status === 404 || (status === 500 && /dockerfile|not found|no such file/i.test(String((e as Error).message)))) {
    return ApplicationFailure.nonRetryable(`build of ${name} failed: ${maskSecrets(String((e as Error).message))}\nFix the Dockerfile or its context.`, 'BuildFailed');
  }
  const reason = isConnectionError(e) ? 'the build engine is unreachable' : 'unexpected error';
  return ApplicationFailure.retryable(`build of ${name}: ${reason}: ${maskSecrets(String((e as Error).message))}`, 'BuildEngineError');
}

/**
 * The push step: the image is normally in the registry already (its build pushed it); else it is pushed from this
 * worker's engine, which holds it when this worker built it. Registry errors are retried with the usual backoff.
 */
export async function pushImage(req: PushRequest): Promise<PushResult> {
  const [repository, tag] = splitTag(req.tag);
  let digest: string | null;
  try {
    digest = await new RegistryClient(req.registry).digestOf(repository, tag, `push of ${req.image}`);
  } catch (e) {
    if (e instanceof ApplicationFailure && e.nonRetryable) throw e;
    throw ApplicationFailure.retryable(`push of ${req.image} to ${req.registry.address} failed: ${(e as Error).message}`, 'RegistryUnavailable');
  }
  if (digest) return { image: req.image, digest, ref: `${repository}@${digest}` };
  const docker = buildEngine();
  if (!(await docker.getImage(req.tag).inspect().catch(() => undefined))) {
    // Built on another build engine, whose own push failed: only a retry on that worker can push it.
    throw ApplicationFailure.retryable(`push of ${req.image} to ${req.registry.address} failed: the registry does not have ${req.tag} and this build worker's engine does not hold it (another build worker built it); retrying`, 'RegistryUnavailable');
  }
  return pushFromEngine(docker, req);
}

/** docker push of the tag from this engine; the digest the registry gave it. */
async function pushFromEngine(docker: Docker, req: PushRequest): Promise<PushResult> {
  const ctx = Context.current();
  const [repository, tag] = splitTag(req.tag);
  let digest = '';
  let status = '';
  const stopHeartbeats = keepAlive(() => ({ image: req.image, status }));
  try {
    const stream = await docker.getImage(req.tag).push({
      tag,
      authconfig: { username: req.registry.username, password: resolveSecret(req.registry.password.secret), serveraddress: req.registry.address },
      abortSignal: ctx.cancellationSignal,
    } as never);
    await followStream(stream as unknown as NodeJS.ReadableStream, (e) => {
      if (e.aux?.Digest) digest = e.aux.Digest;
      status = e.status ?? status;
      ctx.heartbeat({ image: req.image, status });
    });
  } catch (e) {
    const message = maskSecrets(String((e as Error).message));
    if (/unauthorized|authentication required|denied/i.test(message)) {
      throw ApplicationFailure.nonRetryable(
        `push of ${req.image} to ${req.registry.address}: the registry refused the credentials (${message}). Check the secret ${req.registry.password.secret}.`,
        'RegistryAuthFailed',
      );
    }
    throw ApplicationFailure.retryable(`push of ${req.image} to ${req.registry.address} failed: ${message}`, 'RegistryUnavailable');
  } finally {
    stopHeartbeats();
  }
  if (!digest) throw ApplicationFailure.retryable(`push of ${req.image}: the registry reported no digest`, 'RegistryUnavailable');
  return { image: req.image, digest, ref: `${repository}@${digest}` };
}

function splitTag(ref: string): [string, string] {
  const i = ref.lastIndexOf(':');
  return [ref.slice(0, i), ref.slice(i + 1)];
}

/** Every file of a build context, relative to it, in a stable order. */
export function listContext(name: string, dir: string): string[] {
  const out: string[] = [];
  const walk = (rel: string) => {
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(path.join(dir, rel), { withFileTypes: true });
    } catch {
      throw ApplicationFailure.nonRetryable(`image ${name}: build context ${path.join(dir, rel)} is missing on the build worker`, 'ContextMissing');
    }
    for (const entry of entries.sort((a, b) => compareKeys(a.name, b.name))) {
      const p = rel ? `${rel}/${entry.name}` : entry.name;
      if (entry.isDirectory()) walk(p);
      else out.push(p);
    }
  };
  walk('');
  return out;
}

/** The image's identity: context files, Dockerfile, build args (the parent's exact digest among them) and labels. */
export function hashInputs(image: PlannedImage, files: string[], buildArgs: Record<string, string>): string {
  const h = crypto.createHash('sha256');
  for (const f of files) {
    h.update(`file ${f} ${fs.statSync(path.join(image.contextDir, f)).mode & 0o111 ? 'x' : '-'}\n`);
    h.update(fs.readFileSync(path.join(image.contextDir, f)));
  }
  h.update(stableJson({ dockerfile: image.dockerfile, buildArgs, labels: image.labels }));
  return h.digest('hex').slice(0, 32);
}

/**
 * Points the release tag of every image at the digest this run pushed. Called only when the whole set succeeded,
 * so a release tag never names a half-built set. Idempotent: a tag already at its digest is left alone.
 */
export async function publishRelease(req: PublishRequest): Promise<PublishResult> {
  const registry = new RegistryClient(req.registry);
  const docker = buildEngine();
  const result: PublishResult = { release: req.release, moved: [], unchanged: [] };
  const names = Object.keys(req.digests).sort();
  const publishOne = async (name: string) => {
    const [repository, digest] = req.digests[name].split('@');
    const what = `release tag ${req.release} of ${name}`;
    if ((await registry.digestOf(repository, req.release, what)) === digest) {
      result.unchanged.push(name);
    } else {
      await registry.tag(repository, digest, req.release, what);
      result.moved.push(name);
    }
    // The build engine's own tag follows (the guide's `docker images` on the build host); absent there: nothing to do.
    await docker.getImage(req.digests[name]).tag({ repo: repository, tag: req.release }).catch(() => undefined);
    Context.current().heartbeat({ published: result.moved.length + result.unchanged.length, of: names.length });
  };
  // A few at a time: each is two or three small requests.
  for (let i = 0; i < names.length; i += 8) await Promise.all(names.slice(i, i + 8).map(publishOne));
  result.moved.sort();
  result.unchanged.sort();
  return result;
}
