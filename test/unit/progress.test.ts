// The live progress block of `run` and `build` on a terminal.
import { formatElapsed, renderProgress, targetStates } from '../../cli/progress';
import type { Step, StepStatus } from '../../model/steps';

const s = (id: string, kind: Step['kind'], target: string, status: StepStatus, host?: string): Step => ({ id, kind, target, status, host });

const steps: Step[] = [
  s('build:base', 'build', 'base', 'completed'), s('push:base', 'push', 'base', 'completed'),
  s('build:web', 'build', 'web', 'running'), s('push:web', 'push', 'web', 'pending'),
  s('build:db', 'build', 'db', 'completed'), s('push:db', 'push', 'db', 'running'),
  s('build:old', 'build', 'old', 'skipped'), s('push:old', 'push', 'old', 'skipped'),
  s('build:bad', 'build', 'bad', 'failed'), s('push:bad', 'push', 'bad', 'blocked'),
  s('build:bad-x', 'build', 'bad-x', 'blocked'), s('push:bad-x', 'push', 'bad-x', 'blocked'),
  s('build:later', 'build', 'later', 'pending'), s('push:later', 'push', 'later', 'pending'),
  s('publish:r1', 'publish', 'r1', 'pending'),
  s('prepare:h1', 'prepare', 'h1', 'completed', 'h1'),
  s('start:web@h1', 'start', 'web', 'completed', 'h1'), s('health:web@h1', 'health', 'web', 'running', 'h1'),
];

test('each image and container has the state a user reads: building, pushing, pushed, skipped, failed, blocked, queued', () => {
  expect(targetStates(steps)).toEqual([
    { name: 'base', state: 'pushed' }, { name: 'web', state: 'building' }, { name: 'db', state: 'pushing' },
    { name: 'old', state: 'skipped' }, { name: 'bad', state: 'failed' }, { name: 'bad-x', state: 'blocked' },
    { name: 'later', state: 'queued' }, { name: 'web@h1', state: 'checking' },
  ]);
});

test('the frame starts with the run, elapsed time and counts, and fits the terminal width', () => {
  const lines = renderProgress('run-1', { parts: [] }, steps, 83000, 60);
  expect(lines.slice(0, 2).join('\n')).toBe('run-1  1m23s  failed 1, blocked 1, building 1, pushing 1,\n  checking 1, queued 1, pushed 1, skipped 1');
  for (const l of lines) expect(l.length).toBeLessThanOrEqual(60);
  const body = lines.slice(1).join('\n');
  for (const name of ['base pushed', 'web building', 'bad failed', 'bad-x blocked', 'web@h1 checking']) expect(body).toContain(name);
});

test('elapsed time reads as seconds, then minutes and seconds', () => {
  expect(formatElapsed(5400)).toBe('5s');
  expect(formatElapsed(61000)).toBe('1m01s');
});

test('at scale, the frame is a line per stage batch and host group: hosts done, in flight, failed, parked', () => {
  const part = (label: string, hostStates: { done: number; inFlight: number; failed: number; parked: number }, status: 'running' | 'completed') =>
    ({ workflowId: `r/${label}`, kind: 'hosts' as const, label, hosts: 100, status, steps: {}, hostStates });
  const lines = renderProgress('run-2', { parts: [part('compute batch 1 of 5 (canary)', { done: 100, inFlight: 0, failed: 0, parked: 0 }, 'completed'), part('compute batch 2 of 5, group 1 of 3', { done: 40, inFlight: 17, failed: 1, parked: 2 }, 'running')] }, undefined, 5000, 120);
  expect(lines[0]).toBe('run-2  5s  hosts done 140, in flight 17, failed 1, parked 2');
  expect(lines[2]).toMatch(/^compute batch 2 of 5, group 1 of 3 +running +100 hosts: done 40, in flight 17, failed 1, parked 2$/);
  expect(lines).toHaveLength(3);
});
