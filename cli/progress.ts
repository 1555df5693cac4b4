// Live progress for `run` and `build` on a terminal: one state per image and per container, counts, elapsed time.
// Redrawn in place; when stdout is not a terminal, the caller prints plain lines per step change instead.
import { hostCount } from '../model/parts';
import type { RunSummary, Step } from '../model/steps';

export type TargetState = 'queued' | 'building' | 'built' | 'pushing' | 'pushed' | 'skipped' | 'starting' | 'checking' | 'healthy' | 'failed' | 'blocked';

const MARK: Record<TargetState, string> = {
  queued: '.', building: '*', built: '+', pushing: '^', pushed: '+', skipped: '=', starting: '*', checking: '?', healthy: '+', failed: 'x', blocked: '-',
};

/** One row per image (build+push) and per container (start+health): the state a user cares about. */
export function targetStates(steps: Step[]): { name: string; state: TargetState }[] {
  const byTarget = new Map<string, Step[]>();
  for (const s of steps) {
    if (s.kind === 'publish' || s.kind === 'prepare' || s.kind === 'pull' || s.kind === 'survey' || s.kind === 'quorum') continue;
    const key = s.kind === 'build' || s.kind === 'push' ? s.target : `${s.target}@${s.host}`;
    byTarget.set(key, [...(byTarget.get(key) ?? []), s]);
  }
  return [...byTarget.entries()].map(([name, parts]) => ({ name, state: stateOf(parts) }));
}

function stateOf(parts: Step[]): TargetState {
  const [first, second] = parts;
  const image = first.kind === 'build';
  if (parts.some((p) => p.status === 'failed')) return 'failed';
  if (parts.some((p) => p.status === 'blocked')) return 'blocked';
  if (second?.status === 'completed') return image ? 'pushed' : 'healthy';
  if (second?.status === 'skipped' || (first.status === 'skipped' && !second)) return 'skipped';
  if (second?.status === 'running') return image ? 'pushing' : 'checking';
  if (first.status === 'running') return image ? 'building' : 'starting';
  if (first.status === 'completed' || first.status === 'skipped') return image ? 'built' : 'starting';
  return 'queued';
}

export function formatElapsed(ms: number): string {
  const s = Math.floor(ms / 1000);
  return s >= 60 ? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s` : `${s}s`;
}

/** The frame: a counts line, then the targets in columns that fit the terminal width; at scale (no steps given), a
 *  line per stage batch and host group with its hosts done, in flight, failed and parked. */
export function renderProgress(runId: string, summary: Pick<RunSummary, 'parts'>, steps: Step[] | undefined, elapsedMs: number, width: number): string[] {
  if (!steps) return renderParts(runId, summary, elapsedMs, width);
  const rows = targetStates(steps);
  const counts = new Map<TargetState, number>();
  for (const r of rows) counts.set(r.state, (counts.get(r.state) ?? 0) + 1);
  // Failures first: on a narrow terminal they must not be the part that wraps out of sight.
  const order: TargetState[] = ['failed', 'blocked', 'building', 'pushing', 'starting', 'checking', 'queued', 'built', 'pushed', 'skipped', 'healthy'];
  const header = wrap(`${runId}  ${formatElapsed(elapsedMs)}  ${order.filter((s) => counts.get(s)).map((s) => `${s} ${counts.get(s)}`).join(', ')}`, width);
  const cellWidth = Math.min(40, Math.max(...rows.map((r) => r.name.length), 8) + 12);
  const perLine = Math.max(1, Math.floor(width / cellWidth));
  const lines = [...header];
  for (let i = 0; i < rows.length; i += perLine) {
    lines.push(rows.slice(i, i + perLine).map((r) => `${MARK[r.state]} ${r.name} ${r.state}`.slice(0, cellWidth - 1).padEnd(cellWidth)).join('').trimEnd());
  }
  return lines;
}

function renderParts(runId: string, summary: Pick<RunSummary, 'parts'>, elapsedMs: number, width: number): string[] {
  const total = { done: 0, inFlight: 0, failed: 0, parked: 0 };
  const lines = summary.parts.map((p) => {
    const h = p.hostStates;
    if (h) for (const k of Object.keys(total) as (keyof typeof total)[]) total[k] += h[k];
    const state = h ? `done ${h.done}, in flight ${h.inFlight}, failed ${h.failed}, parked ${h.parked}` : Object.entries(p.steps).map(([k, v]) => `${k} ${v}`).join(', ');
    return `${p.label.padEnd(44)} ${p.status.padEnd(9)} ${p.kind === 'hosts' ? `${hostCount(p.hosts)}: ` : ''}${state}`.slice(0, width);
  });
  return [...wrap(`${runId}  ${formatElapsed(elapsedMs)}  hosts done ${total.done}, in flight ${total.inFlight}, failed ${total.failed}, parked ${total.parked}`, width), ...lines];
}

function wrap(text: string, width: number): string[] {
  const out: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    if (line && line.length + 1 + word.length > width) {
      out.push(line);
      line = `  ${word}`;
    } else {
      line = line ? `${line} ${word}` : word;
    }
  }
  return [...out, line];
}

/** Redraws a block of lines in place on a terminal. */
export class LiveBlock {
  private drawn = 0;

  constructor(private readonly stream: NodeJS.WriteStream) {}

  draw(all: string[]): void {
    // Taller than the terminal cannot be redrawn in place: keep the head and say how much is hidden.
    const room = Math.max(3, (this.stream.rows || 50) - 2);
    const lines = all.length > room ? [...all.slice(0, room - 1), `(+${all.length - room + 1} more lines)`] : all;
    const up = this.drawn ? `\x1b[${this.drawn}A` : '';
    this.stream.write(`${up}\r\x1b[J${lines.join('\n')}\n`);
    this.drawn = lines.length;
  }
}
