// The image tree, one part of a run (<run>/images): each image is built as soon as its own parent is pushed, on that
// parent's exact digest, and pushed; the release tag moves only when every image is pushed. The run hears of each
// image as it settles, so services start while other images still build. Its size is the catalog's, not the fleet's.
import { condition, getExternalWorkflowHandle } from '@temporalio/workflow';
import type { BuildRequest, LookupResult, PushResult } from '../model/activity-types';
import type { PlannedImage } from '../model/plan';
import { Semaphore, slotPerAttempt } from '../model/semaphore';
import { imagesSettledSignal, type TaskQueues } from '../model/shared';
import { stepId, type PartResult } from '../model/steps';
import type { CompactPlan } from '../model/compact-plan';
import { ActivityCaller } from './activity-calls';
import { Blocked, partOutcome, PartSteps, Skipped } from './part-steps';

export interface ImageTreeInput {
  runId: string;
  /** The run's plan without hosts and stages. */
  plan: Pick<CompactPlan, 'release' | 'registry' | 'images' | 'concurrency' | 'rollout'>;
  queues: TaskQueues;
  noCache?: boolean;
}

export interface ImageTreeResult extends PartResult {
  images: { built: number; skipped: number; failed: number; blocked: number };
  digests: Record<string, string>;
  buildLogs: Record<string, string>;
  releaseTag?: { tag: string; moved: boolean; changed?: number };
}

export async function buildImageTree(input: ImageTreeInput): Promise<ImageTreeResult> {
  const { plan } = input;
  const steps = new PartSteps({ runId: input.runId, parkTimeoutSeconds: plan.rollout.parkTimeoutSeconds });
  const calls = new ActivityCaller(input.queues);
  const images = { built: 0, skipped: 0, failed: 0, blocked: 0 };
  const digests: Record<string, string> = {};
  const buildLogs: Record<string, string> = {};
  let releaseTag: ImageTreeResult['releaseTag'];
  // The run hears of images as they settle; those settled in one go (a tree lookup answers for many) in one signal.
  const run = getExternalWorkflowHandle(input.runId);
  const settled: { image: string; ref?: string; failed?: string }[] = [];
  let allSettled = false;
  const teller = (async () => {
    for (;;) {
      await condition(() => settled.length > 0 || allSettled);
      if (settled.length) await run.signal(imagesSettledSignal, settled.splice(0));
      else return;
    }
  })();
  const tell = (image: string, outcome: { ref?: string; failed?: string }) => void settled.push({ image, ...outcome });

  for (const image of plan.images) {
    steps.add({ id: stepId('build', image.name), kind: 'build', target: image.name, parent: image.parent ?? undefined });
    steps.add({ id: stepId('push', image.name), kind: 'push', target: image.name, parent: image.parent ?? undefined });
  }
  if (plan.images.length) steps.add({ id: stepId('publish', plan.release), kind: 'publish', target: plan.release });

  // Separate limits for builds and pushes: a push never waits behind a queue of builds.
  const buildSlots = slotPerAttempt(new Semaphore(plan.concurrency.builds));
  const pushSlots = slotPerAttempt(new Semaphore(plan.concurrency.pushes));
  const request = (image: PlannedImage, parentRef: string | null): BuildRequest => ({ runId: input.runId, release: plan.release, image, parentRef, registry: plan.registry, noCache: input.noCache });

  // The whole tree is looked up in the registry in one activity first; only images it could not answer for (their
  // parent must be built first) are looked up one by one. A failed tree lookup falls back to those.
  const treeLookup: Promise<Record<string, LookupResult> | null> = !input.noCache && plan.images.length
    ? calls.call('build', 'lookupImages', `look up ${plan.images.length} images in the registry`, { runId: input.runId, release: plan.release, images: plan.images, registry: plan.registry }).catch(() => null)
    : Promise.resolve(null);

  async function lookUp(buildId: string, req: BuildRequest): Promise<LookupResult> {
    for (;;) {
      try {
        return await calls.call('build', 'lookupImage', `look up ${req.image.name} in the registry`, req);
      } catch (e) {
        steps.log.start(buildId);
        await steps.afterFailure(buildId, e);
      }
    }
  }

  async function buildAndPush(image: PlannedImage, parent: Promise<PushResult | undefined>): Promise<PushResult> {
    const buildId = stepId('build', image.name);
    const pushId = stepId('push', image.name);
    let parentRef: string | null;
    try {
      parentRef = (await parent)?.ref ?? null;
    } catch {
      steps.log.finish(buildId, 'blocked', `parent ${image.parent} failed`);
      steps.log.finish(pushId, 'blocked', `parent ${image.parent} failed`);
      images.blocked++;
      throw new Blocked(`blocked by ${image.parent}`);
    }
    const req = request(image, parentRef);
    let built;
    try {
      // The registry already holds this exact image (same input hash): neither build nor push.
      const found = input.noCache ? null : ((await treeLookup)?.[image.name] ?? (await lookUp(buildId, req)));
      if (found?.ref) {
        steps.log.finish(buildId, 'skipped', `unchanged: input ${found.inputHash} is in the registry`);
        steps.log.finish(pushId, 'skipped', found.ref);
        images.skipped++;
        return { image: image.name, digest: found.ref.slice(found.ref.indexOf('@') + 1), ref: found.ref };
      }
      built = await steps.run(buildId, () => calls.call('build', 'buildImage', `build ${image.name}`, req), (r) => (r.skipped ? `unchanged (input ${r.inputHash})` : `built ${r.imageId.slice(0, 19)}`), buildSlots);
    } catch (e) {
      if (e instanceof Skipped) images.blocked++;
      else images.failed++;
      steps.log.finish(pushId, 'blocked', `build of ${image.name} ${e instanceof Skipped ? 'was skipped' : 'failed'}`);
      throw e;
    }
    if (built.skipped) {
      images.skipped++;
      const s = steps.log.get(buildId);
      if (s) steps.log.finish(buildId, 'skipped', s.detail);
    } else {
      images.built++;
      buildLogs[image.name] = built.logFile;
    }
    return steps.run(pushId, () => calls.call('build', 'pushImage', `push ${image.name}`, { image: image.name, tag: built.tag, registry: plan.registry }), (r) => r.ref, pushSlots);
  }

  const pushed = new Map<string, Promise<PushResult>>();
  const told: Promise<void>[] = [];
  for (const image of plan.images) {
    const parent = image.parent ? pushed.get(image.parent)! : Promise.resolve(undefined);
    const result = buildAndPush(image, parent);
    pushed.set(image.name, result);
    told.push(result.then(
      (r) => {
        digests[image.name] = r.ref;
        return tell(image.name, { ref: r.ref });
      },
      (e: unknown) => tell(image.name, { failed: e instanceof Blocked ? `image ${image.name}: ${e.message}` : `image ${image.name} failed` }),
    ));
  }

  // The release tag moves only when every image of the set is pushed: never a partial release.
  const results = await Promise.allSettled(pushed.values());
  if (plan.images.length) {
    releaseTag = { tag: plan.release, moved: false };
    const publishId = stepId('publish', plan.release);
    if (results.some((r) => r.status === 'rejected')) {
      steps.log.finish(publishId, 'blocked', 'not every image was pushed: the release tag stays where it was');
    } else {
      try {
        const published = await steps.run(publishId, () => calls.call('build', 'publishRelease', `move release tag ${plan.release}`, { registry: plan.registry, release: plan.release, digests }), (r) => `${r.moved.length} moved, ${r.unchanged.length} already there`);
        releaseTag = { tag: plan.release, moved: true, changed: published.moved.length };
      } catch {
        // Recorded as a failed step.
      }
    }
  }
  await Promise.all(told);
  allSettled = true;
  await teller;
  return partOutcome({ ...steps.result(), images, digests, buildLogs, releaseTag });
}
