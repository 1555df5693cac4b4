// Causes of a failed image build that the build log names, so the failure can say what to fix and whether a retry
// can help. Today: Java artifacts fetched from Maven at build time (images/jre/maven-fetch, or Maven itself).
// - The repository answered that the artifact does not exist: the same inputs fail the same way, so no retry; the
//   message names the artifact.
// - The repository could not be reached: transient, retried with the build's usual backoff.
import { ApplicationFailure } from '@temporalio/common';

export type MavenCause = { kind: 'missing' | 'unreachable'; artifact: string; repository: string };

// maven-fetch's own last line, then Maven's lines for a Dockerfile that runs mvn directly.
const FETCH_LINE = /maven-fetch: cannot fetch (\S+): (?:not found in (.+?)|(.+?) unreachable) \(/;
const MAVEN_MISSING = /Could not find artifact (\S+) in \S+ \(([^)\s]+)\)/;
const MAVEN_UNREACHABLE = /Could not transfer artifact (\S+) from\/to \S+ \(([^)\s]+)\)/;

/** The Maven cause in a build log's last lines, if any (the last such line wins: it is the one that stopped the build). */
export function mavenCause(lines: string[]): MavenCause | undefined {
  for (const line of [...lines].reverse()) {
    const fetch = FETCH_LINE.exec(line);
    if (fetch) return fetch[2] !== undefined ? { kind: 'missing', artifact: fetch[1], repository: fetch[2] } : { kind: 'unreachable', artifact: fetch[1], repository: fetch[3] };
    const missing = MAVEN_MISSING.exec(line);
    if (missing) return { kind: 'missing', artifact: missing[1], repository: missing[2] };
    const unreachable = MAVEN_UNREACHABLE.exec(line);
    if (unreachable) return { kind: 'unreachable', artifact: unreachable[1], repository: unreachable[2] };
  }
  return undefined;
}

/** The failure for a build that stopped on a Maven cause, or undefined when the log names none. */
export function mavenBuildFailure(image: string, lines: string[], logFile: string): ApplicationFailure | undefined {
  const cause = mavenCause(lines);
  if (!cause) return undefined;
  if (cause.kind === 'missing') {
    return ApplicationFailure.nonRetryable(
      `build of ${image} failed: Maven artifact ${cause.artifact} does not exist in ${cause.repository}. Fix its group, artifact or version in the Dockerfile of ${image} (build log: ${logFile}), then run again.`,
      'MavenArtifactMissing',
    );
  }
  return ApplicationFailure.retryable(
    `build of ${image}: Maven artifact ${cause.artifact} could not be fetched: ${cause.repository} is unreachable from the build engine; retrying (build log: ${logFile})`,
    'MavenUnreachable',
  );
}
