// Scale limits, CI-sized: production's shape with 200 simulated compute hosts (bench/scale.ts), through the real
// pipeline on the lab's Temporal dev server, with in-process workers (workflows, real image builds, simulated host
// work). Fails when what grows with the fleet comes back: a payload, a history or the run's summary past the limits
// below, which hold with room to spare at 200 hosts when nothing holds per-host state in one workflow.
import { prebuildImages, runScale, scalePlan, SCALE_LIMITS, startScaleWorkers, type ScaleResult, type ScaleWorkers } from '../../bench/scale';

jest.setTimeout(20 * 60 * 1000);

const COMPUTES = 200;
let workers: ScaleWorkers | undefined;
let result: ScaleResult;

beforeAll(async () => {
  workers = await startScaleWorkers();
  const plan = scalePlan(COMPUTES);
  await prebuildImages(plan);
  result = await runScale(plan);
  console.log(`scale ${COMPUTES}: ${JSON.stringify(result)}`);
});

afterAll(async () => {
  await workers?.stop();
});

test(`the run of ${COMPUTES} simulated compute hosts completes`, () => {
  expect(result.completed).toBe(true);
  expect(result.containers).toBe(3 * 37 + 3 * COMPUTES);
});

test('no payload in any workflow of the run reaches 256 KB', () => {
  expect(result.maxPayloadBytes).toBeLessThan(SCALE_LIMITS.maxPayloadBytes);
});

test('no workflow of the run has 10,000 history events', () => {
  expect(result.maxHistoryEvents).toBeLessThan(SCALE_LIMITS.maxHistoryEvents);
});

test("the run's summary (its result) stays under 64 KB", () => {
  expect(result.summaryBytes).toBeGreaterThan(0);
  expect(result.summaryBytes).toBeLessThan(SCALE_LIMITS.summaryBytes);
});
