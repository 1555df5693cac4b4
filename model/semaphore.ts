// A counting semaphore for workflow code: plain promises, no timers or I/O, so it is deterministic; waiters are
// served in the order they asked.
export class Semaphore {
  private available: number;
  private readonly waiters: (() => void)[] = [];

  constructor(readonly limit: number) {
    this.available = Math.max(1, limit);
  }

  async acquire(): Promise<void> {
    if (this.available > 0) this.available--;
    else await new Promise<void>((resolve) => this.waiters.push(resolve));
  }

  release(): void {
    const next = this.waiters.shift();
    if (next) next();
    else this.available++;
  }

  async run<T>(fn: () => Promise<T>): Promise<T> {
    await this.acquire();
    try {
      return await fn();
    } finally {
      this.release();
    }
  }
}

/** How a step uses a limit: around each attempt, and while the step is parked waiting for an operator. */
export interface SlotPolicy {
  attempt<T>(fn: () => Promise<T>): Promise<T>;
  whileParked<T>(wait: () => Promise<T>): Promise<T>;
}

/** A slot per attempt (builds, pushes): a parked step holds none. */
export function slotPerAttempt(slots: Semaphore): SlotPolicy {
  return { attempt: (fn) => slots.run(fn), whileParked: (wait) => wait() };
}

/** A slot already held by the caller (a host being brought up), given back while the step is parked and taken again
 *  before a retry: a host that waits for an operator is not in flight. */
export function heldSlot(slots: Semaphore): SlotPolicy {
  return {
    attempt: (fn) => fn(),
    whileParked: async (wait) => {
      slots.release();
      try {
        return await wait();
      } finally {
        await slots.acquire();
      }
    },
  };
}
