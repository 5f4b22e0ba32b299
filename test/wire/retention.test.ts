/**
 * Wire level: the record stage (`lambda/deploy/record.ts`): image retention, the history
 * item and the lock release, against EC2, Auto Scaling, SSM and DynamoDB as moto implements
 * them: DescribeImages (Owners self, tag and state filters), GetParameter (this environment's
 * and each peer's current image), DescribeAutoScalingGroups (by name, and by the `herd:app`
 * tag filter), DescribeLaunchTemplates (`herd:app` tag filter), DescribeLaunchTemplateVersions
 * ($Latest, $Default, the groups' numbers), DescribeInstances (image-id and state filters),
 * DeregisterImage and DeleteSnapshot (moto refuses to delete a snapshot an image still uses,
 * so the order is checked too).
 *
 * The promoted case: images staging baked that production serves (its group's launch-template
 * version, its `$Latest`, its current-image parameter) while production runs no instance
 * of them are kept.
 *
 * moto gaps: CreationDate has a one-second resolution (as in EC2), so the test creates the
 * older images, waits for the next second, then creates the newer ones, and asserts that
 * precondition. moto filters DescribeLaunchTemplates and DescribeAutoScalingGroups by tag as
 * EC2 does, but DescribeLaunchTemplates truncates at MaxResults without a NextToken (EC2
 * pages): herd's paging of that call is covered by the fake cloud only. Nothing herd calls
 * in this stage is unsupported.
 */
import { CreateImageCommand, CreateLaunchTemplateVersionCommand, DescribeImagesCommand, DescribeSnapshotsCommand, RunInstancesCommand, TerminateInstancesCommand } from '@aws-sdk/client-ec2';
import { PutParameterCommand } from '@aws-sdk/client-ssm';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import type { DeployEnvironment } from '../../lambda/deploy/environment';
import { acquireLock, historyKey } from '../../lambda/deploy/lock';
import { RECORD_STEPS, deregisterImage, imagesToDeregister } from '../../lambda/deploy/record';
import type { DeployState } from '../../lambda/deploy/state';
import type { AdvanceContext, StepResult } from '../../lambda/deploy/step';
import { TAGS, parameterNames } from '../../lib/names';
import { startMoto } from '../support/moto';
import {
  baseImageId,
  createDeployTable,
  createNotificationTopic,
  createGroup,
  createLaunchTemplate,
  createNetwork,
  destroyClients,
  recordCalls,
  type RecordedCall,
  wireClients,
  type Network,
  type WireClients,
} from './cloud';
import { ManualClock, advanceContext, deployEnvironment, deployState, stepOf } from './fixtures';

describe('wire: image retention and the record stage (moto)', () => {
  const moto = startMoto();
  let clients: WireClients;
  let network: Network;
  let builder: string;
  let env: DeployEnvironment;
  let ctx: AdvanceContext;
  /** Images by role in the scenario. */
  let img: Record<string, string>;
  /** Every EC2 and Auto Scaling request sent once the world is built. */
  let ec2Calls: RecordedCall[];
  let autoScalingCalls: RecordedCall[];

  beforeAll(async () => {
    clients = wireClients(await moto.ready);
    await moto.server().reset();
    network = await createNetwork(clients);
    const base = await baseImageId(clients);
    const run = await clients.ec2.send(new RunInstancesCommand({ ImageId: base, MinCount: 1, MaxCount: 1, SubnetId: network.subnetIds[0] }));
    builder = run.Instances?.[0]?.InstanceId ?? '';
  });
  afterAll(() => destroyClients(clients));

  async function bake(name: string, tags: Record<string, string> = { [TAGS.app]: 'shop', [TAGS.environment]: 'staging' }): Promise<string> {
    const res = await clients.ec2.send(
      new CreateImageCommand({
        InstanceId: builder,
        Name: name,
        TagSpecifications: [{ ResourceType: 'image', Tags: Object.entries(tags).map(([Key, Value]) => ({ Key, Value })) }],
      }),
    );
    return res.ImageId ?? '';
  }

  async function snapshotsOf(imageIds: string[]): Promise<Record<string, string>> {
    const res = await clients.ec2.send(new DescribeImagesCommand({ ImageIds: imageIds }));
    return Object.fromEntries((res.Images ?? []).map((i) => [i.ImageId ?? '', i.BlockDeviceMappings?.[0]?.Ebs?.SnapshotId ?? '']));
  }

  async function ownImages(): Promise<string[]> {
    const res = await clients.ec2.send(new DescribeImagesCommand({ Owners: ['self'] }));
    return (res.Images ?? []).map((i) => i.ImageId ?? '').sort();
  }

  beforeAll(async () => {
    // Older images, all in one second or more.
    img = {
      currentParameter: await bake('herd-shop-a'),
      groupVersion: await bake('herd-shop-b'),
      latestVersion: await bake('herd-shop-c'),
      running: await bake('herd-shop-d'),
      previous: await bake('herd-shop-e'),
      stale1: await bake('herd-shop-f1'),
      stale2: await bake('herd-shop-f2'),
      // Baked by staging, promoted to production, which runs no instance of them (scaled to zero).
      promotedGroupVersion: await bake('herd-shop-p1'),
      promotedLatest: await bake('herd-shop-p2'),
      promotedParameter: await bake('herd-shop-p3'),
      otherEnvironment: await bake('herd-shop-x', { [TAGS.app]: 'shop', [TAGS.environment]: 'production' }),
      otherApp: await bake('herd-blog-y', { [TAGS.app]: 'blog', [TAGS.environment]: 'staging' }),
    };
    // moto (like EC2) dates images to the second: the newer ones are created in a later second.
    await new Promise((resolve) => setTimeout(resolve, 1050 - (Date.now() % 1000)));
    img.newest1 = await bake('herd-shop-g');
    img.serving = await bake('herd-shop-h');

    const lt = await createLaunchTemplate(clients, 'herd-staging-web', img.groupVersion ?? '', network.securityGroupId);
    await clients.ec2.send(new CreateLaunchTemplateVersionCommand({ LaunchTemplateId: lt, SourceVersion: '1', LaunchTemplateData: { ImageId: img.latestVersion } }));
    await createGroup(clients, network, 'herd-staging-web', lt, { min: 0, max: 2, desired: 0 }, '1');
    // Production, tagged as its stack tags it: its group uses version 1, $Latest is version 2.
    const production = { [TAGS.app]: 'shop', [TAGS.environment]: 'production' };
    const productionLt = await createLaunchTemplate(clients, 'herd-production-web', img.promotedGroupVersion ?? '', network.securityGroupId, production);
    await clients.ec2.send(new CreateLaunchTemplateVersionCommand({ LaunchTemplateId: productionLt, SourceVersion: '1', LaunchTemplateData: { ImageId: img.promotedLatest } }));
    await createGroup(clients, network, 'herd-production-web', productionLt, { min: 0, max: 2, desired: 0 }, '1', [], production);
    await clients.ssm.send(
      new PutParameterCommand({ Name: parameterNames('shop', 'production').currentImage, Value: img.promotedParameter, Type: 'String', DataType: 'aws:ec2:image' }),
    );
    // Another app's launch template is not looked at (the tag filter leaves it out).
    await createLaunchTemplate(clients, 'herd-blog-web', img.otherApp ?? '', network.securityGroupId, { [TAGS.app]: 'blog', [TAGS.environment]: 'staging' });
    await clients.ssm.send(
      new PutParameterCommand({ Name: parameterNames('shop', 'staging').currentImage, Value: img.currentParameter, Type: 'String', DataType: 'aws:ec2:image' }),
    );
    await clients.ec2.send(new RunInstancesCommand({ ImageId: img.running, MinCount: 1, MaxCount: 1, SubnetId: network.subnetIds[0] }));
    // A terminated instance protects nothing.
    const gone = await clients.ec2.send(new RunInstancesCommand({ ImageId: img.stale2, MinCount: 1, MaxCount: 1, SubnetId: network.subnetIds[0] }));
    await clients.ec2.send(new TerminateInstancesCommand({ InstanceIds: [gone.Instances?.[0]?.InstanceId ?? ''] }));

    const topic = await createNotificationTopic(clients, 'herd-staging-notifications');
    env = deployEnvironment({ webGroupName: 'herd-staging-web', webLaunchTemplateId: lt, amiRetention: 2, subnetIds: network.subnetIds, peerEnvironments: ['production', 'testing'], notificationTopicArn: topic });
    await createDeployTable(clients, env.tableName);
    ctx = advanceContext(clients, env, new ManualClock());
    ec2Calls = recordCalls(clients.ec2);
    autoScalingCalls = recordCalls(clients.autoScaling);
  });

  function deploy(): DeployState {
    const state = deployState(ctx, { deployId: 'deploy-0007', release: 'r7' });
    state.image = { imageId: img.serving ?? '', reused: false };
    state.previous = { imageId: img.previous ?? '', release: 'r6', versions: { web: '1' } };
    state.step = 'record.retention';
    return state;
  }

  test('precondition: the newer images are dated after the older ones', async () => {
    const res = await clients.ec2.send(new DescribeImagesCommand({ ImageIds: [img.stale1 ?? '', img.newest1 ?? ''] }));
    const date = (id: string | undefined) => res.Images?.find((i) => i.ImageId === id)?.CreationDate ?? '';
    expect(date(img.newest1) > date(img.stale1)).toBe(true);
  });

  test('selects only the images nothing refers to, with their snapshots; keeps those promoted to production', async () => {
    const state = deploy();
    ec2Calls.length = 0;
    autoScalingCalls.length = 0;
    const pending = await imagesToDeregister(ctx, 'shop', 'staging', [state.image?.imageId ?? '', state.previous?.imageId ?? '']);
    const snapshots = await snapshotsOf([img.stale1 ?? '', img.stale2 ?? '']);
    expect(pending.sort((a, b) => a.imageId.localeCompare(b.imageId))).toEqual(
      [img.stale1 ?? '', img.stale2 ?? ''].sort().map((imageId) => ({ imageId, snapshotIds: [snapshots[imageId]] })),
    );

    // Every describe is filtered: by tag, id or name.
    const describes = [...ec2Calls, ...autoScalingCalls].filter((c) => c.command.startsWith('Describe'));
    for (const c of describes) {
      const scoped = ['Filters', 'LaunchTemplateId', 'AutoScalingGroupNames', 'ImageIds', 'InstanceIds'].some((k) => k in c.input);
      expect([c.command, scoped]).toEqual([c.command, true]);
    }
    expect(describes.filter((c) => c.command === 'DescribeLaunchTemplatesCommand').map((c) => c.input.Filters)).toEqual([[{ Name: 'tag:herd:app', Values: ['shop'] }]]);
    expect(describes.filter((c) => c.command === 'DescribeAutoScalingGroupsCommand').map((c) => c.input.Filters ?? c.input.AutoScalingGroupNames)).toEqual([
      ['herd-staging-web'],
      [{ Name: 'tag:herd:app', Values: ['shop'] }],
    ]);
    // Two launch templates: staging's (untagged here, found by id) and production's (by tag); blog's is not read.
    expect(new Set(describes.filter((c) => c.command === 'DescribeLaunchTemplateVersionsCommand').map((c) => c.input.LaunchTemplateId)).size).toBe(2);
  });

  test('a peer\'s current image is kept because the peer is configured; its launch template\'s images because they carry the app tag', async () => {
    const state = deploy();
    const alone = { ...ctx, env: { ...env, peerEnvironments: [] } };
    const pending = await imagesToDeregister(alone, 'shop', 'staging', [state.image?.imageId ?? '', state.previous?.imageId ?? '']);
    expect(pending.map((p) => p.imageId).sort()).toEqual([img.promotedParameter, img.stale1, img.stale2].sort());
  });

  test('the record stage deregisters them, deletes their snapshots, writes the history and frees the lock', async () => {
    const state = deploy();
    await acquireLock(clients, env.tableName, state);
    const before = await snapshotsOf(Object.values(img));

    let result: StepResult = { poll: 0 };
    for (let i = 0; i < 10 && !('stageDone' in result); i++) {
      result = await stepOf(RECORD_STEPS, state.step)(state, ctx);
      if ('goto' in result) state.step = result.goto;
    }
    expect(result).toEqual({ stageDone: true });
    expect([...(state.retention?.deregistered ?? [])].sort()).toEqual([img.stale1, img.stale2].sort());
    expect(state.warnings).toEqual([]);

    const kept = Object.entries(img)
      .filter(([role]) => role !== 'stale1' && role !== 'stale2')
      .map(([, id]) => id)
      .sort();
    expect(await ownImages()).toEqual(kept);
    const remaining = await clients.ec2.send(new DescribeSnapshotsCommand({ OwnerIds: ['self'] }));
    const remainingIds = new Set((remaining.Snapshots ?? []).map((s) => s.SnapshotId));
    for (const [id, snapshot] of Object.entries(before)) {
      expect([id, remainingIds.has(snapshot)]).toEqual([id, id !== img.stale1 && id !== img.stale2]);
    }

    const history = await clients.dynamodb.send(new GetCommand({ TableName: env.tableName, Key: historyKey(state) }));
    expect(history.Item).toMatchObject({ status: 'succeeded', deployId: 'deploy-0007', release: 'r7', imageId: img.serving, previousRelease: 'r6' });
    expect([...((history.Item?.deregisteredImages as string[] | undefined) ?? [])].sort()).toEqual([img.stale1, img.stale2].sort());
    const lock = await clients.dynamodb.send(new GetCommand({ TableName: env.tableName, Key: { pk: 'LOCK', sk: 'LOCK' }, ConsistentRead: true }));
    expect(lock.Item).toBeUndefined();

    // Deregistering again (a retried step) is harmless: InvalidAMIID.* and InvalidSnapshot.NotFound are expected answers.
    await deregisterImage(ctx, img.stale1 ?? '', [before[img.stale1 ?? ''] ?? '']);
  });
});
