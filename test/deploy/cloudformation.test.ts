/**
 * CloudFormation and the deploy step never fight over a launch template (REAL-AWS 4–6):
 * the real synthesized template, applied by the fake cloud's CloudFormation model
 * (`lib/simulation/cloudformation.ts`), between real deploys of the deploy step.
 *
 *   r2 deployed → cdk deploy changing the web instance type → r3 rolling, auto-rollback on
 *   → r4 fails and compensates to r3 → a later cdk deploy keeps r3 serving
 *
 * plus the two interlocks: a stack update during a deploy is refused by the deploy guard and
 * rolled back; a deploy during a stack update is refused before any side effect.
 */
import type { HerdSettings } from '../../lib/config/types';
import { FakeCloudFormation, type CfnTemplate } from '../../lib/simulation/cloudformation';
import { runSimulatedDeploy } from '../../lib/simulation/run';
import { createWorld, type World } from '../../lib/simulation/world';
import { parameterNames, TAGS } from '../../lib/names';
import defaultSettings from '../../herd.config';
import { buildApp } from '../support/app';

/** The default configuration, with staging's web instance type changed to `instanceType`. */
function withWebType(instanceType: string): HerdSettings {
  return {
    ...defaultSettings,
    environments: defaultSettings.environments.map((e) => (e.name === 'staging' ? { ...e, web: { ...e.web, instanceType } } : e)),
  };
}

let original: CfnTemplate;
let biggerWeb: CfnTemplate;
beforeAll(() => {
  original = buildApp().template('staging').toJSON() as CfnTemplate;
  biggerWeb = buildApp(withWebType('t3.medium')).template('staging').toJSON() as CfnTemplate;
});

async function setup() {
  const world = createWorld({ app: 'mootube', env: 'staging', web: 2, worker: 1, serving: 'r1', releases: { r4: { neverHealthy: true } } });
  const cfn = new FakeCloudFormation(world.cloud, world.env);
  await cfn.adopt(original);
  return { world, cfn };
}

const imageOf = (world: World, release: string) => [...world.cloud.images.values()].find((i) => i.release === release && i.state === 'available')?.id;

/** What each role's in-service instances run: image and instance type. */
function fleet(world: World) {
  const out: Record<string, { images: string[]; types: string[]; versionImage: string | undefined; versionType: string | undefined }> = {};
  for (const [role, f] of Object.entries(world.env.fleets)) {
    if (!f) continue;
    const g = world.cloud.groups.get(f.autoScalingGroupName)!;
    const instances = g.instances.filter((i) => i.lifecycle === 'InService').map((i) => world.cloud.instances.get(i.id)!);
    const v = world.cloud.launchTemplates.get(f.launchTemplateId)!.versions.find((x) => String(x.number) === g.ltVersion);
    out[role] = { images: [...new Set(instances.map((i) => i.imageId))], types: [...new Set(instances.map((i) => i.instanceType))], versionImage: v?.imageId, versionType: v?.instanceType };
  }
  return out;
}

async function deploy(world: World, release: string, deployId: string, onStep?: (step: string) => Promise<void>) {
  const run = await runSimulatedDeploy(world, { release, actor: 'alice', deployId }, { onState: async (state) => onStep?.(state.step) });
  return run.result;
}

test('r2 → cdk deploy (web instance type) → r3 with auto-rollback → r4 fails back to r3 → cdk deploy keeps r3', async () => {
  const { world, cfn } = await setup();
  const names = parameterNames('mootube', 'staging');

  expect((await deploy(world, 'r2', 'deploy-0002')).state?.outcome).toBe('succeeded');
  const r2 = imageOf(world, 'r2');
  expect(fleet(world).web?.images).toEqual([r2]);

  // cdk deploy: CloudFormation makes a version from the template's data, with the image it resolves now (r2's).
  expect(await cfn.update(biggerWeb)).toEqual({ status: 'UPDATE_COMPLETE' });
  expect(fleet(world).web).toMatchObject({ versionImage: r2, versionType: 't3.medium' });
  expect(fleet(world).worker).toMatchObject({ versionImage: r2, versionType: 't3.small' });

  // r3: the refresh rolls back automatically on failure, which AWS allows only when both the
  // group's version and the new one name a literal AMI.
  const r3run = await deploy(world, 'r3', 'deploy-0003');
  expect(r3run.state?.outcome).toBe('succeeded');
  const r3 = imageOf(world, 'r3');
  const refreshes = [...world.cloud.groups.values()].flatMap((g) => g.refreshes).filter((r) => r.startTime >= r3run.state!.startedAt);
  expect(refreshes.map((r) => [r.preferences.AutoRollback, r.status])).toEqual([[true, 'Successful'], [true, 'Successful']]);
  // The instance type the stack changed reaches the servers with r3.
  expect(fleet(world).web).toMatchObject({ images: [r3], types: ['t3.medium'] });

  // r4 never turns healthy: the refresh fails and everything goes back to r3, never to r4.
  const r4run = await deploy(world, 'r4', 'deploy-0004');
  expect(r4run.state?.outcome).toBe('failed');
  expect(fleet(world).web).toMatchObject({ images: [r3], versionImage: r3, types: ['t3.medium'] });
  expect(fleet(world).worker).toMatchObject({ images: [r3], versionImage: r3 });
  expect(world.cloud.parameters.get(names.currentImage)).toBe(r3);
  expect(world.cloud.parameters.get(names.currentRelease)).toBe('r3');

  // A later cdk deploy resolves current-image again: its new versions launch r3.
  expect(await cfn.update(biggerWeb)).toEqual({ status: 'UPDATE_COMPLETE' });
  expect(fleet(world).web).toMatchObject({ images: [r3], versionImage: r3, versionType: 't3.medium' });
  expect(fleet(world).worker).toMatchObject({ images: [r3], versionImage: r3 });
  // And what the group launches next is r3: scale out by one.
  const web = world.cloud.groups.get(world.env.fleets.web.autoScalingGroupName)!;
  web.desired += 1;
  world.cloud.advance(120);
  expect(fleet(world).web?.images).toEqual([r3]);
  expect(world.cloud.violations).toEqual([]);
});

test('a cdk deploy during a deploy is refused by the guard, changes nothing, and the deploy goes on', async () => {
  const { world, cfn } = await setup();
  let refused: Awaited<ReturnType<FakeCloudFormation['update']>> | undefined;
  let versionsBefore: string[] = [];
  const result = await deploy(world, 'r2', 'deploy-0002', async (step) => {
    if (step === 'refresh.wait' && !refused) {
      versionsBefore = [...world.cloud.launchTemplates.values()].map((lt) => String(lt.versions.length));
      refused = await cfn.update(biggerWeb);
    }
  });
  expect(refused?.status).toBe('UPDATE_ROLLBACK_COMPLETE');
  expect(refused?.error).toMatch(/^herd refused this stack update: deploy deploy-0002 \(alice, release r2\) has held environment staging since /);
  expect([...world.cloud.launchTemplates.values()].map((lt) => String(lt.versions.length))).toEqual(versionsBefore);
  expect(result.state?.outcome).toBe('succeeded');
  expect(fleet(world).web).toMatchObject({ images: [imageOf(world, 'r2')], types: ['t3.small'] });
  // Once the deploy is over, the same update goes through.
  expect(await cfn.update(biggerWeb)).toEqual({ status: 'UPDATE_COMPLETE' });
});

test('a cdk deploy during a full deploy (page up, fleet doubled) is refused by the guard too, and the deploy goes on', async () => {
  const { world, cfn } = await setup();
  let refused: Awaited<ReturnType<FakeCloudFormation['update']>> | undefined;
  const run = await runSimulatedDeploy(world, { release: 'r2', actor: 'alice', deployId: 'deploy-0002', strategy: 'full' }, {
    onState: async (state) => {
      // The page is up and the group holds the old fleet and the staged new one.
      if (state.step === 'switch.listener' && !refused) refused = await cfn.update(biggerWeb);
    },
  });
  expect(refused?.status).toBe('UPDATE_ROLLBACK_COMPLETE');
  expect(refused?.error).toMatch(/^herd refused this stack update: deploy deploy-0002 \(alice, release r2\) has held environment staging since /);
  expect(run.result.state?.outcome).toBe('succeeded');
  expect(fleet(world).web).toMatchObject({ images: [imageOf(world, 'r2')], types: ['t3.small'] });
  const web = world.cloud.groups.get(world.env.fleets.web.autoScalingGroupName)!;
  expect([web.min, web.desired, web.max]).toEqual([1, 2, 4]);
  expect(world.cloud.violations).toEqual([]);
});

test('a cdk deploy changing the instance type reaches running servers when the serving release is deployed again with force, with no downtime', async () => {
  const { world, cfn } = await setup();
  expect((await deploy(world, 'r2', 'deploy-0002')).state?.outcome).toBe('succeeded');
  const r2 = imageOf(world, 'r2');
  expect(await cfn.update(biggerWeb)).toEqual({ status: 'UPDATE_COMPLETE' });
  // The stack changed the next instances only.
  expect(fleet(world).web).toMatchObject({ images: [r2], types: ['t3.small'], versionType: 't3.medium' });

  const unforced = await runSimulatedDeploy(world, { release: 'r2', actor: 'alice', deployId: 'deploy-0003' });
  expect(unforced.result.state?.outcome).toBe('unchanged');
  expect(fleet(world).web?.types).toEqual(['t3.small']);

  const forced = await runSimulatedDeploy(world, { release: 'r2', actor: 'alice', deployId: 'deploy-0004', force: true });
  expect(forced.result.state?.outcome).toBe('succeeded');
  expect(fleet(world).web).toMatchObject({ images: [r2], types: ['t3.medium'] });
  expect(forced.metrics.minHealthyPercent()).toBeGreaterThanOrEqual(100);
  expect(forced.metrics.unservedSeconds).toBe(0);
  expect(world.cloud.violations).toEqual([]);
});

test('a deploy during a stack update is refused before any side effect, and the lock is free again', async () => {
  const { world } = await setup();
  world.cloud.stacks.set('herd-staging', { status: 'UPDATE_IN_PROGRESS' });
  const result = await deploy(world, 'r2', 'deploy-0002');
  expect(result.error).toEqual({
    name: 'EnvironmentBusyError',
    message: 'stack herd-staging is UPDATE_IN_PROGRESS: CloudFormation is changing environment staging (launch templates and groups among it); nothing was changed. Deploy again once `cdk deploy` has finished.',
  });
  expect(world.cloud.table.has('LOCK\u0000LOCK')).toBe(false);
  expect([...world.cloud.instances.values()].filter((i) => i.tags[TAGS.role] === 'builder')).toEqual([]);
  expect([...world.cloud.table.values()].filter((i) => i.pk === 'DEPLOY')).toEqual([]);
});

test('a group put back on an older release\'s version (a CloudFormation rollback) never makes a failed deploy fall back to that release', async () => {
  const { world, cfn } = await setup();
  expect((await deploy(world, 'r2', 'deploy-0002')).state?.outcome).toBe('succeeded');
  const r1 = imageOf(world, 'r1');
  const r2 = imageOf(world, 'r2');
  // CloudFormation's last version still launches r1; roll the group back to it as an update rollback would.
  const web = world.cloud.groups.get(world.env.fleets.web.autoScalingGroupName)!;
  web.ltVersion = '1';
  expect(world.cloud.launchTemplates.get(world.env.fleets.web.launchTemplateId)!.versions[0]!.imageId).toBe(r1);
  const r4 = await deploy(world, 'r4', 'deploy-0004');
  expect(r4.state?.outcome).toBe('failed');
  expect(r4.state?.warnings).toContainEqual(expect.stringMatching(/^herd-staging-web was on launch-template version 1, which launches ami-\w+, not the serving image ami-\w+; it now uses version \d+/));
  expect(fleet(world).web).toMatchObject({ images: [r2], versionImage: r2 });
  void cfn;
});

test('the repair survives Auto Scaling not seeing a new version yet: each group repaired once, both warnings kept', async () => {
  // Every new version lags: the web repair's group update fails on the first try, the worker's on
  // the next (after the web one succeeded, so the step's draft, and its web warning, is dropped).
  const world = createWorld({
    app: 'mootube', env: 'staging', web: 2, worker: 1, serving: 'r1', releases: { r4: { neverHealthy: true } },
    consistency: { maxLagSeconds: 4, minLagSeconds: 2 },
  });
  await new FakeCloudFormation(world.cloud, world.env).adopt(original);
  expect((await deploy(world, 'r2', 'deploy-0002')).state?.outcome).toBe('succeeded');
  const versionsBefore = Object.fromEntries(Object.entries(world.env.fleets).map(([role, f]) => [role, world.cloud.launchTemplates.get(f!.launchTemplateId)!.versions.length]));
  for (const f of [world.env.fleets.web, world.env.fleets.worker!]) world.cloud.groups.get(f.autoScalingGroupName)!.ltVersion = '1';
  const r4 = await deploy(world, 'r4', 'deploy-0004');
  expect(r4.state?.outcome).toBe('failed');
  const repairs = r4.state?.warnings.filter((w) => / was on launch-template version 1, /.test(w));
  expect(repairs).toEqual([
    expect.stringMatching(/^herd-staging-web was on launch-template version 1, which launches ami-\w+, not the serving image ami-\w+; it now uses version \d+/),
    expect.stringMatching(/^herd-staging-worker was on launch-template version 1, which launches ami-\w+, not the serving image ami-\w+; it now uses version \d+/),
  ]);
  // One repair version and one release version per role, however often the step ran.
  for (const [role, f] of Object.entries(world.env.fleets)) {
    expect(world.cloud.launchTemplates.get(f!.launchTemplateId)!.versions.length - versionsBefore[role]!).toBe(2);
  }
  expect(fleet(world).web).toMatchObject({ images: [imageOf(world, 'r2')], versionImage: imageOf(world, 'r2') });
  expect(fleet(world).worker).toMatchObject({ versionImage: imageOf(world, 'r2') });
});
