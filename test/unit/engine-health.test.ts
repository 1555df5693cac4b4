// The health check the hosts' engines run on their own, and when a survey may take the engine's word for it.
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { parse } from 'yaml';
import { loadPlan } from '../../lib/load';
import { PROJECT_ROOT } from '../../lib/paths';
import { composeFiles } from '../../model/compose';
import { scratchDir } from '../helpers/files';
import { engineHealthConfig, engineHealthTest, engineVouches, type EngineHealthRecord } from '../../model/engine-health';

const { plan } = loadPlan(path.join(PROJECT_ROOT, 'topology/lab.yaml'));
const container = (name: string) => plan.stages.flatMap((s) => s.containers).find((c) => c.name === name)!;

test('the engine runs the in-container command; a clustered member also its quorum command, both in one shell line', () => {
  expect(engineHealthTest(container('redis'))).toEqual(['CMD', 'redis-cli', '-h', '127.0.0.1', 'ping']);
  const rabbit = engineHealthTest(container('rabbitmq'))!;
  expect(rabbit[0]).toBe('CMD-SHELL');
  // /bin/sh runs both commands with their arguments intact: a stand-in rabbitmq-diagnostics on PATH prints its argv.
  const bin = scratchDir({ 'rabbitmq-diagnostics': 'printf "%s|" "$@"; echo' });
  fs.chmodSync(path.join(bin, 'rabbitmq-diagnostics'), 0o755);
  const ran = execFileSync('sh', ['-c', rabbit[1]], { encoding: 'utf8', env: { PATH: `${bin}:/usr/bin:/bin` } });
  expect(ran.trim().split('\n')).toEqual(['-q|ping|', '-q|check_running|']);
  // A ZooKeeper + Kafka member: its health command (ruok, the broker registered) and its quorum command, in one line.
  const zookeeper = engineHealthTest(container('zookeeper'))!;
  expect(zookeeper[0]).toBe('CMD-SHELL');
  expect(zookeeper[1]).toContain('kafka-health');
  // An OpenStack API: a token, then a request that needs it (the password from the container's environment).
  expect(engineHealthTest(container('keystone'))).toEqual(['CMD', 'openstack-api-check', '5000', '/v3/services']);
  // Ports and URLs only: nothing for the engine to run.
  expect(engineHealthTest(container('horizon'))).toBeUndefined();
  expect(engineHealthConfig(container('horizon'))).toBeUndefined();
});

test('the engine gives a starting service its whole gate timeout before failures count', () => {
  const mariadb = container('mariadb');
  expect(engineHealthConfig(mariadb)).toMatchObject({ Interval: 30e9, Retries: 3, StartPeriod: mariadb.health!.timeoutSeconds * 1e9 });
});

test("a survey takes the engine's word only for this plan's check, called healthy, with its latest try passed", () => {
  const redis = container('redis');
  const record = (test: string[] | undefined, status: string | undefined, exits: number[]): EngineHealthRecord => ({
    Config: { Healthcheck: test ? { Test: test } : undefined },
    State: { Health: status ? { Status: status, Log: exits.map((ExitCode) => ({ ExitCode })) } : undefined },
  });
  const planned = engineHealthTest(redis);
  expect(engineVouches(redis, record(planned, 'healthy', [1, 0]))).toBe(true);
  expect(engineVouches(redis, record(planned, 'healthy', [0, 1]))).toBe(false); // failing since, not yet "unhealthy"
  expect(engineVouches(redis, record(planned, 'starting', []))).toBe(false);
  expect(engineVouches(redis, record(planned, 'unhealthy', [1, 1, 1]))).toBe(false);
  expect(engineVouches(redis, record(['CMD', 'redis-cli', 'info'], 'healthy', [0]))).toBe(false); // another command
  expect(engineVouches(redis, record(undefined, undefined, []))).toBe(false); // made before the engine ran checks
  expect(engineVouches(container('keystone'), record(undefined, undefined, []))).toBe(false);
});

test('compose export gives each group the same engine health check', () => {
  const file = composeFiles(plan).find((f) => f.path === 'controller1/common/docker-compose.yml')!;
  const services = (parse(file.text) as { services: Record<string, { healthcheck?: { test: string[] } }> }).services;
  expect(services.rabbitmq.healthcheck?.test).toEqual(engineHealthTest(container('rabbitmq')));
});
