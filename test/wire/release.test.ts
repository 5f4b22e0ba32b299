/**
 * Wire level: the launch-template swap and the migration run (`lambda/deploy/release.ts`), and
 * the compensation steps that undo them (`compensate.parameters`, `compensate.instances`),
 * against EC2, Auto Scaling, SSM and RDS as moto implements them:
 * DescribeAutoScalingGroups, CreateLaunchTemplateVersion (SourceVersion, ClientToken, literal
 * ImageId), DescribeLaunchTemplateVersions, GetParameter/PutParameter (Overwrite, DataType
 * `aws:ec2:image`), CreateDBSnapshot with tags / DescribeDBSnapshots (and the
 * `DBSnapshotAlreadyExists` error of a retried call), RunInstances from a launch-template
 * version, TerminateInstances, DeleteParameter.
 *
 * Not modelled by moto, so not asserted here:
 * - CreateLaunchTemplateVersion's SourceVersion: moto stores only the LaunchTemplateData sent
 *   (here `{ImageId}`), where EC2 copies the rest of the source version. The test checks the
 *   request names the group's version as SourceVersion and the new version's literal AMI.
 * - CreateLaunchTemplateVersion's and RunInstances' ClientToken idempotency (herd guards both
 *   with its state and a tag lookup, tested in bake.test.ts).
 * - DB snapshots are `available` at once in moto (the `creating` wait is the simulation's job).
 * - A launch template's IamInstanceProfile: moto applies only the request's, so the runner's
 *   profile read back from DescribeInstances shows herd's override reached EC2, not that it
 *   wins over the web template's (the simulation's fake cloud models that).
 */
import { DescribeAutoScalingGroupsCommand } from '@aws-sdk/client-auto-scaling';
import {
  CreateImageCommand,
  DescribeInstancesCommand,
  DescribeLaunchTemplateVersionsCommand,
  RunInstancesCommand,
  type Instance,
} from '@aws-sdk/client-ec2';
import { DescribeDBSnapshotsCommand, ListTagsForResourceCommand, ModifyDBInstanceCommand } from '@aws-sdk/client-rds';
import { GetParameterCommand, PutParameterCommand } from '@aws-sdk/client-ssm';
import { COMPENSATION_STEPS } from '../../lambda/deploy/compensate';
import type { DeployEnvironment } from '../../lambda/deploy/environment';
import { RELEASE_STEPS, groupVersions, runnerUserData } from '../../lambda/deploy/release';
import { RESTORE_POINT_STEPS } from '../../lambda/deploy/restore-point';
import type { DeployState } from '../../lambda/deploy/state';
import type { AdvanceContext } from '../../lambda/deploy/step';
import { NO_RELEASE, TAGS, parameterNames } from '../../lib/names';
import { startMoto } from '../support/moto';
import {
  baseImageId,
  createDatabase,
  createGroup,
  createInstanceProfile,
  createLaunchTemplate,
  createNetwork,
  destroyClients,
  recordCalls,
  wireClients,
  type Network,
  type RecordedCall,
  type WireClients,
} from './cloud';
import { ManualClock, advanceContext, deployEnvironment, deployState, stepOf } from './fixtures';

const step = (name: string) => stepOf(RELEASE_STEPS, name);
const names = parameterNames('shop', 'staging');

describe('wire: launch-template swap and migration on EC2, Auto Scaling, SSM and RDS (moto)', () => {
  const moto = startMoto();
  let clients: WireClients;
  let calls: RecordedCall[];
  let network: Network;
  let env: DeployEnvironment;
  let ctx: AdvanceContext;
  let servingImage: string;
  let newImage: string;
  let webProfile: string;

  beforeAll(async () => {
    clients = wireClients(await moto.ready);
    calls = recordCalls(clients.ec2);
  });
  afterAll(() => destroyClients(clients));
  beforeEach(async () => {
    await moto.server().reset();
    calls.length = 0;
    network = await createNetwork(clients);
    servingImage = await baseImageId(clients);
    // The release's baked image (what the bake stage hands over).
    const source = await clients.ec2.send(new RunInstancesCommand({ ImageId: servingImage, MinCount: 1, MaxCount: 1, SubnetId: network.subnetIds[0] }));
    const created = await clients.ec2.send(new CreateImageCommand({ InstanceId: source.Instances?.[0]?.InstanceId ?? '', Name: 'herd-shop-r2-deploy-0001' }));
    newImage = created.ImageId ?? '';
    webProfile = await createInstanceProfile(moto.server(), 'herd-staging-web');
    const runnerProfile = await createInstanceProfile(moto.server(), 'herd-staging-runner');
    const webLt = await createLaunchTemplate(clients, 'herd-staging-web', servingImage, network.securityGroupId, {}, webProfile);
    const workerLt = await createLaunchTemplate(clients, 'herd-staging-worker', servingImage, network.securityGroupId);
    await createGroup(clients, network, 'herd-staging-web', webLt, { min: 1, max: 2, desired: 1 });
    await createGroup(clients, network, 'herd-staging-worker', workerLt, { min: 1, max: 1, desired: 1 });
    await createDatabase(clients, 'herd-staging-db');
    env = deployEnvironment({
      webGroupName: 'herd-staging-web',
      webLaunchTemplateId: webLt,
      workerGroupName: 'herd-staging-worker',
      workerLaunchTemplateId: workerLt,
      subnetIds: network.subnetIds,
      builderSecurityGroupIds: [network.securityGroupId],
      databaseIdentifier: 'herd-staging-db',
      runnerInstanceProfileArn: runnerProfile,
    });
    ctx = advanceContext(clients, env, new ManualClock());
  });

  async function parameter(name: string): Promise<string | undefined> {
    try {
      return (await clients.ssm.send(new GetParameterCommand({ Name: name }))).Parameter?.Value;
    } catch (err) {
      if (err instanceof Error && err.name === 'ParameterNotFound') return undefined;
      throw err;
    }
  }

  async function instance(id: string): Promise<Instance> {
    const res = await clients.ec2.send(new DescribeInstancesCommand({ InstanceIds: [id] }));
    const found = res.Reservations?.[0]?.Instances?.[0];
    if (!found) throw new Error(`instance ${id} not found`);
    return found;
  }

  /** A state that went through bake with `newImage` and swapped the launch templates. */
  async function swapped(deployId = 'deploy-0001'): Promise<DeployState> {
    const state = deployState(ctx, { deployId, release: 'r2' });
    state.image = { imageId: newImage, reused: false, processes: ['web', 'worker', 'release'] };
    expect(await step('launchTemplate.read')(state, ctx)).toEqual({ goto: 'launchTemplate.create' });
    expect(await step('launchTemplate.create')(state, ctx)).toEqual({ goto: 'launchTemplate.waitParameters' });
    // moto validates aws:ec2:image synchronously: the parameters read back at once.
    expect(await step('launchTemplate.waitParameters')(state, ctx)).toEqual({ stageDone: true });
    return state;
  }

  test('reads the groups\' numbered versions and the current release (none before the first)', async () => {
    const state = deployState(ctx, { deployId: 'deploy-0001' });
    await step('launchTemplate.read')(state, ctx);
    expect(state.previous).toEqual({ imageId: '', release: NO_RELEASE, versions: { web: '1', worker: '1' } });

    await clients.ssm.send(new PutParameterCommand({ Name: names.currentImage, Value: servingImage, Type: 'String', DataType: 'aws:ec2:image' }));
    await clients.ssm.send(new PutParameterCommand({ Name: names.currentRelease, Value: 'r1', Type: 'String' }));
    const again = deployState(ctx, { deployId: 'deploy-0002' });
    await step('launchTemplate.read')(again, ctx);
    expect(again.previous).toEqual({ imageId: servingImage, release: 'r1', versions: { web: '1', worker: '1' } });
  });

  test('fails when a group uses $Latest instead of a numbered version', async () => {
    await createGroup(clients, network, 'herd-staging-web-latest', env.fleets.web.launchTemplateId, { min: 0, max: 1, desired: 0 }, '$Latest');
    const latest = deployEnvironment({ ...fleetResources(env), webGroupName: 'herd-staging-web-latest' });
    await expect(groupVersions(advanceContext(clients, latest))).rejects.toThrow(
      'Auto Scaling group herd-staging-web-latest uses launch template version $Latest; herd needs a numbered version (instance-refresh rollback does not support $Latest or $Default)',
    );
  });

  test('fails when a group uses another launch template than the environment says', async () => {
    const mixed = deployEnvironment({ ...fleetResources(env), webGroupName: 'herd-staging-worker' });
    await expect(groupVersions(advanceContext(clients, mixed))).rejects.toThrow(
      `Auto Scaling group herd-staging-worker does not use launch template ${env.fleets.web.launchTemplateId}`,
    );
  });

  test('fails when a group does not exist', async () => {
    const missing = deployEnvironment({ ...fleetResources(env), webGroupName: 'herd-staging-gone' });
    await expect(groupVersions(advanceContext(clients, missing))).rejects.toThrow('Auto Scaling group herd-staging-gone (web) not found');
  });

  test('a new numbered version per role with the literal AMI, and the current-release parameters overwritten', async () => {
    await clients.ssm.send(new PutParameterCommand({ Name: names.currentImage, Value: servingImage, Type: 'String', DataType: 'aws:ec2:image' }));
    await clients.ssm.send(new PutParameterCommand({ Name: names.currentRelease, Value: 'r1', Type: 'String' }));
    const state = await swapped();

    expect(state.next).toEqual({ versions: { web: '2', worker: '2' }, createdAt: ctx.clock.now() });
    expect(state.parametersWritten).toBe(true);
    const requests = calls.filter((c) => c.command === 'CreateLaunchTemplateVersionCommand').map((c) => c.input);
    expect(requests).toEqual([
      {
        LaunchTemplateId: env.fleets.web.launchTemplateId,
        SourceVersion: '1',
        VersionDescription: 'herd release r2 (deploy deploy-0001)',
        ClientToken: 'deploy-0001-web',
        LaunchTemplateData: { ImageId: newImage },
      },
      expect.objectContaining({ LaunchTemplateId: env.fleets.worker?.launchTemplateId, SourceVersion: '1', ClientToken: 'deploy-0001-worker' }),
    ]);

    for (const fleet of [env.fleets.web, env.fleets.worker]) {
      const res = await clients.ec2.send(
        new DescribeLaunchTemplateVersionsCommand({ LaunchTemplateId: fleet?.launchTemplateId, Versions: ['1', '2', '$Latest', '$Default'] }),
      );
      const byNumber = new Map((res.LaunchTemplateVersions ?? []).map((v) => [v.VersionNumber, v]));
      expect(byNumber.get(2)?.LaunchTemplateData?.ImageId).toBe(newImage);
      expect(byNumber.get(2)?.VersionDescription).toBe('herd release r2 (deploy deploy-0001)');
      expect(byNumber.get(2)?.DefaultVersion).toBe(false);
      expect(byNumber.get(1)?.LaunchTemplateData?.ImageId).toBe(servingImage);
      expect(byNumber.get(1)?.DefaultVersion).toBe(true);
    }
    // The groups still run version 1: the rollout moves them.
    const groups = await clients.autoScaling.send(new DescribeAutoScalingGroupsCommand({ AutoScalingGroupNames: ['herd-staging-web', 'herd-staging-worker'] }));
    expect((groups.AutoScalingGroups ?? []).map((g) => g.LaunchTemplate?.Version)).toEqual(['1', '1']);

    expect(await parameter(names.currentImage)).toBe(newImage);
    expect(await parameter(names.currentRelease)).toBe('r2');
    const image = await clients.ssm.send(new GetParameterCommand({ Name: names.currentImage }));
    expect(image.Parameter?.DataType).toBe('aws:ec2:image');
  });

  test('compensation puts the previous release parameters back', async () => {
    await clients.ssm.send(new PutParameterCommand({ Name: names.currentImage, Value: servingImage, Type: 'String', DataType: 'aws:ec2:image' }));
    await clients.ssm.send(new PutParameterCommand({ Name: names.currentRelease, Value: 'r1', Type: 'String' }));
    const state = await swapped();
    expect(await parameter(names.currentRelease)).toBe('r2');
    await stepOf(COMPENSATION_STEPS, 'compensate.parameters')(state, ctx);
    expect(await stepOf(COMPENSATION_STEPS, 'compensate.waitParameters')(state, ctx)).toEqual({ stageDone: true });
    expect(await parameter(names.currentImage)).toBe(servingImage);
    expect(await parameter(names.currentRelease)).toBe('r1');
  });

  test('points a group whose version launches another image than the serving one at a version with the serving image first', async () => {
    // What a CloudFormation rollback can leave: the group on a version made before the last herd deploy.
    await clients.ssm.send(new PutParameterCommand({ Name: names.currentImage, Value: newImage, Type: 'String', DataType: 'aws:ec2:image' }));
    await clients.ssm.send(new PutParameterCommand({ Name: names.currentRelease, Value: 'r1', Type: 'String' }));
    const state = deployState(ctx, { deployId: 'deploy-0003', release: 'r2' });
    expect(await step('launchTemplate.read')(state, ctx)).toEqual({ goto: 'launchTemplate.create' });
    expect(state.previous).toEqual({ imageId: newImage, release: 'r1', versions: { web: '2', worker: '2' } });
    for (const fleet of [env.fleets.web, env.fleets.worker]) {
      const res = await clients.ec2.send(new DescribeLaunchTemplateVersionsCommand({ LaunchTemplateId: fleet?.launchTemplateId, Versions: ['2'] }));
      expect(res.LaunchTemplateVersions?.[0]?.LaunchTemplateData?.ImageId).toBe(newImage);
    }
    const groups = await clients.autoScaling.send(new DescribeAutoScalingGroupsCommand({ AutoScalingGroupNames: ['herd-staging-web', 'herd-staging-worker'] }));
    expect((groups.AutoScalingGroups ?? []).map((g) => g.LaunchTemplate?.Version)).toEqual(['2', '2']);
    expect(state.warnings).toEqual([
      `herd-staging-web was on launch-template version 1, which launches ${servingImage}, not the serving image ${newImage}; it now uses version 2 (the same settings with the serving image)`,
      `herd-staging-worker was on launch-template version 1, which launches ${servingImage}, not the serving image ${newImage}; it now uses version 2 (the same settings with the serving image)`,
    ]);
  });

  test('snapshots the database as the migrate phase asks, once even when retried', async () => {
    const state = await swapped();
    // RDS (moto) says the instance is available: on to the snapshot.
    expect(await step('migrate.waitDatabase')(state, ctx)).toEqual({ goto: 'migrate.snapshot' });
    expect(await step('migrate.snapshot')(state, ctx)).toEqual({ goto: 'migrate.waitSnapshot' });
    expect(state.migration?.snapshotId).toBe('herd-shop-staging-deploy-0001');

    const res = await clients.rds.send(new DescribeDBSnapshotsCommand({ DBSnapshotIdentifier: 'herd-shop-staging-deploy-0001' }));
    const snapshot = res.DBSnapshots?.[0];
    expect(snapshot).toMatchObject({ DBInstanceIdentifier: 'herd-staging-db', SnapshotType: 'manual', Status: 'available' });
    const tags = await clients.rds.send(new ListTagsForResourceCommand({ ResourceName: snapshot?.DBSnapshotArn ?? '' }));
    expect(Object.fromEntries((tags.TagList ?? []).map((t) => [t.Key, t.Value]))).toEqual({
      [TAGS.app]: 'shop',
      [TAGS.environment]: 'staging',
      [TAGS.deploy]: 'deploy-0001',
      [TAGS.release]: 'r2',
      [TAGS.role]: 'backup',
    });

    // The Lambda is retried after CreateDBSnapshot succeeded: RDS answers DBSnapshotAlreadyExists, herd carries on.
    const retried: DeployState = { ...structuredClone(state), migration: {} };
    expect(await step('migrate.snapshot')(retried, ctx)).toEqual({ goto: 'migrate.waitSnapshot' });
    expect(await step('migrate.waitSnapshot')(state, ctx)).toEqual({ goto: 'migrate.launchRunner' });
    const all = await clients.rds.send(new DescribeDBSnapshotsCommand({ DBInstanceIdentifier: 'herd-staging-db', SnapshotType: 'manual' }));
    expect(all.DBSnapshots).toHaveLength(1);
  });

  test('deploy.backup pitr: records the restore point from what RDS reports, snapshots nothing; refuses to migrate once automated backups are off', async () => {
    const pitr: AdvanceContext = { ...ctx, env: { ...env, deploy: { ...env.deploy, backup: 'pitr' } } };
    const state = await swapped();
    expect(await step('migrate.start')(state, pitr)).toEqual({ goto: 'migrate.restorePoint' });
    expect(await stepOf(RESTORE_POINT_STEPS, 'migrate.restorePoint')(state, pitr)).toEqual({ goto: 'migrate.launchRunner' });
    // moto's default retention (1 day), and a LatestRestorableTime the SDK parsed (moto reports the present; RDS trails it).
    expect(state.backup?.restorePoint).toMatchObject({ instance: 'herd-staging-db', retentionDays: 1, latestRestorableTime: expect.any(Number) });
    expect((await clients.rds.send(new DescribeDBSnapshotsCommand({ DBInstanceIdentifier: 'herd-staging-db', SnapshotType: 'manual' }))).DBSnapshots ?? []).toHaveLength(0);

    await clients.rds.send(new ModifyDBInstanceCommand({ DBInstanceIdentifier: 'herd-staging-db', BackupRetentionPeriod: 0, ApplyImmediately: true }));
    const later = await swapped('deploy-0002');
    await expect(stepOf(RESTORE_POINT_STEPS, 'migrate.restorePoint')(later, pitr)).rejects.toThrow(
      /^automated backups of database herd-staging-db are off \(BackupRetentionPeriod 0\), and deploy.backup "pitr" relies on them .*the migration did not run$/,
    );
  });

  test('skips the snapshot when the image has no release process', async () => {
    const state = await swapped();
    state.image = { imageId: newImage, reused: false, processes: ['web'] };
    expect(await step('migrate.waitDatabase')(state, ctx)).toEqual({ stageDone: true });
    const all = await clients.rds.send(new DescribeDBSnapshotsCommand({ DBInstanceIdentifier: 'herd-staging-db', SnapshotType: 'manual' }));
    expect(all.DBSnapshots ?? []).toHaveLength(0);
  });

  test('runs the migration on a runner launched from the new web version with its own profile, then terminates it', async () => {
    const state = await swapped();
    expect(await step('migrate.launchRunner')(state, ctx)).toEqual({ goto: 'migrate.waitRunner' });
    const id = state.migration?.runnerId ?? '';
    const runner = await instance(id);
    expect(runner.ImageId).toBe(newImage);
    expect(runner.InstanceType).toBe('t3.small');
    expect(runner.SubnetId).toBe(network.subnetIds[0]);
    // The runner's profile, not the web template's: only the runner may write its report.
    expect(runner.IamInstanceProfile?.Arn).toBe(env.instances.runnerInstanceProfileArn);
    expect(runner.IamInstanceProfile?.Arn).not.toBe(webProfile);
    const tags = Object.fromEntries((runner.Tags ?? []).map((t) => [t.Key, t.Value]));
    expect(tags).toMatchObject({
      [TAGS.role]: 'release',
      [TAGS.deploy]: 'deploy-0001',
      'aws:ec2launchtemplate:id': env.fleets.web.launchTemplateId,
      'aws:ec2launchtemplate:version': '2',
    });
    const run = calls.find((c) => c.command === 'RunInstancesCommand' && c.input.ClientToken === 'deploy-0001-runner');
    expect(run?.input).toMatchObject({
      LaunchTemplate: { LaunchTemplateId: env.fleets.web.launchTemplateId, Version: '2' },
      IamInstanceProfile: { Arn: env.instances.runnerInstanceProfileArn },
      UserData: Buffer.from(runnerUserData('shop', 'staging')).toString('base64'),
    });

    // A retried launch adopts it.
    const retried: DeployState = { ...structuredClone(state), migration: {} };
    await step('migrate.launchRunner')(retried, ctx);
    expect(retried.migration?.runnerId).toBe(id);

    expect(await step('migrate.waitRunner')(state, ctx)).toEqual({ poll: 10 });
    await clients.ssm.send(new PutParameterCommand({ Name: `${names.releaseRunsPrefix}${id}`, Value: JSON.stringify({ exitCode: 0, logTail: 'migrated' }), Type: 'String' }));
    expect(await step('migrate.waitRunner')(state, ctx)).toEqual({ goto: 'migrate.terminateRunner' });
    expect(await step('migrate.terminateRunner')(state, ctx)).toEqual({ stageDone: true });
    expect(state.migration).toMatchObject({ runnerId: id, exitCode: 0, done: true });
    expect((await instance(id)).State?.Name).toMatch(/^(shutting-down|terminated)$/);
    expect(await parameter(`${names.releaseRunsPrefix}${id}`)).toBeUndefined();
  });

  test('fails when the migration exits non-zero, and compensation terminates the runner', async () => {
    const state = await swapped();
    await step('migrate.launchRunner')(state, ctx);
    const id = state.migration?.runnerId ?? '';
    await clients.ssm.send(
      new PutParameterCommand({ Name: `${names.releaseRunsPrefix}${id}`, Value: JSON.stringify({ exitCode: 1, logTail: 'django.db.utils.ProgrammingError: relation exists' }), Type: 'String' }),
    );
    await expect(step('migrate.waitRunner')(state, ctx)).rejects.toThrow(
      `migration failed on runner ${id} (exit 1): django.db.utils.ProgrammingError: relation exists`,
    );

    await stepOf(COMPENSATION_STEPS, 'compensate.instances')(state, ctx);
    expect((await instance(id)).State?.Name).toMatch(/^(shutting-down|terminated)$/);
    expect(await parameter(`${names.releaseRunsPrefix}${id}`)).toBeUndefined();
  });
});

/** The environment's fleet resources, to build a variant of it. */
function fleetResources(env: DeployEnvironment) {
  return {
    webGroupName: env.fleets.web.autoScalingGroupName,
    webLaunchTemplateId: env.fleets.web.launchTemplateId,
    subnetIds: env.instances.subnetIds,
    builderSecurityGroupIds: env.instances.builderSecurityGroupIds,
  };
}
