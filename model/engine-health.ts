// The health check each host's Docker engine runs on its own (HEALTHCHECK): the catalog's in-container command, and
// for a clustered member its quorum command as well. `docker ps` shows the verdict, and a run that finds nothing
// changed reads it from the container's record instead of starting the command itself (the RabbitMQ tools boot an
// Erlang VM each: about half a second of CPU per question).
import type { PlannedContainer } from './plan';
import { shq } from './shell';

/** How often the engine asks; a "healthy" the survey trusts is at most this old (plus the check's own run). */
export const ENGINE_HEALTH_INTERVAL_SECONDS = 30;
const ENGINE_HEALTH_TIMEOUT_SECONDS = 10;
const ENGINE_HEALTH_RETRIES = 3;

/** Docker's Test for the container's in-container checks, or undefined when it has none (TCP and HTTP checks are made
 *  from the worker, where the gate makes them). */
export function engineHealthTest(c: PlannedContainer): string[] | undefined {
  const commands = [c.health?.command, c.quorum?.command].filter((cmd): cmd is string[] => Boolean(cmd?.length));
  if (!commands.length) return undefined;
  if (commands.length === 1) return ['CMD', ...commands[0]];
  return ['CMD-SHELL', commands.map((cmd) => cmd.map(shq).join(' ')).join(' && ')];
}

/** The engine's HealthConfig (durations in nanoseconds), or undefined when the container has no in-container check. */
export function engineHealthConfig(c: PlannedContainer): { Test: string[]; Interval: number; Timeout: number; Retries: number; StartPeriod: number } | undefined {
  const Test = engineHealthTest(c);
  if (!Test) return undefined;
  const ns = (seconds: number) => seconds * 1e9;
  return {
    Test,
    Interval: ns(ENGINE_HEALTH_INTERVAL_SECONDS),
    Timeout: ns(ENGINE_HEALTH_TIMEOUT_SECONDS),
    Retries: ENGINE_HEALTH_RETRIES,
    // Failures while the service starts do not count against it (the gate's own timeout is the limit).
    StartPeriod: ns(c.health?.timeoutSeconds ?? 0),
  };
}

/** What the survey reads from a container's record (docker inspect). */
export interface EngineHealthRecord {
  Config: { Healthcheck?: { Test?: string[] } };
  State: { Health?: { Status?: string; Log?: { ExitCode?: number }[] } };
}

/**
 * True when the engine vouches for the container's in-container checks: it runs this plan's very check, calls the
 * container healthy, and its latest try passed. Anything else (no engine check on an older container, a different
 * command, still starting, a recent failure) means: ask the container directly.
 */
export function engineVouches(c: PlannedContainer, record: EngineHealthRecord): boolean {
  const test = engineHealthTest(c);
  const health = record.State.Health;
  const latest = health?.Log?.[health.Log.length - 1];
  return Boolean(
    test &&
      JSON.stringify(record.Config.Healthcheck?.Test) === JSON.stringify(test) &&
      health?.Status === 'healthy' &&
      latest?.ExitCode === 0,
  );
}
