// Which images to build: all, the bases, the subs, named images with their ancestors, or by label, as the original
// build.py's -b/-s/-c did and as `docker images --filter label=...` lists them.
import type { ImageSpec } from './types';

export interface LabelFilter {
  key: string;
  /** Undefined: the label is present with any value. */
  value?: string;
}

export interface Selection {
  /** "bases", "subs" or image names. Empty: every image. */
  images: string[];
  filters: LabelFilter[];
}

export interface SelectedImage {
  name: string;
  /** Selected for itself, or only because a selected image builds on it. */
  reason: 'selected' | 'ancestor';
}

export function parseLabelFilter(text: string): LabelFilter | undefined {
  const m = /^label=([a-z0-9][a-z0-9.-]*[a-z0-9])(=(.+))?$/.exec(text);
  return m ? { key: m[1], value: m[3] } : undefined;
}

export function matchesFilters(image: Pick<ImageSpec, 'labels'>, filters: LabelFilter[]): boolean {
  return filters.every((f) => image.labels[f.key] !== undefined && (f.value === undefined || image.labels[f.key] === f.value));
}

/**
 * A sub is what the original called one: an image named "<parent>-<suffix>" built on that parent, with no children
 * (analytics-api on analytics). Every other image is a base (analytics, and standalone images such as redis).
 */
export function isBase(image: ImageSpec, images: ImageSpec[]): boolean {
  const isSub = image.parent !== null && image.name.startsWith(`${image.parent}-`) && !images.some((i) => i.parent === image.name);
  return !isSub;
}

/** The images to build, in catalog order; unknown names are returned separately so the caller can say so. */
export function selectImages(images: ImageSpec[], sel: Selection): { selected: SelectedImage[]; unknown: string[] } {
  const byName = new Map(images.map((i) => [i.name, i]));
  const unknown = sel.images.filter((n) => n !== 'bases' && n !== 'subs' && !byName.has(n));
  const wanted = images.filter((i) => {
    const byKind = sel.images.length === 0 || sel.images.includes(i.name) || (sel.images.includes('bases') && isBase(i, images)) || (sel.images.includes('subs') && !isBase(i, images));
    return byKind && matchesFilters(i, sel.filters);
  });
  const chosen = new Map<string, SelectedImage['reason']>(wanted.map((i) => [i.name, 'selected']));
  for (const image of wanted) {
    for (let p = image.parent ? byName.get(image.parent) : undefined; p; p = p.parent ? byName.get(p.parent) : undefined) {
      if (!chosen.has(p.name)) chosen.set(p.name, 'ancestor');
    }
  }
  return { selected: images.filter((i) => chosen.has(i.name)).map((i) => ({ name: i.name, reason: chosen.get(i.name)! })), unknown };
}
