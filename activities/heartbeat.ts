// Heartbeats on a timer as well as on progress: a long RUN step or a big layer prints nothing for minutes, and a
// short heartbeat timeout is what lets Temporal notice a dead worker quickly and retry elsewhere.
import { Context } from '@temporalio/activity';

export const HEARTBEAT_EVERY_MS = 5000;

/** Heartbeats every few seconds with the latest progress until the returned function is called. */
export function keepAlive(progress: () => unknown): () => void {
  const ctx = Context.current();
  const timer = setInterval(() => ctx.heartbeat(progress()), HEARTBEAT_EVERY_MS);
  return () => clearInterval(timer);
}
