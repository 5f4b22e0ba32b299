/**
 * The fake cloud is at least as unkind as AWS where herd's deploy logic must cope: eventual
 * consistency (EC2, SSM, ELBv2, Auto Scaling seeing new launch-template versions), capacity
 * per zone, snapshots held after a deregistration, a database that is not `available`, the
 * manual snapshot quota, and an instance refresh that waits while a process is suspended.
 */
import { DescribeInstanceRefreshesCommand, ResumeProcessesCommand, StartInstanceRefreshCommand, SuspendProcessesCommand, UpdateAutoScalingGroupCommand } from '@aws-sdk/client-auto-scaling';
import {
  CreateImageCommand,
  CreateLaunchTemplateVersionCommand,
  DeleteSnapshotCommand,
  DeregisterImageCommand,
  DescribeImagesCommand,
  DescribeInstancesCommand,
  RunInstancesCommand,
} from '@aws-sdk/client-ec2';
import { CreateRuleCommand, DescribeRulesCommand } from '@aws-sdk/client-elastic-load-balancing-v2';
import { CreateDBSnapshotCommand, DeleteDBSnapshotCommand, DescribeDBInstancesCommand, DescribeDBSnapshotsCommand } from '@aws-sdk/client-rds';
import { GetParameterCommand, PutParameterCommand } from '@aws-sdk/client-ssm';
import { TAGS } from '../../../lib/names';
import { createWorld } from '../../../lib/simulation/world';

/** Every new thing stays invisible for exactly `lag` seconds. */
function world(lag: number, extra: Partial<Parameters<typeof createWorld>[0]> = {}) {
  const w = createWorld({ web: 2, serving: 'r1', database: true, consistency: { maxLagSeconds: lag, minLagSeconds: lag }, ...extra });
  return { ...w, clients: w.cloud.clients() };
}

function launch(w: ReturnType<typeof world>, subnet = w.env.instances.subnetIds[0], token?: string) {
  return w.clients.ec2.send(
    new RunInstancesCommand({
      MinCount: 1,
      MaxCount: 1,
      ImageId: w.images.r1,
      InstanceType: 't3.small',
      SubnetId: subnet,
      ...(token ? { ClientToken: token } : {}),
      TagSpecifications: [{ ResourceType: 'instance', Tags: [{ Key: TAGS.app, Value: 'mootube' }] }],
    }),
  );
}

describe('eventual consistency', () => {
  test('an instance launched a moment ago is NotFound by id and left out of listings, then shows', async () => {
    const w = world(5);
    const id = (await launch(w)).Instances![0]!.InstanceId!;
    await expect(w.clients.ec2.send(new DescribeInstancesCommand({ InstanceIds: [id] }))).rejects.toThrow(expect.objectContaining({ name: 'InvalidInstanceID.NotFound' }));
    const listed = await w.clients.ec2.send(new DescribeInstancesCommand({ Filters: [{ Name: 'instance-id', Values: [id] }] }));
    expect(listed.Reservations).toEqual([]);
    w.cloud.advance(5);
    const found = await w.clients.ec2.send(new DescribeInstancesCommand({ InstanceIds: [id] }));
    expect(found.Reservations?.[0]?.Instances?.[0]?.InstanceId).toBe(id);
  });

  test('an image created a moment ago is NotFound by id', async () => {
    const w = world(5);
    const builder = (await launch(w)).Instances![0]!.InstanceId!;
    w.cloud.advance(60);
    const image = (await w.clients.ec2.send(new CreateImageCommand({ InstanceId: builder, Name: 'herd-r9-test' }))).ImageId!;
    await expect(w.clients.ec2.send(new DescribeImagesCommand({ ImageIds: [image] }))).rejects.toThrow(expect.objectContaining({ name: 'InvalidAMIID.NotFound' }));
    w.cloud.advance(5);
    expect((await w.clients.ec2.send(new DescribeImagesCommand({ ImageIds: [image] }))).Images?.[0]?.ImageId).toBe(image);
  });

  test('Auto Scaling refuses a launch-template version created a moment ago, as not existing', async () => {
    const w = world(5);
    const lt = w.env.fleets.web.launchTemplateId;
    const v = (await w.clients.ec2.send(new CreateLaunchTemplateVersionCommand({ LaunchTemplateId: lt, SourceVersion: '1', LaunchTemplateData: {} }))).LaunchTemplateVersion!.VersionNumber!;
    const update = () =>
      w.clients.autoScaling.send(new UpdateAutoScalingGroupCommand({ AutoScalingGroupName: w.env.fleets.web.autoScalingGroupName, LaunchTemplate: { LaunchTemplateId: lt, Version: String(v) } }));
    await expect(update()).rejects.toThrow(`The specified launch template version ${v} does not exist for launch template ${lt}.`);
    w.cloud.advance(5);
    await update();
    expect(w.cloud.groups.get(w.env.fleets.web.autoScalingGroupName)!.ltVersion).toBe(String(v));
  });

  test('a parameter written a moment ago is ParameterNotFound; a rule created a moment ago is not listed', async () => {
    const w = world(5);
    await w.clients.ssm.send(new PutParameterCommand({ Name: '/herd/mootube/staging/new', Value: 'x', Type: 'String' }));
    await expect(w.clients.ssm.send(new GetParameterCommand({ Name: '/herd/mootube/staging/new' }))).rejects.toThrow(expect.objectContaining({ name: 'ParameterNotFound' }));
    const listener = w.env.loadBalancer.listenerArn;
    await w.clients.elbv2.send(
      new CreateRuleCommand({ ListenerArn: listener, Priority: 7, Conditions: [{ Field: 'path-pattern', PathPatternConfig: { Values: ['/x'] } }], Actions: [{ Type: 'fixed-response', FixedResponseConfig: { StatusCode: '503' } }] }),
    );
    const rules = async () => ((await w.clients.elbv2.send(new DescribeRulesCommand({ ListenerArn: listener }))).Rules ?? []).map((r) => r.Priority);
    expect(await rules()).not.toContain('7');
    w.cloud.advance(5);
    expect((await w.clients.ssm.send(new GetParameterCommand({ Name: '/herd/mootube/staging/new' }))).Parameter?.Value).toBe('x');
    expect(await rules()).toContain('7');
  });

  test('lags are derived from the seed and each id, so a run is repeatable', () => {
    const lags = (seed: number) => {
      const w = createWorld({ web: 1, serving: 'r1', consistency: { maxLagSeconds: 30, seed } });
      return ['a', 'b', 'c', 'd'].map((id) => (w.cloud.consistency.created('instance', id, 0) / 1000));
    };
    expect(lags(3)).toEqual(lags(3));
    expect(lags(3)).not.toEqual(lags(4));
    for (const lag of lags(3)) expect(lag).toBeLessThanOrEqual(30);
  });
});

describe('capacity, snapshots, databases, suspended processes', () => {
  test('a zone without capacity fails RunInstances with InsufficientInstanceCapacity; another zone launches', async () => {
    const w = world(0, { noCapacity: [0] });
    const [full, free] = w.env.instances.subnetIds;
    await expect(launch(w, full)).rejects.toThrow(expect.objectContaining({ name: 'InsufficientInstanceCapacity' }));
    expect((await launch(w, free)).Instances?.[0]?.SubnetId).toBe(free);
  });

  test('a snapshot stays in use for a while after its image is deregistered, unless deleted with it', async () => {
    const w = world(0);
    const [kept, deleted] = [w.cloud.addImage('old', { [TAGS.app]: 'mootube' }), w.cloud.addImage('older', { [TAGS.app]: 'mootube' })];
    const keptSnapshot = w.cloud.images.get(kept)!.snapshotId;
    const deletedSnapshot = w.cloud.images.get(deleted)!.snapshotId;
    await w.clients.ec2.send(new DeregisterImageCommand({ ImageId: kept }));
    await expect(w.clients.ec2.send(new DeleteSnapshotCommand({ SnapshotId: keptSnapshot }))).rejects.toThrow(expect.objectContaining({ name: 'InvalidSnapshot.InUse' }));
    const res = await w.clients.ec2.send(new DeregisterImageCommand({ ImageId: deleted, DeleteAssociatedSnapshots: true }));
    expect(res.DeleteSnapshotResults).toEqual([{ SnapshotId: deletedSnapshot, ReturnCode: 'success' }]);
    expect(w.cloud.snapshots.has(deletedSnapshot)).toBe(false);
    w.cloud.advance(120);
    await w.clients.ec2.send(new DeleteSnapshotCommand({ SnapshotId: keptSnapshot }));
    expect(w.cloud.snapshots.has(keptSnapshot)).toBe(false);
  });

  test('no DB snapshot while the database is not available, nor beyond the manual snapshot quota', async () => {
    const w = world(0, { databaseBusy: { status: 'backing-up', seconds: 600 } });
    const db = w.env.database!.instanceIdentifier;
    expect((await w.clients.rds.send(new DescribeDBInstancesCommand({ DBInstanceIdentifier: db }))).DBInstances?.[0]?.DBInstanceStatus).toBe('backing-up');
    await expect(w.clients.rds.send(new CreateDBSnapshotCommand({ DBInstanceIdentifier: db, DBSnapshotIdentifier: 'herd-a' }))).rejects.toThrow(
      expect.objectContaining({ name: 'InvalidDBInstanceStateFault' }),
    );
    w.cloud.advance(600);
    w.cloud.manualSnapshotQuota = 1;
    await w.clients.rds.send(new CreateDBSnapshotCommand({ DBInstanceIdentifier: db, DBSnapshotIdentifier: 'herd-a' }));
    await expect(w.clients.rds.send(new CreateDBSnapshotCommand({ DBInstanceIdentifier: db, DBSnapshotIdentifier: 'herd-b' }))).rejects.toThrow(
      expect.objectContaining({ name: 'SnapshotQuotaExceededFault' }),
    );
    await expect(w.clients.rds.send(new DeleteDBSnapshotCommand({ DBSnapshotIdentifier: 'herd-a' }))).rejects.toThrow(expect.objectContaining({ name: 'InvalidDBSnapshotStateFault' }));
    w.cloud.advance(3600);
    await w.clients.rds.send(new DeleteDBSnapshotCommand({ DBSnapshotIdentifier: 'herd-a' }));
    expect((await w.clients.rds.send(new DescribeDBSnapshotsCommand({ DBInstanceIdentifier: db }))).DBSnapshots).toEqual([]);
  });

  test('an instance refresh waits while Launch is suspended, and goes on once it is resumed', async () => {
    const w = world(0);
    const group = w.env.fleets.web.autoScalingGroupName;
    await w.clients.autoScaling.send(new SuspendProcessesCommand({ AutoScalingGroupName: group, ScalingProcesses: ['Launch'] }));
    const id = (await w.clients.autoScaling.send(new StartInstanceRefreshCommand({ AutoScalingGroupName: group, Preferences: { MinHealthyPercentage: 50 } }))).InstanceRefreshId!;
    const refresh = async () => (await w.clients.autoScaling.send(new DescribeInstanceRefreshesCommand({ AutoScalingGroupName: group, InstanceRefreshIds: [id] }))).InstanceRefreshes![0]!;
    w.cloud.advance(1800);
    expect(await refresh()).toMatchObject({ Status: 'InProgress', PercentageComplete: 0, StatusReason: expect.stringContaining('Launch process of the group is suspended') });
    await w.clients.autoScaling.send(new ResumeProcessesCommand({ AutoScalingGroupName: group, ScalingProcesses: ['Launch'] }));
    w.cloud.advance(1800);
    expect((await refresh()).Status).toBe('Successful');
  });
});
