/**
 * The deploy step's role-keeper step (`lambda/deploy/role-keeper.ts`, `migrate.keepRoles`) on
 * the fake cloud: where it runs for each migration order, when it is skipped, and how a slow,
 * throttled or retried keeper ends. Scenarios 71 and 72 cover the rolling order `before` and a
 * failing keeper in a maintenance window.
 */
import { InvokeCommand } from '@aws-sdk/client-lambda';
import { KEEPER_WAIT_SECONDS, keepRoles } from '../../lambda/deploy/role-keeper';
import type { DeployState } from '../../lambda/deploy/state';
import { isTransient } from '../../lambda/deploy/errors';
import { runSimulatedDeploy } from '../../lib/simulation/run';
import { createWorld, type WorldSpec } from '../../lib/simulation/world';

async function deploy(spec: Partial<WorldSpec>, input: Record<string, unknown> = {}, faults: { retryAfterSideEffect?: string[] } = {}) {
  const world = createWorld({ web: 2, worker: 1, serving: 'r1', database: true, ...spec });
  const run = await runSimulatedDeploy(world, { release: 'r2', actor: 'alice', deployId: 'deploy-keeper', ...input }, { faults });
  const steps = run.states.map((s) => s.step);
  return { world, run, steps, state: run.result.state };
}

describe('migrate.keepRoles', () => {
  test('migrationOrder "after": the keeper runs after the migration, which follows the rollout: the new release serves already', async () => {
    const { world, state, steps } = await deploy({}, { migrationOrder: 'after' });
    expect(state?.outcome).toBe('succeeded');
    expect(world.keeperRuns).toHaveLength(1);
    expect(world.keeperRuns[0]).toMatchObject({ serving: ['r2'], runnersLeft: 0 });
    expect(world.keeperRuns[0]!.migrationsReported).toBeGreaterThanOrEqual(1);
    expect(steps.lastIndexOf('refresh.start')).toBeLessThan(steps.indexOf('migrate.keepRoles'));
    expect(state?.migration).toMatchObject({ done: true, rolesKept: true });
  });

  test('full deploy, migrationOrder "before": the keeper runs before the page goes up and anything is replaced', async () => {
    const { world, state, steps } = await deploy({}, { strategy: 'full', migrationOrder: 'before' });
    expect(state?.outcome).toBe('succeeded');
    expect(world.keeperRuns.map((r) => r.serving)).toEqual([['r1']]);
    expect(steps.indexOf('migrate.keepRoles')).toBeLessThan(steps.indexOf('maintenance.on'));
  });

  test('skipped without a database, without a keeper, without a release: process, or without a migration', async () => {
    for (const [spec, input] of [
      [{ database: false }, {}],
      [{ roleKeeper: 'absent' }, {}],
      [{ releases: { r2: { processes: ['web', 'worker'] } } }, {}],
      [{}, { migrationOrder: 'none' }],
    ] as [Partial<WorldSpec>, Record<string, unknown>][]) {
      const { world, state, steps } = await deploy(spec, input);
      expect([JSON.stringify([spec, input]), state?.outcome, steps.includes('migrate.keepRoles')]).toEqual([JSON.stringify([spec, input]), 'succeeded', false]);
      expect(world.cloud.calls.filter((c) => c.api === 'lambda:Invoke')).toEqual([]);
    }
  });

  test('a keeper out of concurrency past the SDK\'s retries: the step backs off, tries again, and the deploy succeeds', async () => {
    const world = createWorld({ web: 2, worker: 1, serving: 'r1', database: true });
    world.cloud.functions.get('herd-staging-role-keeper')!.throttleNext = 8;
    const run = await runSimulatedDeploy(world, { release: 'r2', actor: 'alice', deployId: 'deploy-throttled' });
    expect(run.result.state?.outcome).toBe('succeeded');
    expect(run.states.some((s) => s.step === 'migrate.keepRoles' && s.transientErrors > 0)).toBe(true);
    expect(world.keeperRuns).toHaveLength(1);
  });

  test('an advance retried after the keeper ran (its answer lost): the keeper runs again, harmlessly, and the deploy succeeds', async () => {
    const { world, state } = await deploy({}, {}, { retryAfterSideEffect: ['migrate.keepRoles'] });
    expect(state?.outcome).toBe('succeeded');
    expect(world.keeperRuns.length).toBeGreaterThanOrEqual(2);
  });

  test(`a keeper that does not answer within ${KEEPER_WAIT_SECONDS} s: the call is cut, with a transient error (the step runs again later)`, async () => {
    jest.useFakeTimers();
    try {
      const world = createWorld({ web: 1, serving: 'r1', database: true });
      let seen: InvokeCommand | undefined;
      const send = (command: InvokeCommand, options: { abortSignal: AbortSignal }) =>
        new Promise((_resolve, reject) => {
          seen = command;
          options.abortSignal.addEventListener('abort', () => reject(Object.assign(new Error('Request aborted'), { name: 'AbortError' })));
        });
      const ctx = { clients: { ...world.cloud.clients(), lambda: { send } } as never, env: world.env, clock: world.clock };
      const state = { deployId: 'deploy-slow', release: 'r2', migration: { done: true } } as DeployState;
      const pending = keepRoles(state, ctx).catch((err: unknown) => err);
      await jest.advanceTimersByTimeAsync(KEEPER_WAIT_SECONDS * 1000);
      const err = await pending;
      expect(err).toMatchObject({ name: 'TimeoutError', message: `the role keeper herd-staging-role-keeper did not answer within ${KEEPER_WAIT_SECONDS} s` });
      expect(isTransient(err)).toBe(true);
      expect(seen?.input).toMatchObject({ FunctionName: world.env.database?.roleKeeperFunctionArn, InvocationType: 'RequestResponse' });
      expect(JSON.parse(Buffer.from(seen!.input.Payload as Uint8Array).toString('utf8'))).toEqual({ source: 'herd-deploy', deployId: 'deploy-slow', release: 'r2' });
      expect(state.migration?.rolesKept).toBeUndefined();
    } finally {
      jest.useRealTimers();
    }
  });
});
