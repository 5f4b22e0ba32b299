/**
 * Generated deploys, in the scenario file format (`../scenario.ts`): a world (fleets of 1 to
 * 100 web and 0 to 3 worker instances, sizes biased towards small; a first release or not;
 * strategy, migration order, capacity floor, a release that misbehaves), the deploy, and a
 * schedule of faults: throttling (steady, or bursts at a step), visibility lags (NotFound
 * windows), AZ capacity errors, API errors, Lambda retries after a side effect, the Lambda
 * down for a while, instance deaths, alarms, scale-in/out, operators (maintenance on/off,
 * suspend/resume, `herd abort`, a second deploy) and a dead execution. fast-check shrinks
 * every part of it, so a failing case shrinks to a small scenario file.
 */
import fc from 'fast-check';
import { STEP_NAMES } from '../../../lambda/deploy/advance';
import { HERD_ALARM_IDS } from '../../../lib/alarms';
import type { ReleaseBehaviour } from '../../../lib/simulation/fake-cloud';
import type { WorldSpec } from '../../../lib/simulation/world';
import type { Scenario, ScenarioFaults } from '../scenario';
import { HARMLESS_PROCESSES, type ScenarioEvent } from '../scenario-events';

/** A step of the deploy (the deploy's own steps first: compensation steps fire only when it compensates). */
const step = fc.constantFrom(...STEP_NAMES);

/** Fleet sizes: mostly small (cheap in the fake), some medium, a few up to 100. */
const webSize = fc.oneof(
  { arbitrary: fc.integer({ min: 1, max: 4 }), weight: 12 },
  { arbitrary: fc.integer({ min: 5, max: 20 }), weight: 3 },
  { arbitrary: fc.integer({ min: 21, max: 100 }), weight: 1 },
);

/** How release r2 (the one deployed) misbehaves, if it does. */
const releaseFaults: Readonly<Record<string, ReleaseBehaviour | undefined>> = {
  none: undefined,
  bakeFails: { bakeExitCode: 1 },
  migrationFails: { migrationExitCode: 1 },
  neverHealthy: { neverHealthy: true },
  errors: { errorRate: 0.5 },
  slow: { p99Seconds: 5 },
  imageStuck: { imageNeverAvailable: true },
  slowStart: { appStartSeconds: 120 },
};
const releaseFault = fc.oneof(
  { arbitrary: fc.constant('none'), weight: 8 },
  { arbitrary: fc.constantFrom(...Object.keys(releaseFaults).filter((k) => k !== 'none')), weight: 3 },
);

/** Errors an API answers a few times (an outage, a capacity error), from the start or from a step. */
const API_ERRORS: readonly { api: string; code: string; status?: number }[] = [
  { api: 'ec2:RunInstances', code: 'InsufficientInstanceCapacity' },
  { api: 'ec2:CreateImage', code: 'InternalError', status: 500 },
  { api: 'autoScaling:StartInstanceRefresh', code: 'InternalFailure', status: 500 },
  { api: 'autoScaling:UpdateAutoScalingGroup', code: 'ScalingActivityInProgress' },
  { api: 'ssm:PutParameter', code: 'InternalServerError', status: 500 },
  { api: 'elbv2:CreateRule', code: 'InternalFailure', status: 500 },
  { api: 'dynamodb:Put', code: 'ProvisionedThroughputExceededException' },
  { api: 'ec2:DescribeInstances', code: 'InternalError', status: 500 },
];
const apiFault = fc.record({
  error: fc.constantFrom(...API_ERRORS),
  times: fc.integer({ min: 1, max: 3 }),
  fromStep: fc.option(step, { nil: undefined }),
}).map(({ error, times, fromStep }) => ({ ...error, times, ...(fromStep ? { fromStep } : {}) }));

const role = fc.constantFrom('web' as const, 'worker' as const);
const processes = fc.subarray([...HARMLESS_PROCESSES], { minLength: 1 });

const event: fc.Arbitrary<ScenarioEvent> = fc.oneof(
  fc.record({ atStep: step, kind: fc.constant('throttle' as const), calls: fc.integer({ min: 1, max: 12 }) }),
  fc.record({ atStep: step, kind: fc.constant('kill' as const), role: fc.constantFrom('web' as const, 'worker' as const, 'builder' as const, 'release' as const), count: fc.integer({ min: 1, max: 2 }) }),
  fc.record({ atStep: step, kind: fc.constant('noCapacity' as const), subnet: fc.integer({ min: 0, max: 1 }) }),
  fc.record({ atStep: step, kind: fc.constant('alarm' as const), alarm: fc.constantFrom(...HERD_ALARM_IDS) }),
  fc.record({ atStep: step, kind: fc.constant('scale' as const), role, by: fc.integer({ min: -2, max: 2 }).filter((n) => n !== 0) }),
  fc.record({ atStep: step, kind: fc.constant('maintenance' as const), action: fc.constantFrom('on' as const, 'off' as const) }),
  fc.record({ atStep: step, kind: fc.constantFrom('suspend' as const, 'resume' as const), role, processes }),
  fc.record({ atStep: step, kind: fc.constant('abort' as const), actor: fc.constant('carol') }),
  fc.record({ atStep: step, kind: fc.constant('die' as const) }),
  fc.record({ atStep: step, kind: fc.constant('refreshFails' as const), role }),
);

/** Raw choices; `toScenario` makes a clean scenario of them (so shrinking shrinks choices). */
const choices = fc.record({
  web: webSize,
  worker: fc.integer({ min: 0, max: 3 }),
  fresh: fc.oneof({ arbitrary: fc.constant(false), weight: 5 }, { arbitrary: fc.constant(true), weight: 1 }),
  strategy: fc.constantFrom('rolling' as const, 'full' as const),
  migrationOrder: fc.constantFrom('before' as const, 'after' as const, 'maintenance' as const, 'none' as const),
  healthy: fc.constantFrom<readonly [number, number]>([100, 150], [100, 200], [90, 120], [50, 100], [0, 100]),
  /** Web and worker refreshed at the same time (the default), or one after the other. */
  parallelRoles: fc.oneof({ arbitrary: fc.constant(true), weight: 2 }, { arbitrary: fc.constant(false), weight: 1 }),
  floorShare: fc.integer({ min: 0, max: 100 }),
  rollback: fc.oneof({ arbitrary: fc.constant(false), weight: 6 }, { arbitrary: fc.constant(true), weight: 1 }),
  /** `herd restart` of the serving release instead of a deploy; `brokenSetting`: after a setting the app cannot start with. */
  restart: fc.oneof({ arbitrary: fc.constant(false), weight: 6 }, { arbitrary: fc.constant(true), weight: 1 }),
  brokenSetting: fc.boolean(),
  releaseFault,
  pageBefore: fc.oneof({ arbitrary: fc.constant(false), weight: 6 }, { arbitrary: fc.constant(true), weight: 1 }),
  suspendedBefore: fc.oneof({ arbitrary: fc.constant([] as string[]), weight: 5 }, { arbitrary: processes, weight: 1 }),
  database: fc.boolean(),
  /** Layered bake: the base image exists (most deploys), or this deploy bakes it first. */
  base: fc.constantFrom('current' as const, 'current' as const, 'none' as const),
  lag: fc.record({ max: fc.integer({ min: 0, max: 12 }), min: fc.integer({ min: 0, max: 12 }), seed: fc.integer({ min: 0, max: 999 }) }),
  noCapacity: fc.oneof({ arbitrary: fc.constant([] as number[]), weight: 5 }, { arbitrary: fc.constantFrom([0], [1]), weight: 1 }),
  alarmWatch: fc.constantFrom(0, 0, 1),
  throttleEvery: fc.oneof({ arbitrary: fc.constant(undefined), weight: 6 }, { arbitrary: fc.integer({ min: 8, max: 20 }), weight: 1 }),
  retryAfterSideEffect: fc.oneof(
    { arbitrary: fc.constant(undefined), weight: 6 },
    { arbitrary: fc.uniqueArray(step, { minLength: 1, maxLength: 3 }), weight: 2 },
    { arbitrary: fc.constant('all' as const), weight: 1 },
  ),
  lambdaDown: fc.oneof(
    { arbitrary: fc.constant(undefined), weight: 8 },
    { arbitrary: fc.record({ fromStep: step, forSeconds: fc.integer({ min: 10, max: 900 }) }), weight: 1 },
  ),
  apiFaults: fc.oneof({ arbitrary: fc.constant([]), weight: 4 }, { arbitrary: fc.array(apiFault, { minLength: 1, maxLength: 2 }), weight: 1 }),
  secondDeploy: fc.oneof({ arbitrary: fc.constant(undefined), weight: 8 }, { arbitrary: step, weight: 1 }),
  events: fc.oneof({ arbitrary: fc.constant([] as ScenarioEvent[]), weight: 1 }, { arbitrary: fc.array(event, { minLength: 1, maxLength: 4 }), weight: 3 }),
});

export type Choices = typeof choices extends fc.Arbitrary<infer T> ? T : never;

/** The scenario a set of choices describes (its `expect` is filled once it ran: `counterexample.ts`). */
export function toScenario(c: Choices): Scenario {
  const fault = releaseFaults[c.releaseFault];
  // A restart needs a serving release (a fresh environment refuses it before any change).
  const restart = c.restart && !c.fresh;
  const events: ScenarioEvent[] = [...(restart && c.brokenSetting ? [{ atStep: 'lock.acquire', kind: 'setting' as const, key: 'BROKEN', value: '1' }] : []), ...c.events];
  const [minHealthyPercentage, maxHealthyPercentage] = c.healthy;
  const world: WorldSpec = {
    web: c.web,
    ...(c.worker > 0 ? { worker: c.worker } : {}),
    serving: c.fresh ? 'none' : 'r1',
    baked: ['r0'],
    capacity: { web: { min: Math.max(1, Math.round((c.web * c.floorShare) / 100)), max: Math.max(c.web * 2, 4) } },
    deploy: {
      strategy: c.strategy,
      // A maintenance window exists only in a full deploy (the configuration refuses it otherwise).
      migrationOrder: c.migrationOrder === 'maintenance' && c.strategy !== 'full' ? 'before' : c.migrationOrder,
      rolling: { minHealthyPercentage, maxHealthyPercentage, parallelRoles: c.parallelRoles },
      alarmWatchMinutes: c.alarmWatch,
      ...(c.database ? { backup: 'snapshot' as const } : {}),
    },
    ...(fault && !c.rollback && !restart ? { releases: { r2: fault } } : {}),
    ...(restart && c.brokenSetting ? { releases: { r1: { crashesWithSetting: 'BROKEN' } } } : {}),
    ...(c.pageBefore ? { maintenanceOn: true } : {}),
    ...(c.suspendedBefore.length > 0 ? { suspended: { web: c.suspendedBefore } } : {}),
    ...(c.database ? { database: true } : {}),
    ...(c.base === 'none' ? { base: 'none' as const } : {}),
    consistency: { maxLagSeconds: c.lag.max, minLagSeconds: Math.min(c.lag.min, c.lag.max), seed: c.lag.seed },
    ...(c.noCapacity.length > 0 ? { noCapacity: c.noCapacity } : {}),
  };
  const faults: ScenarioFaults = {
    ...(c.throttleEvery !== undefined ? { throttleEvery: c.throttleEvery } : {}),
    ...(c.retryAfterSideEffect !== undefined ? { retryAfterSideEffect: c.retryAfterSideEffect } : {}),
    ...(c.lambdaDown ? { lambdaDown: c.lambdaDown } : {}),
    ...(c.apiFaults.length > 0 ? { apiFaults: c.apiFaults } : {}),
    ...(c.secondDeploy ? { secondDeploy: { atStep: c.secondDeploy, actor: 'bob', release: 'r3' } } : {}),
    ...(events.length > 0 ? { events } : {}),
  };
  return {
    name: 'generated',
    world,
    deploy: restart ? { release: 'r1', actor: 'alice', mode: 'restart' } : { release: c.rollback ? 'r0' : 'r2', actor: 'alice' },
    ...(Object.keys(faults).length > 0 ? { faults } : {}),
    expect: { outcome: 'succeeded' },
  };
}

/** A generated scenario. */
export const scenarioArbitrary: fc.Arbitrary<Scenario> = choices.map(toScenario);
