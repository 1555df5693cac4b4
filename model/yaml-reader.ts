// Reads a user's YAML file into checked values, collecting every problem with file, line, column and field.
import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Node, type Pair } from 'yaml';
import { ConfigError, type ConfigProblem } from './config-error';

export const MAX_FILE_BYTES = 1024 * 1024;

export type YamlNode = Node | null | undefined;

export class YamlReader {
  readonly problems: ConfigProblem[] = [];
  readonly root: YamlNode;
  private readonly lines = new LineCounter();

  constructor(readonly file: string, text: string) {
    this.root = this.parse(text);
  }

  private parse(text: string): YamlNode {
    if (text.length > MAX_FILE_BYTES) {
      this.problems.push({ file: this.file, message: `file is ${text.length} bytes, more than the ${MAX_FILE_BYTES} allowed`, hint: 'a topology or catalog is a few kilobytes; is this the right file?' });
      return null;
    }
    if (text.includes('\u0000')) {
      this.problems.push({ file: this.file, message: 'file is binary, not YAML text' });
      return null;
    }
    if (text.trim() === '') {
      this.problems.push({ file: this.file, message: 'file is empty', hint: 'see topology/smoke.yaml for an example' });
      return null;
    }
    // uniqueKeys rejects duplicate keys; a low alias limit stops "billion laughs" expansion in bounded time and memory.
    const doc = parseDocument(text, { lineCounter: this.lines, uniqueKeys: true, prettyErrors: false, strict: true });
    for (const e of doc.errors) {
      const pos = this.lines.linePos(e.pos[0]);
      this.problems.push({ file: this.file, line: pos.line, column: pos.col, message: e.message.split('\n')[0].replace(/ at line \d+, column \d+:?$/, '') });
    }
    if (doc.errors.length) return null;
    try {
      doc.toJS({ maxAliasCount: 50 });
    } catch (e) {
      this.problems.push({ file: this.file, message: `${(e as Error).message}`, hint: 'anchors and aliases may be used, but not to expand the document exponentially' });
      return null;
    }
    return doc.contents as YamlNode;
  }

  problem(node: YamlNode, field: string, message: string, hint?: string): undefined {
    const offset = node?.range?.[0];
    const pos = offset !== undefined ? this.lines.linePos(offset) : undefined;
    this.problems.push({ file: this.file, line: pos?.line, column: pos?.col, field, message, hint });
    return undefined;
  }

  /** A mapping with known keys: reports unknown keys and missing required ones. Returns key -> value node. */
  map(node: YamlNode, field: string, keys: { required?: string[]; optional?: string[] }): Map<string, YamlNode> | undefined {
    if (!isMap(node)) return this.problem(node, field, `expected a mapping (key: value lines), got ${describe(node)}`);
    const known = [...(keys.required ?? []), ...(keys.optional ?? [])];
    const out = new Map<string, YamlNode>();
    for (const pair of node.items as Pair<Node, Node>[]) {
      const key = isScalar(pair.key) ? String(pair.key.value) : undefined;
      const keyField = field ? `${field}.${key}` : String(key);
      if (key === undefined) {
        this.problem(pair.key, field, 'keys must be plain strings');
      } else if (!known.includes(key)) {
        this.problem(pair.key, keyField, `unknown key "${key}"`, suggest(key, known));
      } else {
        out.set(key, pair.value);
      }
    }
    for (const k of keys.required ?? []) {
      if (!out.has(k)) this.problem(node, field ? `${field}.${k}` : k, `missing required key "${k}"`);
    }
    return out;
  }

  /** A mapping with free-form keys, as key/value node pairs. */
  pairs(node: YamlNode, field: string): [YamlNode, YamlNode][] | undefined {
    if (node === undefined) return [];
    if (!isMap(node)) return this.problem(node, field, `expected a mapping (key: value lines), got ${describe(node)}`);
    return (node.items as Pair<Node, Node>[]).map((p) => [p.key, p.value]);
  }

  list(node: YamlNode, field: string): YamlNode[] | undefined {
    if (node === undefined) return [];
    if (!isSeq(node)) return this.problem(node, field, `expected a list, got ${describe(node)}`);
    return node.items as YamlNode[];
  }

  str(node: YamlNode, field: string, check?: { pattern: RegExp; hint: string }): string | undefined {
    if (!isScalar(node) || typeof node.value !== 'string' || node.value === '') {
      if (isScalar(node) && (typeof node.value === 'number' || typeof node.value === 'boolean')) {
        return this.problem(node, field, `expected a string, got ${JSON.stringify(node.value)}`, `quote it: "${String(node.value)}"`);
      }
      return this.problem(node, field, `expected a non-empty string, got ${describe(node)}`);
    }
    if (check && !check.pattern.test(node.value)) return this.problem(node, field, `invalid value ${JSON.stringify(node.value)}`, check.hint);
    return node.value;
  }

  optStr(node: YamlNode, field: string, fallback: string, check?: { pattern: RegExp; hint: string }): string | undefined {
    return node === undefined ? fallback : this.str(node, field, check);
  }

  int(node: YamlNode, field: string, min: number, max: number): number | undefined {
    if (!isScalar(node) || typeof node.value !== 'number' || !Number.isInteger(node.value)) {
      return this.problem(node, field, `expected a whole number, got ${describe(node)}`);
    }
    if (node.value < min || node.value > max) return this.problem(node, field, `${node.value} is out of range`, `use ${min}..${max}`);
    return node.value;
  }

  bool(node: YamlNode, field: string, fallback: boolean): boolean | undefined {
    if (node === undefined) return fallback;
    if (!isScalar(node) || typeof node.value !== 'boolean') return this.problem(node, field, `expected true or false, got ${describe(node)}`);
    return node.value;
  }

  strList(node: YamlNode, field: string, check?: { pattern: RegExp; hint: string }): string[] | undefined {
    const items = this.list(node, field);
    if (!items) return undefined;
    const out: string[] = [];
    items.forEach((item, i) => {
      const s = this.str(item, `${field}[${i}]`, check);
      if (s !== undefined) out.push(s);
    });
    return out;
  }

  /** Throws a ConfigError carrying every problem found so far. */
  done(): void {
    if (this.problems.length) throw new ConfigError(this.problems);
  }
}

function describe(node: YamlNode): string {
  if (node === undefined || node === null) return 'nothing';
  if (isMap(node)) return 'a mapping';
  if (isSeq(node)) return 'a list';
  if (isScalar(node)) return node.value === null ? 'nothing' : JSON.stringify(node.value);
  return 'an alias';
}

function suggest(key: string, known: string[]): string {
  const close = known.find((k) => k.toLowerCase() === key.toLowerCase() || levenshtein(k, key) <= 2);
  return close ? `did you mean "${close}"?` : `known keys: ${known.join(', ')}`;
}

function levenshtein(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0][j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
  }
  return d[a.length][b.length];
}
