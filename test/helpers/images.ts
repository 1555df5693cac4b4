// Image tests use the images the pipeline itself builds from topology/lab.yaml (one build path, one layer cache):
// `contrail-deploy build --images ...` skips what is already built with the same inputs.
import type { RunSummary } from '../../model/steps';
import { cli, lastJsonLine, uniqueSuffix } from './lab';

export const LAB_TOPOLOGY = 'topology/lab.yaml';

/** Builds (or finds) the named images and their ancestors; returns image name -> local tag on the build engine. */
export async function pipelineImages(names: string[]): Promise<Map<string, string>> {
  const r = await cli(['build', LAB_TOPOLOGY, '--images', names.join(','), '--with-worker', '--json'], { CONTRAIL_TASK_QUEUE_PREFIX: `images-${uniqueSuffix()}` });
  if (r.code !== 0) throw new Error(`contrail-deploy build failed:\n${r.stdout}\n${r.stderr}`);
  const summary = lastJsonLine<RunSummary>(r.stdout);
  // digests: name -> registry/name@sha256:...; the same image carries the release tag on the build engine.
  return new Map(Object.entries(summary.digests).map(([name, ref]) => [name, `${ref.split('@')[0]}:${summary.release}`]));
}
