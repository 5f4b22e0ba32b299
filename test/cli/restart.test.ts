/**
 * `herd restart <env> [--role]` and `herd config set --restart` against the simulated
 * environment: the real deploy step runs the restart (mode `restart`), every call is
 * evaluated against the operator's (and the deploy step's) IAM policy after each test.
 */
import { lockedMessage } from '../../lambda/deploy/lock';
import { TAGS, parameterNames } from '../../lib/names';
import type { WorldSpec } from '../../lib/simulation/world';
import { runHerd, testDeps } from './support/harness';
import { SIMULATED_ACTOR, SimulatedEnvironment } from './support/simulated';

function setup(spec: Partial<WorldSpec> = {}) {
  const sim = new SimulatedEnvironment({ web: 2, worker: 1, serving: 'r1', ...spec });
  const deps = () => testDeps({ clients: () => sim.clients(), now: () => sim.world.clock.now(), sleep: () => sim.sleep() });
  return { sim, deps };
}

/** Instance ids of a group's members (not those terminating), and the images they run. */
function members(sim: SimulatedEnvironment, group: string) {
  const g = sim.world.cloud.groups.get(group);
  const ids = (g?.instances ?? []).filter((i) => i.lifecycle === 'Pending' || i.lifecycle === 'InService').map((i) => i.id).sort();
  return { ids, images: new Set(ids.map((id) => sim.world.cloud.instances.get(id)?.imageId)) };
}

/** Healthy web targets now. */
const healthyWeb = (sim: SimulatedEnvironment) => [...(sim.world.cloud.targetGroups.get(sim.world.env.loadBalancer.targetGroupArn)?.values() ?? [])].filter((t) => t.state === 'healthy').length;

const launchedBy = (sim: SimulatedEnvironment, role: string) => [...sim.world.cloud.instances.values()].filter((i) => i.tags[TAGS.role] === role);

interface Entry { kind: string; verb?: string; actor?: string; detail?: string; mode?: string; status?: string; release?: string; roles?: string[]; warnings?: string[] }
const history = async (deps: ReturnType<ReturnType<typeof setup>['deps']>) => JSON.parse((await runHerd(['history', 'staging', '--json'], deps)).out) as Entry[];

describe('herd restart', () => {
  test('replaces every instance of both roles with the same image, never below the web capacity, with no builder or runner; history says restart, by whom', async () => {
    const { sim, deps } = setup();
    const image = sim.world.images.r1;
    const webBefore = members(sim, 'herd-staging-web');
    const workerBefore = members(sim, 'herd-staging-worker');
    const versionBefore = sim.world.cloud.groups.get('herd-staging-web')?.ltVersion;
    const parametersBefore = JSON.stringify([...sim.world.cloud.parameters].sort());
    let lowest = Infinity;
    sim.onPoll = () => void (lowest = Math.min(lowest, healthyWeb(sim)));

    const run = await runHerd(['restart', 'staging'], deps());
    expect(run.err).toBe('');
    expect(run.code).toBe(0);
    expect(run.out.split('\n')[0]).toMatch(/^deploy \S+ started on staging: restart of web and worker on release r1 \(fresh instances, same image, no migration\), by alice/);

    const webAfter = members(sim, 'herd-staging-web');
    const workerAfter = members(sim, 'herd-staging-worker');
    expect(webAfter.ids).toHaveLength(2);
    expect(workerAfter.ids).toHaveLength(1);
    expect(webAfter.ids.filter((id) => webBefore.ids.includes(id))).toEqual([]);
    expect(workerAfter.ids.filter((id) => workerBefore.ids.includes(id))).toEqual([]);
    expect([...webAfter.images, ...workerAfter.images]).toEqual([image, image]);
    // Same launch-template version, no parameter written (the serving release and image stay).
    expect(sim.world.cloud.groups.get('herd-staging-web')?.ltVersion).toBe(versionBefore);
    expect(JSON.stringify([...sim.world.cloud.parameters].sort())).toBe(parametersBefore);
    expect(sim.polls).toBeGreaterThan(3);
    expect(lowest).toBeGreaterThanOrEqual(2);
    expect(launchedBy(sim, 'builder')).toEqual([]);
    expect(launchedBy(sim, 'release')).toEqual([]);
    // The refresh replaced all, launching before terminating.
    const refresh = sim.world.cloud.groups.get('herd-staging-web')?.refreshes.at(-1);
    expect(refresh?.preferences).toMatchObject({ SkipMatching: false, MinHealthyPercentage: 100 });

    const entries = await history(deps());
    expect(entries).toEqual(expect.arrayContaining([
      expect.objectContaining({ kind: 'deploy', mode: 'restart', release: 'r1', status: 'succeeded', actor: SIMULATED_ACTOR }),
      expect.objectContaining({ kind: 'action', verb: 'restart', actor: SIMULATED_ACTOR, detail: expect.stringMatching(/^restart of web and worker on release r1 \(configuration change: fresh instances load the settings\), deploy \S+$/) }),
    ]));
    expect(sim.world.cloud.table.has('LOCK\u0000LOCK')).toBe(false);
  });

  test('--role worker replaces the worker only', async () => {
    const { sim, deps } = setup();
    const webBefore = members(sim, 'herd-staging-web');
    const workerBefore = members(sim, 'herd-staging-worker');
    const run = await runHerd(['restart', 'staging', '--role', 'worker'], deps());
    expect(run).toMatchObject({ code: 0, err: '' });
    // The same display as a deploy: the refresh's progress (not a count of instances on the version, which a restart keeps).
    expect(run.out).toMatch(/^rollout: replacing the worker instances with fresh ones · refresh worker \d+% · elapsed /m);
    // Its phases: no bake, no migration.
    expect(run.out).not.toMatch(/^ {2}(bake|migrate) /m);
    expect(run.out).not.toContain('instances replaced');
    expect(run.out).toMatch(/\nrelease r1 serves on staging \(deploy \S+ in \S+\)\n$/);
    expect(members(sim, 'herd-staging-web').ids).toEqual(webBefore.ids);
    const after = members(sim, 'herd-staging-worker').ids;
    expect(after).toHaveLength(1);
    expect(after).not.toEqual(workerBefore.ids);
    expect((await history(deps())).find((e) => e.kind === 'deploy')).toMatchObject({ mode: 'restart', roles: ['worker'], status: 'succeeded' });
  });

  test('herd config set --restart writes the setting, then restarts onto it', async () => {
    const { sim, deps } = setup();
    const before = members(sim, 'herd-staging-web').ids;
    const run = await runHerd(['config', 'staging', 'set', 'FEATURE_CHECKOUT=on', '--restart'], deps());
    expect(run.err).toBe('');
    expect(run.code).toBe(0);
    expect(run.out.split('\n')[0]).toBe('set FEATURE_CHECKOUT on staging; instances load settings when they boot: restarting now');
    expect(sim.world.cloud.parameters.get(`${parameterNames('shop', 'staging').envPrefix}FEATURE_CHECKOUT`)).toBe('on');
    expect(members(sim, 'herd-staging-web').ids.filter((id) => before.includes(id))).toEqual([]);
    expect((await history(deps())).map((e) => e.verb ?? e.mode)).toEqual(expect.arrayContaining(['config set', 'restart']));
  });

  test('fails when a setting keeps the new instances from serving: the restart stops, the lock is freed, the instances from before serve; history says failed', async () => {
    // The app cannot start with BROKEN set: instances launched once it is set crash at boot.
    const { sim, deps } = setup({ releases: { r1: { crashesWithSetting: 'BROKEN' } }, deploy: { timeouts: { rolloutMinutes: 15 } } });
    const before = members(sim, 'herd-staging-web').ids;
    const workers = members(sim, 'herd-staging-worker').ids;
    let lowest = Infinity;
    sim.onPoll = () => void (lowest = Math.min(lowest, healthyWeb(sim)));
    const run = await runHerd(['config', 'staging', 'set', 'BROKEN=1', '--restart', '--role', 'web'], deps());
    expect(run.code).toBe(1);
    expect(run.err).toMatch(/^herd: deploy \S+ failed in rollout: release r1 is unhealthy: [0-9] new web instance\(s\) failed their health check[\s\S]*; stopped; the instances from before keep serving release r1\n$/);
    expect(members(sim, 'herd-staging-web').ids).toEqual(before);
    expect(members(sim, 'herd-staging-worker').ids).toEqual(workers);
    expect(lowest).toBeGreaterThanOrEqual(2);
    expect(healthyWeb(sim)).toBe(2);
    expect(sim.world.cloud.table.has('LOCK\u0000LOCK')).toBe(false);
    expect((await history(deps())).find((e) => e.kind === 'deploy')).toMatchObject({ mode: 'restart', status: 'failed' });
  });
});

describe('herd restart refusals: the exact message, nothing started', () => {
  test('fails when nothing serves yet', async () => {
    const { sim, deps } = setup({ serving: 'none', web: 0, worker: 0 });
    expect(await runHerd(['restart', 'staging'], deps())).toEqual({
      code: 2, out: '', err: 'herd: nothing serves on staging yet: there is nothing to restart (deploy a release first: herd deploy staging <app directory>); nothing was changed\n',
    });
    expect(sim.executions.size).toBe(0);
  });

  test('fails while a deploy holds the lock', async () => {
    const { sim, deps } = setup();
    const lock = { deployId: '20261105T090000Z-abcdef', actor: 'bob', release: 'r0', since: '2026-11-05T09:00:00.000Z' };
    sim.world.cloud.table.set('LOCK\u0000LOCK', { pk: 'LOCK', sk: 'LOCK', ...lock });
    expect(await runHerd(['restart', 'staging'], deps())).toEqual({ code: 2, out: '', err: `herd: ${lockedMessage('staging', lock)}\n` });
    expect(sim.executions.size).toBe(0);
  });

  test('config set --restart fails before writing while a rollback alarm fires; --ignore-alarms writes the fix and restarts, the history records it', async () => {
    const { sim, deps } = setup({ alarms: { firing: ['Target5xx'] } });
    const before = JSON.stringify([...sim.world.cloud.parameters].sort());
    const refused = await runHerd(['config', 'staging', 'set', 'FIX=1', '--restart'], deps());
    expect(refused.code).toBe(2);
    expect(refused.out).toBe('');
    expect(refused.err).toMatch(/^herd: deploy refused on staging before any change: \(1\) alarm herd-staging-target5xx, which rolls deploys back, is in ALARM \([^\n]*\): a deploy would be rolled back at once; find out why it fires, or start anyway with --ignore-alarms \(the history records it\)\n$/);
    expect(JSON.stringify([...sim.world.cloud.parameters].sort())).toBe(before);
    expect(sim.executions.size).toBe(0);

    const run = await runHerd(['config', 'staging', 'set', 'FIX=1', '--restart', '--ignore-alarms'], deps());
    expect(run).toMatchObject({ code: 0, err: '' });
    expect(sim.world.cloud.parameters.get(`${parameterNames('shop', 'staging').envPrefix}FIX`)).toBe('1');
    expect((await history(deps())).find((e) => e.kind === 'deploy')).toMatchObject({ mode: 'restart', status: 'succeeded', warnings: [expect.stringContaining('started with alarm(s) in ALARM, as asked (ignoreAlarms): herd-staging-target5xx')] });
  });

  test('config set --restart fails before writing when nothing serves yet', async () => {
    const { sim, deps } = setup({ serving: 'none', web: 0, worker: 0 });
    const before = JSON.stringify([...sim.world.cloud.parameters].sort());
    expect(await runHerd(['config', 'staging', 'set', 'FIX=1', '--restart'], deps())).toEqual({
      code: 2, out: '', err: 'herd: nothing serves on staging yet: there is nothing to restart (deploy a release first: herd deploy staging <app directory>); nothing was changed\n',
    });
    expect(JSON.stringify([...sim.world.cloud.parameters].sort())).toBe(before);
  });

  test('fails on an unknown role', async () => {
    const { sim, deps } = setup();
    expect(await runHerd(['restart', 'staging', '--role', 'db'], deps())).toEqual({ code: 2, out: '', err: 'herd: unknown role "db" for --role; use one of web, worker (or leave it out to restart both)\n' });
    expect(sim.executions.size).toBe(0);
  });
});
