// The --images and --filter options shared by plan, images and build.
import { parseLabelFilter, type Selection } from '../model/selection';
import { UsageError } from './usage';

export const SELECTION_OPTIONS = {
  images: { type: 'string', multiple: true },
  filter: { type: 'string', multiple: true },
} as const;

export const SELECTION_HELP = `  --images bases|subs|NAME   which images (repeatable; NAME brings its ancestors); default: all
  --filter label=KEY[=VALUE] only images with that label (repeatable), e.g. --filter label=net.juniper.contrail=config`;

export function selectionFrom(values: Record<string, unknown>): Selection {
  const images = ((values.images as string[] | undefined) ?? []).flatMap((v) => v.split(',')).map((v) => v.trim()).filter(Boolean);
  const filters = ((values.filter as string[] | undefined) ?? []).map((f) => {
    const parsed = parseLabelFilter(f);
    if (!parsed) throw new UsageError(`--filter "${f}" is not label=KEY or label=KEY=VALUE`);
    return parsed;
  });
  return { images, filters };
}
