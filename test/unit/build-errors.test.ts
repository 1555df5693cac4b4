// A build that stops on a Maven artifact: named, and retried only when the repository could not be reached.
import { mavenBuildFailure, mavenCause } from '../../lib/build-errors';

const LOG = '/var/log/contrail-deploy/builds/run-1/cassandra.log';
// The last lines of real build logs (Maven 3.8.7, images/jre/maven-fetch).
const MISSING = [
  'Step 4/10 : RUN maven-fetch /opt/cassandra/lib org.apache.cassandra:cassandra-all:3.11.99',
  '[ERROR] Failed to execute goal on project fetch: Could not resolve dependencies for project local.contrail-deploy:fetch:pom:1: Could not find artifact org.apache.cassandra:cassandra-all:jar:3.11.99 in central (https://repo.maven.apache.org/maven2) -> [Help 1]',
  'maven-fetch: cannot fetch org.apache.cassandra:cassandra-all:jar:3.11.99: not found in Maven Central (check the group, artifact and version)',
];
const UNREACHABLE = [
  '[ERROR] Plugin org.apache.maven.plugins:maven-dependency-plugin:3.6.1 or one of its dependencies could not be resolved: Failed to read artifact descriptor for org.apache.maven.plugins:maven-dependency-plugin:jar:3.6.1: Could not transfer artifact org.apache.maven.plugins:maven-dependency-plugin:pom:3.6.1 from/to central (https://repo.maven.apache.org/maven2): Connection refused',
  'maven-fetch: cannot fetch org.apache.maven.plugins:maven-dependency-plugin:pom:3.6.1: Maven Central unreachable (check the network or MAVEN_REPO)',
];

test('an artifact the repository does not have fails the build at once, naming the artifact, the image and the fix', () => {
  const failure = mavenBuildFailure('cassandra', MISSING, LOG)!;
  expect(failure.nonRetryable).toBe(true);
  expect(failure.type).toBe('MavenArtifactMissing');
  expect(failure.message).toBe(
    `build of cassandra failed: Maven artifact org.apache.cassandra:cassandra-all:jar:3.11.99 does not exist in Maven Central. Fix its group, artifact or version in the Dockerfile of cassandra (build log: ${LOG}), then run again.`,
  );
});

test('a repository that cannot be reached is transient: retried, still naming the artifact', () => {
  const failure = mavenBuildFailure('zookeeper', UNREACHABLE, LOG)!;
  expect(failure.nonRetryable).toBe(false);
  expect(failure.type).toBe('MavenUnreachable');
  expect(failure.message).toContain('Maven artifact org.apache.maven.plugins:maven-dependency-plugin:pom:3.6.1 could not be fetched: Maven Central is unreachable');
});

test("Maven's own lines suffice when a Dockerfile runs mvn without maven-fetch", () => {
  expect(mavenCause(MISSING.slice(0, 2))).toEqual({ kind: 'missing', artifact: 'org.apache.cassandra:cassandra-all:jar:3.11.99', repository: 'https://repo.maven.apache.org/maven2' });
  expect(mavenCause(UNREACHABLE.slice(0, 1))).toEqual({ kind: 'unreachable', artifact: 'org.apache.maven.plugins:maven-dependency-plugin:pom:3.6.1', repository: 'https://repo.maven.apache.org/maven2' });
  // A mirror given as MAVEN_REPO is named as such.
  expect(mavenCause(['maven-fetch: cannot fetch a:b:jar:1: not found in https://mirror.example/maven2 (check the group, artifact and version)'])).toEqual({ kind: 'missing', artifact: 'a:b:jar:1', repository: 'https://mirror.example/maven2' });
});

test('a build log without a Maven cause is left to the usual classification', () => {
  expect(mavenBuildFailure('redis', ["The command '/bin/sh -c apt-get install -y redis-server' returned a non-zero code: 100", 'E: Unable to locate package redis-servr'], LOG)).toBeUndefined();
});
