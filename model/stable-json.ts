/** JSON with object keys sorted at every level, so equal values always hash the same. */
export function stableJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(stableJson).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined).sort(([a], [b]) => compareKeys(a, b));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${stableJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value ?? null);
}

// Printable ASCII in the order Unicode's root collation gives it (what `localeCompare` gave on an en-US worker, which
// every spec and image hash so far was made with): space and punctuation, digits, then letters, a letter's cases
// together. Fixed here, so that no worker's locale or ICU build changes a hash, and hashes made before stay the same.
const ROOT_ORDER = ' _-,;:!?.\'"()[]{}@*/\\&#%`^+<=>|~$0123456789abcdefghijklmnopqrstuvwxyz';
const PRIMARY = new Map([...ROOT_ORDER].map((ch, i) => [ch, i]));
const PRINTABLE_ASCII = /^[\x20-\x7e]*$/;

/**
 * Orders keys and file names the same on every machine, whatever its locale: strings of printable ASCII as the root
 * collation does (by character ignoring case, then lower case before upper case at the first difference), before any
 * other string; other strings by UTF-16 code units.
 */
export function compareKeys(a: string, b: string): number {
  const asciiA = PRINTABLE_ASCII.test(a);
  const asciiB = PRINTABLE_ASCII.test(b);
  if (asciiA !== asciiB) return asciiA ? -1 : 1;
  if (!asciiA) return a < b ? -1 : a > b ? 1 : 0;
  return comparePrimary(a, b) || compareCase(a, b);
}

function comparePrimary(a: string, b: string): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    const d = PRIMARY.get(a[i].toLowerCase())! - PRIMARY.get(b[i].toLowerCase())!;
    if (d) return d;
  }
  return a.length - b.length;
}

/** Equal but for case: lower case first, at the first position where the case differs. */
function compareCase(a: string, b: string): number {
  for (let i = 0; i < a.length; i++) {
    if (a[i] !== b[i]) return a[i] === a[i].toLowerCase() ? -1 : 1;
  }
  return 0;
}
