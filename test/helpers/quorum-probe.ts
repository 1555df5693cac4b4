// A probe outside the workflow that asks a ZooKeeper ensemble every half second whether it has quorum (a majority of its
// members say they are leader or follower), for the upgrade test and bench: the longest time it saw no quorum.
import * as net from 'net';

export interface ProbeSample {
  at: number;
  /** Member address -> its mode ("leader", "follower", "standalone", or why it did not answer). */
  modes: Record<string, string>;
  quorum: boolean;
}

/** One member's mode, from its four-letter `srvr` answer; within 400 ms. */
export function zookeeperMode(address: string, port = 2181): Promise<string> {
  return new Promise((resolve) => {
    let text = '';
    const socket = net.connect({ host: address, port, timeout: 400 }, () => socket.end('srvr'));
    const done = (mode: string) => {
      socket.destroy();
      resolve(mode);
    };
    socket.on('data', (d) => (text += d.toString()));
    socket.on('end', () => done(/Mode: (\w+)/.exec(text)?.[1] ?? (text.includes('not currently serving') ? 'not serving' : 'no mode')));
    socket.on('timeout', () => done('timeout'));
    socket.on('error', (e: NodeJS.ErrnoException) => done(e.code ?? e.message));
  });
}

export class QuorumProbe {
  readonly samples: ProbeSample[] = [];
  private timer?: NodeJS.Timeout;

  constructor(private readonly members: string[], private readonly everyMs = 500) {}

  start(): void {
    const need = Math.floor(this.members.length / 2) + 1;
    const ask = async () => {
      const at = Date.now();
      const modes = Object.fromEntries(await Promise.all(this.members.map(async (m) => [m, await zookeeperMode(m)] as const)));
      this.samples.push({ at, modes, quorum: Object.values(modes).filter((m) => m === 'leader' || m === 'follower').length >= need });
      this.timer = setTimeout(() => void ask(), Math.max(0, this.everyMs - (Date.now() - at)));
    };
    void ask();
  }

  stop(): void {
    clearTimeout(this.timer);
  }

  /** The longest stretch, in ms, from the first sample without quorum to the next sample with it (0: never lost). */
  longestGapMs(): number {
    let longest = 0;
    let lostAt: number | undefined;
    for (const s of this.samples) {
      if (!s.quorum) lostAt ??= s.at;
      else if (lostAt !== undefined) {
        longest = Math.max(longest, s.at - lostAt);
        lostAt = undefined;
      }
    }
    const last = this.samples[this.samples.length - 1];
    return lostAt !== undefined && last ? Math.max(longest, last.at - lostAt) : longest;
  }

  /** The samples without quorum, one line each, for a failure message. */
  losses(): string[] {
    return this.samples.filter((s) => !s.quorum).map((s) => `${new Date(s.at).toISOString()} ${JSON.stringify(s.modes)}`);
  }
}
