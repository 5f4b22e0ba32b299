/**
 * A dead execution is compensated anyway (REAL-AWS 12): stopped by hand, timed out, out of
 * history, or its Lambda failing on every retry, the execution ends with no Catch run; the
 * reaper (the real `lambda/deploy/reaper.ts`, fed what EventBridge would send) resumes the
 * deploy in a new execution, which compensates. Each case asserts what an operator sees
 * before and after: page, capacity, builders and runners, lock, history.
 */
import { MAX_RESUMES } from '../../lambda/deploy/reaper';
import { TAGS } from '../../lib/names';
import { reapSimulated, runSimulatedDeploy, type SimulatedDeployOptions } from '../../lib/simulation/run';
import { createWorld, type World, type WorldSpec } from '../../lib/simulation/world';
import { checkWorldIam, type IamCheck } from '../support/iam/world-iam';

const LOCK = 'LOCK\u0000LOCK';

function imageOf(world: World, release: string): string | undefined {
  return [...world.cloud.images.values()].find((i) => i.release === release && i.state === 'available')?.id;
}

function history(world: World, deployId = 'deploy-0001') {
  return [...world.cloud.table.values()].find((i) => i.pk === 'DEPLOY' && i.deployId === deployId);
}

/** What an operator would look at: who serves, capacity, page, leftovers, lock. */
function environment(world: World) {
  const { cloud, env } = world;
  const groups = Object.fromEntries(
    Object.entries(env.fleets).filter(([, f]) => f).map(([role, f]) => {
      const g = cloud.groups.get(f!.autoScalingGroupName)!;
      const serving = g.instances.filter((i) => i.lifecycle === 'InService').map((i) => cloud.instances.get(i.id)!.imageId);
      return [role, { desired: g.desired, min: g.min, max: g.max, images: [...new Set(serving)], suspended: [...g.suspended] }];
    }),
  );
  const leftovers = [...cloud.instances.values()].filter((i) => ['builder', 'release'].includes(i.tags[TAGS.role] ?? '') && !['terminated', 'shutting-down'].includes(i.state));
  const web = cloud.groups.get(env.fleets.web.autoScalingGroupName);
  const staged = [...(cloud.targetGroups.get(env.loadBalancer.stagingTargetGroupArn ?? '')?.values() ?? [])].filter((t) => t.state !== 'draining');
  return {
    groups,
    // Where the load balancer sends requests, what the staging group holds, and the launch hooks (`lambda/deploy/switch.ts`).
    listener: cloud.listenerStates.get(env.loadBalancer.listenerArn)?.defaultTargetGroupArn === env.loadBalancer.targetGroupArn ? 'web' : 'staging',
    staged: staged.length,
    hooks: [...(web?.launchHooks?.keys() ?? [])],
    page: cloud.maintenanceRule(env.loadBalancer.listenerArn, env.loadBalancer.maintenancePriority) !== undefined,
    leftovers: leftovers.map((i) => i.tags[TAGS.role]),
    locked: cloud.table.has(LOCK),
  };
}

/** The deploy step's and the reaper's calls are evaluated against their synthesized roles after each test. */
const checks: IamCheck[] = [];
afterEach(async () => {
  for (const check of checks.splice(0)) await check.check();
});

async function dies(spec: WorldSpec, input: Record<string, unknown>, options: SimulatedDeployOptions) {
  const world = createWorld(spec);
  checks.push(checkWorldIam(world));
  const before = environment(world);
  const run = await runSimulatedDeploy(world, { release: 'r2', actor: 'alice', deployId: 'deploy-0001', ...input }, options);
  return { world, before, run };
}

describe('an execution that dies leaves the environment as the reaper finds it, and the reaper puts it back', () => {
  test('stopped by hand in the middle of a full deploy: page up and fleet doubled, then page down, capacity back, lock free', async () => {
    const { world, before, run } = await dies({ web: 2, worker: 1, serving: 'r1' }, { strategy: 'full' }, { faults: { abortAtStep: 'switch.listener' } });
    expect(run.result.status).toBe('ABORTED');
    const dead = environment(world);
    expect(dead.page).toBe(true);
    expect(dead.groups.web?.desired).toBe(4);
    // The new web fleet waits in the staging group, the old one still serves (behind the page).
    expect(dead).toMatchObject({ listener: 'web', staged: 2, hooks: ['herd-stage-deploy-0001'] });
    expect(dead.locked).toBe(true);
    expect(history(world)?.status).toBe('running');

    const reaped = await reapSimulated(world, run.result);
    expect(reaped[0]?.outcome).toEqual({ action: 'resumed', execution: 'deploy-0001-resume-1' });
    expect(reaped[0]?.resumed?.state?.outcome).toBe('failed');
    world.cloud.advance(120);
    expect(environment(world)).toEqual({ ...before, groups: { ...before.groups } });
    expect(environment(world).groups.web?.images).toEqual([imageOf(world, 'r1')]);
    expect(history(world)).toMatchObject({ status: 'failed', error: expect.stringMatching(/^execution deploy ended ABORTED: ExecutionAborted: stopped by an operator at switch\.listener/) });
    // The resumed execution's own end (RolledBack) leaves the reaper nothing to do.
    expect(reaped[1]?.outcome.action).toBe('nothing');
    expect(world.cloud.violations).toEqual([]);
  });

  test('timed out while baking: the builder is terminated and the lock freed', async () => {
    const { world, before, run } = await dies({ web: 2, worker: 1, serving: 'r1' }, {}, { limits: { timeoutSeconds: 120 } });
    expect(run.result).toMatchObject({ status: 'TIMED_OUT', error: { name: 'States.Timeout' } });
    expect(environment(world).leftovers).toEqual(['builder']);
    expect(environment(world).locked).toBe(true);
    const reaped = await reapSimulated(world, run.result);
    expect(reaped[0]?.outcome.action).toBe('resumed');
    world.cloud.advance(60);
    expect(environment(world)).toEqual(before);
    expect(history(world)).toMatchObject({ status: 'failed', error: expect.stringContaining('ended TIMED_OUT: States.Timeout') });
  });

  test('out of history events mid-refresh: no Catch runs; the reaper rolls the refresh back', async () => {
    const { world, before, run } = await dies({ web: 2, worker: 1, serving: 'r1' }, {}, {
      limits: { historyLimit: 400 },
    });
    expect(run.result).toMatchObject({ status: 'FAILED', error: { name: 'States.Runtime' } });
    expect(run.result.state?.compensation).toBeUndefined();
    expect(environment(world).locked).toBe(true);
    const reaped = await reapSimulated(world, run.result);
    expect(reaped[0]?.resumed?.state?.outcome).toBe('failed');
    world.cloud.advance(120);
    expect(environment(world)).toEqual(before);
  });

  test('its Lambda failing on every retry until the history runs out: compensated once the Lambda answers again', async () => {
    const { world, before, run } = await dies({ web: 2, worker: 1, serving: 'r1' }, {}, {
      faults: { lambdaDown: { fromStep: 'refresh.wait', forSeconds: Infinity } },
      limits: { historyLimit: 800 },
    });
    expect(run.result).toMatchObject({ status: 'FAILED', error: { name: 'States.Runtime' } });
    expect(run.result.lastAdvanced?.lambdaError?.Error).toBe('Lambda.ServiceException');
    const reaped = await reapSimulated(world, run.result);
    expect(reaped[0]?.resumed?.status).toBe('FAILED');
    expect(reaped[0]?.resumed?.state?.outcome).toBe('failed');
    world.cloud.advance(120);
    expect(environment(world)).toEqual(before);
    expect(world.cloud.violations).toEqual([]);
  });

  test('died while recording a release that serves: the reaper finishes the bookkeeping, never undoes the release', async () => {
    const { world, run } = await dies({ web: 2, worker: 1, serving: 'r1' }, {}, { faults: { abortAtStep: 'record.unlock' } });
    expect(run.result.status).toBe('ABORTED');
    expect(environment(world).groups.web?.images).toEqual([imageOf(world, 'r2')]);
    const reaped = await reapSimulated(world, run.result);
    expect(reaped[0]?.resumed?.status).toBe('SUCCEEDED');
    expect(environment(world)).toMatchObject({ locked: false, page: false, leftovers: [] });
    expect(environment(world).groups.web?.images).toEqual([imageOf(world, 'r2')]);
    expect(history(world)?.status).toBe('succeeded');
    expect(reaped).toHaveLength(1);
  });

  test.each([
    ['full', 'stage.hook', 'the launch hook', 'stage.scaleOut'],
    ['full', 'stage.scaleOut', 'the scale-out', 'stage.waitNew'],
    ['full', 'switch.listener', 'the switch to the staging target group', 'switch.startWorkers'],
    ['rolling', 'refresh.start', 'the instance refresh', 'refresh.wait'],
  ])('%s: died inside %s, after its side effect and before it returned: %s is undone all the same', async (strategy, step, _what, next) => {
    // The history's newest state is the input of the step that ran: what it did is not recorded in it.
    const { world, before, run } = await dies({ web: 2, worker: 1, serving: 'r1' }, { strategy }, { faults: { abortAtStep: next } });
    const input = run.states.find((st) => st.step === step);
    expect(input).toBeDefined();
    const reaped = await reapSimulated(world, { ...run.result, lastAdvanced: input! });
    expect(reaped[0]?.resumed?.state?.outcome).toBe('failed');
    world.cloud.advance(300);
    expect(environment(world)).toEqual(before);
    expect(world.cloud.violations).toEqual([]);
  });

  test('a normal failure and a refusal leave the reaper nothing to do', async () => {
    const failed = await dies({ web: 2, worker: 1, serving: 'r1', releases: { r2: { migrationExitCode: 1 } } }, {}, {});
    expect(failed.run.result).toMatchObject({ status: 'FAILED', error: { name: 'DeployFailed' } });
    expect((await reapSimulated(failed.world, failed.run.result))[0]?.outcome).toEqual({ action: 'nothing', why: 'the deploy ended DeployFailed' });

    const world = createWorld({ web: 2, worker: 1, serving: 'r1' });
    world.cloud.table.set(LOCK, { pk: 'LOCK', sk: 'LOCK', deployId: 'deploy-0000', actor: 'bob', release: 'r9', since: '2026-11-05T09:00:00.000Z' });
    const refused = await runSimulatedDeploy(world, { release: 'r2', actor: 'alice', deployId: 'deploy-0001' });
    expect(refused.result).toMatchObject({ status: 'FAILED', error: { name: 'DeployLockedError' } });
    expect((await reapSimulated(world, refused.result))[0]?.outcome.action).toBe('nothing');
    expect(world.cloud.table.get(LOCK)?.deployId).toBe('deploy-0000');
  });

  test(`gives up after ${MAX_RESUMES} resumed executions: needs attention, the lock kept with the reason and how to repair`, async () => {
    const { world, run } = await dies({ web: 2, worker: 1, serving: 'r1' }, {}, { faults: { abortAtStep: 'refresh.wait' } });
    const dead = run.result.lastAdvanced!;
    const reaped = await reapSimulated(world, { ...run.result, lastAdvanced: { ...dead, resumes: MAX_RESUMES } });
    expect(reaped).toEqual([{ outcome: { action: 'gave-up', why: `resumed ${MAX_RESUMES} times already` } }]);
    expect(history(world)).toMatchObject({ status: 'needs-attention', error: expect.stringContaining('the reaper resumed deploy deploy-0001 3 times and gives up') });
    expect(world.cloud.table.get(LOCK)).toMatchObject({ deployId: 'deploy-0001', needsAttention: expect.stringContaining('run `herd repair staging` to compensate again') });
  });
});
