/**
 * The operator's verbs when a deploy goes wrong, against the simulated environment (the real
 * deploy step on the fake cloud, Step Functions and its reaper simulated):
 * `herd abort`, `herd status` of a deploy that needs attention, `herd repair`, and a `full`
 * deploy stopped by hand, cleaned up by the reaper, then followed by a new deploy.
 */
import { TAGS, parameterNames } from '../../lib/names';
import type { DeployState } from '../../lambda/deploy/state';
import { appDirectory } from './support/app';
import { runHerd, testDeps } from './support/harness';
import { SimulatedEnvironment } from './support/simulated';

const LOCK = 'LOCK\u0000LOCK';

function setup(spec: ConstructorParameters<typeof SimulatedEnvironment>[0] = { web: 2, worker: 1, serving: 'r1' }) {
  const sim = new SimulatedEnvironment(spec);
  return { sim, deps: () => testDeps({ clients: () => sim.clients(), now: () => sim.world.clock.now(), sleep: () => sim.sleep() }) };
}

const currentRelease = (sim: SimulatedEnvironment) => sim.world.cloud.parameters.get(parameterNames('shop', 'staging').currentRelease);
const lastState = (sim: SimulatedEnvironment): DeployState | undefined => [...sim.executions.values()].at(-1)?.states.at(-1);
const historyItems = (sim: SimulatedEnvironment) => [...sim.world.cloud.table.values()].filter((i) => i.pk === 'DEPLOY');

/** Lets the running deploy go on until `until` holds (bounded). */
async function runUntil(sim: SimulatedEnvironment, until: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !until(); i++) await sim.run(10);
  if (!until()) throw new Error('the deploy never got there');
}

/** What an operator sees of the groups and the page: enough to tell two environments apart. */
function environmentShape(sim: SimulatedEnvironment) {
  const { cloud, env } = sim.world;
  const groups = [env.fleets.web, env.fleets.worker!].map((f) => {
    const g = cloud.groups.get(f.autoScalingGroupName)!;
    const inService = g.instances.filter((i) => i.lifecycle === 'InService').map((i) => cloud.instances.get(i.id)!);
    return {
      group: g.name,
      desired: g.desired,
      min: g.min,
      max: g.max,
      suspended: [...g.suspended].sort(),
      releases: [...new Set(inService.map((i) => cloud.images.get(i.imageId)?.release))],
      inService: inService.length,
    };
  });
  const helpers = [...cloud.instances.values()].filter((i) => (i.tags[TAGS.role] === 'builder' || i.tags[TAGS.role] === 'release') && i.state !== 'terminated' && i.state !== 'shutting-down');
  return {
    groups,
    page: cloud.maintenanceRule(env.loadBalancer.listenerArn, env.loadBalancer.maintenancePriority) !== undefined,
    lock: cloud.table.has(LOCK),
    helpers: helpers.length,
    release: currentRelease(sim),
  };
}

describe('herd abort', () => {
  test('stops a rolling deploy mid-refresh and compensates it with progress: exit 0, the previous release back, history aborted', async () => {
    const { sim, deps } = setup();
    await runHerd(['deploy', 'staging', appDirectory(), '--detach'], deps());
    await runUntil(sim, () => sim.world.cloud.groups.get('herd-staging-web')!.refreshes.some((r) => r.status === 'InProgress' && r.percentage > 0));
    const deployId = [...sim.executions.values()][0]!.name;

    const run = await runHerd(['abort', 'staging'], deps());
    expect(run.err).toBe('');
    expect(run.code).toBe(0);
    expect(run.out).toMatch(new RegExp(`^deploy ${deployId} stopped by \\S+.*; it is being compensated \\(the previous release comes back\\)$`, 'm'));
    expect(run.out).toMatch(new RegExp(`^▲ execution ${deployId} ended ABORTED.*; resumed by the reaper$`, 'm'));
    // The phase it stopped in is marked, the rollback is followed, and what it put back is said.
    expect(run.out).toMatch(/^✖ rollout {9}\d+m\d+s \(estimate ~\S+\) — aborted$/m);
    expect(run.out).toMatch(/^✔ roll back {7}\d+/m);
    expect(run.out).toMatch(/^ {2}rolled back: release r1 keeps serving$/m);
    expect(run.out).toMatch(new RegExp(`^deploy ${deployId} aborted \\(aborted by .*\\); compensated: release r1 keeps serving`, 'm'));

    expect(currentRelease(sim)).toBe('r1');
    expect(environmentShape(sim)).toMatchObject({ lock: false, page: false, helpers: 0 });
    for (const g of environmentShape(sim).groups) expect(g.releases).toEqual(['r1']);
    expect(historyItems(sim)).toEqual([expect.objectContaining({ deployId, status: 'aborted', abortedBy: expect.any(String) })]);
    // herd history lists the abort beside the deploy.
    const history = JSON.parse((await runHerd(['history', 'staging', '--json'], deps())).out) as { kind: string; verb?: string; status?: string; detail?: string }[];
    expect(history).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ kind: 'deploy', status: 'aborted' }),
        expect.objectContaining({ kind: 'action', verb: 'abort', detail: expect.stringMatching(new RegExp(`^stopped deploy ${deployId} \\(release \\S+\\) at refresh\\.`)) }),
      ]),
    );
  });

  test('refuses when nothing runs, changing nothing', async () => {
    const { sim, deps } = setup();
    const run = await runHerd(['abort', 'staging'], deps());
    expect(run).toEqual({ code: 2, out: '', err: 'herd: no deploy is running on staging; nothing to abort\n' });
    expect(sim.executions.size).toBe(0);
  });
});

describe('the maintenance page during a deploy', () => {
  test('herd maintenance on while a full deploy\'s page is up makes it the operator\'s: the deploy succeeds and leaves it up', async () => {
    // The page held up for 2 minutes after the switch: a full deploy's new fleet boots before the page goes up, so
    // without a hold the page is up for seconds only.
    const { sim, deps } = setup({ web: 2, worker: 1, serving: 'r1', deploy: { holdMaintenanceMinutes: 2 } });
    await runHerd(['deploy', 'staging', appDirectory(), '--strategy', 'full', '--detach'], deps());
    await runUntil(sim, () => lastState(sim)?.step === 'hold.wait');
    const deployId = [...sim.executions.values()][0]!.name;
    const on = await runHerd(['maintenance', 'on', 'staging'], deps());
    expect(on.code).toBe(0);
    expect(on.out).toMatch(new RegExp(`^maintenance page of staging was put up by deploy ${deployId}; it is yours now: it stays up when that deploy ends, until \`herd maintenance off staging\`$`, 'm'));
    await sim.finish();
    const { cloud, env } = sim.world;
    expect(lastState(sim)?.outcome).toBe('succeeded');
    expect(cloud.maintenanceRule(env.loadBalancer.listenerArn, env.loadBalancer.maintenancePriority)?.tags[TAGS.deploy]).toBe('manual');
    expect(historyItems(sim)[0]?.warnings).toContain('the maintenance page stays up: an operator took it over during the deploy');
    const off = await runHerd(['maintenance', 'off', 'staging'], deps());
    expect(off.code).toBe(0);
    expect(cloud.maintenanceRule(env.loadBalancer.listenerArn, env.loadBalancer.maintenancePriority)).toBeUndefined();
  });
});

describe('a deploy that needs attention', () => {
  test('status says what is half done; a new deploy is refused; herd repair, once the cause is fixed, finishes the compensation', async () => {
    const { sim, deps } = setup({ web: 2, worker: 1, serving: 'r1', releases: {} });
    const dir = appDirectory('broken');
    await runHerd(['deploy', 'staging', dir, '--detach'], deps());
    const [execution] = [...sim.executions.values()];
    const release = execution!.input.release as string;
    sim.world.cloud.releases[release] = { migrationExitCode: 1 };
    // The permission to restore the release parameters goes away once the migration runs.
    await runUntil(sim, () => lastState(sim)?.step === 'migrate.waitRunner');
    sim.world.cloud.faults.push({ api: 'ssm:PutParameter', code: 'AccessDeniedException', message: 'not authorized to perform: ssm:PutParameter' });
    await sim.finish();
    expect(execution).toMatchObject({ status: 'FAILED', error: 'DeployNeedsAttention' });

    const status = await runHerd(['status', 'staging'], deps());
    expect(status.code).toBe(0);
    expect(status.out).toMatch(/^!! NEEDS ATTENTION: deploy \S+ failed \(migrate\.waitRunner: migration failed .*\) and its compensation did not finish: compensate\.parameters: AccessDeniedException: not authorized to perform: ssm:PutParameter.*\. Now: web launches release r1 \(previous\), launch-template version 1, .*; no maintenance page\. Fix the cause, then run `herd repair staging` to compensate again\.$/m);
    expect(status.out).toMatch(/^deploy {6}\S+ ended and needs attention \(its compensation did not finish\)/m);
    expect(status.out).toMatch(/^groups {6}web 2 \(min \d+, max \d+, launch-template version 1\)/m);

    const refused = await runHerd(['deploy', 'staging', 'r1-000000000000', '--detach'], deps());
    expect(refused.code).toBe(2);
    expect(refused.err).toMatch(/is locked by deploy/);

    // Repair while the cause is still there: compensation fails again, still needs attention.
    const again = await runHerd(['repair', 'staging'], deps());
    expect(again.code).toBe(1);
    expect(again.err).toMatch(/compensation did not finish: compensate\.parameters: AccessDeniedException/);
    expect(sim.world.cloud.table.get(LOCK)).toMatchObject({ needsAttention: expect.stringContaining('herd repair staging') });

    sim.world.cloud.faults.splice(0);
    const repaired = await runHerd(['repair', 'staging'], deps());
    expect(repaired.err).toBe('');
    expect(repaired.code).toBe(0);
    expect(repaired.out).toMatch(/^repair of deploy \S+ started on staging by \S+.* \(execution \S+-repair-2\): compensation runs again$/m);
    expect(repaired.out).toMatch(/^deploy \S+ repaired: compensation finished; release r1 serves; the lock is free/m);
    expect(currentRelease(sim)).toBe('r1');
    expect(sim.world.cloud.table.has(LOCK)).toBe(false);
    expect(historyItems(sim)).toEqual([expect.objectContaining({ status: 'failed', warnings: expect.arrayContaining([expect.stringMatching(/^repair 2 by .*; compensation failed before: compensate\.parameters/)]) })]);
  });

  test('herd repair refuses when nothing needs it', async () => {
    const { deps } = setup();
    const run = await runHerd(['repair', 'staging'], deps());
    expect(run).toEqual({ code: 2, out: '', err: 'herd: no deploy holds the lock of staging; nothing to repair\n' });
  });
});

describe('a full deploy stopped by hand (the console\'s Stop execution)', () => {
  test('status shows the reaper compensating, unlock refuses meanwhile, and a new deploy leaves the environment exactly as a clean one', async () => {
    const { sim, deps } = setup({ web: 2, worker: 1, serving: 'r1', deploy: { holdMaintenanceMinutes: 2 } });
    await runHerd(['deploy', 'staging', appDirectory(), '--strategy', 'full', '--detach'], deps());
    const [first] = [...sim.executions.values()];
    // Switched, the page still up (held), the old fleet still there next to the new one.
    await runUntil(sim, () => lastState(sim)?.step === 'hold.wait' && sim.world.cloud.groups.get('herd-staging-web')!.instances.length > 2);
    expect(environmentShape(sim)).toMatchObject({ page: true, lock: true });
    await sim.kill(first!.name, 'ABORTED');
    await sim.run(2);

    const status = await runHerd(['status', 'staging', '--json'], deps());
    expect(JSON.parse(status.out).lock).toMatchObject({ deployId: first!.name, status: 'RUNNING (resumed by the reaper after its execution ended ABORTED)', phase: 'compensate' });
    const unlock = await runHerd(['unlock', 'staging', '--deploy', first!.name], deps());
    expect(unlock.code).toBe(2);
    expect(unlock.err).toMatch(/is still running on staging; its lock ends with it/);

    // The automatic clean-up: the reaper's execution compensates to the end.
    await sim.finish();
    const afterCleanUp = environmentShape(sim);
    expect(afterCleanUp).toMatchObject({ page: false, lock: false, helpers: 0, release: 'r1' });
    expect(historyItems(sim)).toEqual([expect.objectContaining({ deployId: first!.name, status: 'failed', error: expect.stringMatching(/ended ABORTED/) })]);
    const nothingToUnlock = await runHerd(['unlock', 'staging', '--deploy', first!.name], deps());
    expect(nothingToUnlock.code).toBe(2);
    expect(nothingToUnlock.err).toBe('herd: environment staging is not locked\n');

    // A new deploy of another release, full again; and the same on an environment that never saw the dead one.
    const dir = appDirectory('second');
    const next = await runHerd(['deploy', 'staging', dir, '--strategy', 'full'], deps());
    expect(next.code).toBe(0);
    const clean = setup();
    expect((await runHerd(['deploy', 'staging', dir, '--strategy', 'full'], clean.deps())).code).toBe(0);
    expect(environmentShape(sim)).toEqual(environmentShape(clean.sim));
  });
});
