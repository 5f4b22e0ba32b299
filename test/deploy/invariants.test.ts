/**
 * The invariant checker catches a broken end state: a clean deploy passes, and each
 * hand-broken world fails with the invariant it breaks, naming the evidence.
 */
import { TAGS, parameterNames } from '../../lib/names';
import { checkInvariants, type Breach } from './invariants';
import { runScenario, type Scenario, type ScenarioRun } from './scenario';

const CLEAN: Scenario = {
  name: 'a clean rolling deploy',
  world: { web: 3, worker: 1, serving: 'r1', suspended: { web: ['AZRebalance'] } },
  deploy: { release: 'r2', actor: 'alice' },
  expect: { outcome: 'succeeded' },
};

function invariants(breaches: readonly Breach[]): string[] {
  return [...new Set(breaches.map((b) => b.invariant))];
}

describe('the invariant checker', () => {
  let run: ScenarioRun;

  beforeEach(async () => {
    run = await runScenario(CLEAN);
  });

  test('a clean deploy keeps every invariant', () => {
    expect(checkInvariants(run)).toEqual([]);
  });

  test('fails when a builder survives', () => {
    const { cloud } = run.world;
    cloud.newInstance({ imageId: 'ami-1', instanceType: 't3.small', tags: { [TAGS.role]: 'builder', [TAGS.deploy]: 'deploy-0001' }, userData: '', shutdownBehavior: 'stop', state: 'stopped' });
    expect(checkInvariants(run)).toEqual([{ invariant: 'no builder or runner survives', evidence: expect.stringMatching(/^i-\w+ \(builder, stopped, deploy deploy-0001\)$/) }]);
  });

  test('fails when the lock is held without a reason', () => {
    run.world.cloud.table.set('LOCK\u0000LOCK', { pk: 'LOCK', sk: 'LOCK', deployId: 'deploy-0001', actor: 'alice', release: 'r2', since: 'x' });
    expect(invariants(checkInvariants(run))).toEqual(['the lock is free, or held with the reason of a deploy that needs attention']);
  });

  test('fails when the deploy left its page up', () => {
    const { cloud, env } = run.world;
    cloud.listeners.get(env.loadBalancer.listenerArn)?.push({
      arn: 'arn:rule/left',
      priority: env.loadBalancer.maintenancePriority,
      conditions: [],
      actions: [{ Type: 'fixed-response' }],
      tags: { [TAGS.deploy]: 'deploy-0001' },
    });
    expect(checkInvariants(run)).toContainEqual({ invariant: 'the page is up only if it was up before or an operator owns it', evidence: 'page up, owned by deploy-0001 (before: down)' });
  });

  test('fails when an operator\'s page came down', () => {
    run.observation.operatorOwnsPage = true;
    expect(checkInvariants(run)).toContainEqual({ invariant: 'a page an operator owns stays up', evidence: 'page down (before: down)' });
  });

  test('fails when an operator\'s suspended process was resumed, or herd left one suspended', () => {
    const web = run.world.cloud.groups.get(run.world.env.fleets.web.autoScalingGroupName)!;
    web.suspended.delete('AZRebalance');
    web.suspended.add('Launch');
    expect(checkInvariants(run)).toEqual([
      { invariant: 'operator-suspended processes stay suspended', evidence: 'web: AZRebalance resumed (suspended now: Launch)' },
      { invariant: 'herd leaves suspended only what operators suspended', evidence: 'web: Launch suspended, operators suspended AZRebalance' },
    ]);
  });

  test('fails when a web instance runs another release, or the parameters name another', () => {
    const { cloud, env } = run.world;
    // One in service: with web and worker rolled at once, the deploy may end while a replaced instance still drains.
    const serving = cloud.groups.get(env.fleets.web.autoScalingGroupName)!.instances.find((i) => i.lifecycle === 'InService')!;
    cloud.instances.get(serving.id)!.imageId = run.world.images.r1!;
    cloud.parameters.set(parameterNames(env.app, env.env).currentRelease, 'r1');
    const breaches = checkInvariants(run);
    expect(invariants(breaches)).toEqual(['exactly one release serves every role']);
    expect(breaches.map((b) => b.evidence)).toEqual([
      'current-release is r1, expected r2 (outcome succeeded)',
      expect.stringMatching(new RegExp(`^web: ${serving.id} runs ${run.world.images.r1}; current-image ami-\\w+$`)),
    ]);
  });

  test('a needs-attention lock with its reason excuses a half-done release, not a builder left behind', () => {
    const { cloud, env } = run.world;
    cloud.parameters.set(parameterNames(env.app, env.env).currentRelease, 'r1');
    cloud.table.set('LOCK\u0000LOCK', { pk: 'LOCK', sk: 'LOCK', deployId: 'deploy-0001', needsAttention: 'compensate.parameters: AccessDenied' });
    const item = [...cloud.table.values()].find((i) => i.pk === 'DEPLOY')!;
    item.status = 'needs-attention';
    item.error = 'compensate.parameters: AccessDenied';
    cloud.newInstance({ imageId: 'ami-1', instanceType: 't3.small', tags: { [TAGS.role]: 'release', [TAGS.deploy]: 'deploy-0001' }, userData: '', shutdownBehavior: 'terminate', state: 'running' });
    expect(invariants(checkInvariants(run))).toEqual(['no builder or runner survives']);
  });

  test('fails when the history item is still running, or closed without a cause', () => {
    const item = [...run.world.cloud.table.values()].find((i) => i.pk === 'DEPLOY')!;
    item.status = 'running';
    expect(checkInvariants(run)).toContainEqual({ invariant: 'the history item is closed with an outcome and a cause', evidence: 'history still running (execution SUCCEEDED)' });
    item.status = 'failed';
    delete item.error;
    expect(checkInvariants(run)).toContainEqual({ invariant: 'the history item is closed with an outcome and a cause', evidence: 'history failed without a cause' });
  });

  test('fails when web capacity fell below the floor, or to nothing outside a page', () => {
    const at = run.startedAt + 100_000;
    (run.observation.samples as { at: number; healthy: number; page: boolean }[]).push({ at, healthy: 0, page: false });
    expect(checkInvariants(run)).toEqual([
      { invariant: 'a rolling deploy never drops below the configured capacity floor', evidence: '0 healthy web target(s) at +100 s, floor 1 (100% of 1)' },
      { invariant: 'requests always meet a healthy target or the maintenance page', evidence: 'no healthy web target, page down, at +100 s' },
    ]);
  });

  test('capacity a fault took away is not the deploy\'s while it comes back', () => {
    const at = run.startedAt + 100_000;
    (run.observation.samples as { at: number; healthy: number; page: boolean }[]).push({ at, healthy: 0, page: false });
    run.observation.webDisruptions.push(at - 10_000);
    expect(checkInvariants(run)).toEqual([]);
  });

  test('fails on the fake\'s violations and on IAM denials', () => {
    run.world.cloud.violations.push('deregistered an image in use');
    expect(checkInvariants(run, ['advance: ec2:RunInstances on arn:aws:ec2:…:instance/* denied'])).toEqual([
      { invariant: 'no broken promise (the fake cloud\'s violations)', evidence: 'deregistered an image in use' },
      { invariant: 'IAM allowed every call', evidence: 'advance: ec2:RunInstances on arn:aws:ec2:…:instance/* denied' },
    ]);
  });

  test('fails when the migration ran before the backup deploy.backup asks for', async () => {
    const backedUp = await runScenario({ ...CLEAN, world: { ...CLEAN.world, database: true, deploy: { backup: 'snapshot' } } });
    expect(checkInvariants(backedUp)).toEqual([]);
    // The restore point recorded after the runner launched, the snapshot started after it.
    const state = backedUp.result.state!;
    const point = state.backup!.restorePoint!;
    const late = { ...backedUp, result: { ...backedUp.result, state: { ...state, backup: { ...state.backup, restorePoint: { ...point, at: backedUp.endedAt } } } } };
    for (const s of backedUp.world.cloud.dbSnapshots.values()) s.createdAt = backedUp.endedAt;
    expect(checkInvariants(late)).toEqual([
      { invariant: 'no migration runs before the database is backed up as configured', evidence: expect.stringMatching(/^snapshot: restore point at \d+, runner launched at \d+$/) },
      { invariant: 'no migration runs before the database is backed up as configured', evidence: expect.stringMatching(/^snapshot: snapshot herd-shop-staging-deploy-0001 started at \d+, runner launched at \d+$/) },
    ]);
  });

  test('fails when an execution died and nothing finished the deploy', () => {
    const item = [...run.world.cloud.table.values()].find((i) => i.pk === 'DEPLOY')!;
    item.status = 'running';
    run = { ...run, result: { ...run.result, status: 'ABORTED', state: { ...run.result.state!, outcome: undefined } } };
    expect(checkInvariants(run)).toContainEqual({ invariant: 'the deploy ended with an outcome', evidence: 'execution ABORTED, history running' });
  });
});
