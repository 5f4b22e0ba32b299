/**
 * Wire level: the bake steps (`lambda/deploy/bake.ts`) and the janitor (`janitor.ts`) against
 * EC2 and SSM as moto implements them: RunInstances with the builder's request shape
 * (TagSpecifications for instance and volume, ClientToken, MetadataOptions,
 * BlockDeviceMappings, IamInstanceProfile by ARN, shutdown behaviour, user data),
 * DescribeInstances with the deploy's tag/state filters, CreateImage with tags,
 * DescribeImages with the release filters, TerminateInstances, and the bake report as an
 * SSM parameter (GetParameter / DeleteParameter, ParameterNotFound from the real service).
 *
 * Not supported by moto, so not exercised here (the simulation in `lib/simulation/` covers them):
 * - CreateImage with a `snapshot` TagSpecification: moto 5 raises NotImplementedError
 *   (HTTP 500). The test client drops that one entry before sending (`dropSnapshotTagsOnCreateImage`)
 *   and asserts herd sent it with the image's tags.
 * - RunInstances' ClientToken idempotency: moto stores the token but launches again. herd does
 *   not rely on it alone (a retried launch finds its builder by tag first), which is tested.
 * - Image and instance state transitions take no time in moto (`pending` images never occur),
 *   so the waits' polling and timeouts are the simulation's job.
 */
import {
  DescribeImagesCommand,
  DescribeInstanceAttributeCommand,
  DescribeInstancesCommand,
  DescribeVolumesCommand,
  RunInstancesCommand,
  StopInstancesCommand,
  TerminateInstancesCommand,
  type Instance,
} from '@aws-sdk/client-ec2';
import { GetParameterCommand, PutParameterCommand } from '@aws-sdk/client-ssm';
import { BAKE_STEPS, builderUserData } from '../../lambda/deploy/bake';
import type { DeployEnvironment } from '../../lambda/deploy/environment';
import { janitor } from '../../lambda/deploy/janitor';
import type { DeployState } from '../../lambda/deploy/state';
import { REPORT_GRACE_SECONDS, deployTags, type AdvanceContext } from '../../lambda/deploy/step';
import { TAGS, parameterNames } from '../../lib/names';
import { startMoto } from '../support/moto';
import {
  baseImageId,
  createArtifactsBucket,
  createInstanceProfile,
  createNetwork,
  destroyClients,
  dropSnapshotTagsOnCreateImage,
  recordCalls,
  wireClients,
  type Network,
  type RecordedCall,
  type WireClients,
} from './cloud';
import { ManualClock, advanceContext, deployEnvironment, deployState, stepOf } from './fixtures';

const step = (name: string) => stepOf(BAKE_STEPS, name);

describe('wire: bake on EC2 (moto)', () => {
  const moto = startMoto();
  let clients: WireClients;
  let calls: RecordedCall[];
  let network: Network;
  let env: DeployEnvironment;
  let ctx: AdvanceContext;
  let clock: ManualClock;

  beforeAll(async () => {
    clients = wireClients(await moto.ready);
    calls = recordCalls(clients.ec2);
    dropSnapshotTagsOnCreateImage(clients.ec2);
  });
  afterAll(() => destroyClients(clients));
  beforeEach(async () => {
    await moto.server().reset();
    calls.length = 0;
    network = await createNetwork(clients);
    env = deployEnvironment({
      builderImageId: await baseImageId(clients),
      builderInstanceProfileArn: await createInstanceProfile(moto.server(), 'herd-staging-builder'),
      subnetIds: network.subnetIds,
      builderSecurityGroupIds: [network.securityGroupId],
      builderVolumeGiB: 30,
    });
    // The artifacts as `herd deploy` would not have uploaded them: without a provision hash (one bake, no base image).
    await createArtifactsBucket(clients, env.artifacts.bucket, ['r2', 'r3']);
    clock = new ManualClock();
    ctx = advanceContext(clients, env, clock);
  });

  async function instance(id: string): Promise<Instance> {
    const res = await clients.ec2.send(new DescribeInstancesCommand({ InstanceIds: [id] }));
    const found = res.Reservations?.[0]?.Instances?.[0];
    if (!found) throw new Error(`instance ${id} not found`);
    return found;
  }

  async function report(state: DeployState, id: string, value: object): Promise<void> {
    await clients.ssm.send(
      new PutParameterCommand({ Name: `${parameterNames(state.app, state.env).bakeRunsPrefix}${id}`, Value: JSON.stringify(value), Type: 'String' }),
    );
  }

  const tagMap = (tags: { Key?: string; Value?: string }[] | undefined) => Object.fromEntries((tags ?? []).map((t) => [t.Key ?? '', t.Value ?? '']));

  async function launchBuilder(state: DeployState): Promise<string> {
    expect(await step('bake.find')(state, ctx)).toEqual({ goto: 'bake.base' });
    // The artifact carries no provision hash (uploaded without herd): one bake, no base image.
    expect(await step('bake.base')(state, ctx)).toEqual({ goto: 'bake.launch' });
    expect(await step('bake.launch')(state, ctx)).toEqual({ goto: 'bake.waitBuilder' });
    const id = state.builderId;
    if (!id) throw new Error('no builder id in the state');
    return id;
  }

  test('launches the builder with a request shape EC2 accepts', async () => {
    const state = deployState(ctx, { deployId: 'deploy-0001', release: 'r2' });
    const id = await launchBuilder(state);

    const run = calls.find((c) => c.command === 'RunInstancesCommand');
    expect(run?.input).toMatchObject({ ClientToken: 'deploy-0001-builder', MinCount: 1, MaxCount: 1 });

    const i = await instance(id);
    expect(i.ImageId).toBe(env.instances.builderImageId);
    expect(i.InstanceType).toBe('t3.small');
    expect(i.SubnetId).toBe(network.subnetIds[0]);
    expect(i.SecurityGroups?.map((g) => g.GroupId)).toEqual([network.securityGroupId]);
    expect(i.IamInstanceProfile?.Arn).toBe(env.instances.builderInstanceProfileArn);
    expect(i.MetadataOptions).toMatchObject({ HttpTokens: 'required', HttpEndpoint: 'enabled' });
    // The deploy's tags, and which layer the builder bakes (`herd:bake`: a release in one go here).
    expect(tagMap(i.Tags)).toEqual({ ...tagMap(deployTags(state, 'builder')), [TAGS.bake]: 'release' });
    expect(tagMap(i.Tags)).toMatchObject({ [TAGS.role]: 'builder', [TAGS.deploy]: 'deploy-0001', [TAGS.release]: 'r2' });

    const shutdown = await clients.ec2.send(new DescribeInstanceAttributeCommand({ InstanceId: id, Attribute: 'instanceInitiatedShutdownBehavior' }));
    expect(shutdown.InstanceInitiatedShutdownBehavior?.Value).toBe('stop');
    const userData = await clients.ec2.send(new DescribeInstanceAttributeCommand({ InstanceId: id, Attribute: 'userData' }));
    expect(Buffer.from(userData.UserData?.Value ?? '', 'base64').toString('utf8')).toBe(builderUserData(state, ctx));

    // The root volume as requested, tagged like the instance.
    const root = i.BlockDeviceMappings?.find((b) => b.DeviceName === '/dev/xvda');
    expect(root?.Ebs?.VolumeId).toBeDefined();
    const volumes = await clients.ec2.send(new DescribeVolumesCommand({ VolumeIds: [root?.Ebs?.VolumeId ?? ''] }));
    expect(volumes.Volumes?.[0]).toMatchObject({ Size: 30, VolumeType: 'gp3', Encrypted: true });
    expect(tagMap(volumes.Volumes?.[0]?.Tags)).toMatchObject({ [TAGS.role]: 'builder', [TAGS.deploy]: 'deploy-0001' });
  });

  test('a retried launch adopts its builder instead of launching a second one', async () => {
    const state = deployState(ctx, { deployId: 'deploy-0001' });
    const id = await launchBuilder(state);
    // The Lambda died after RunInstances, before its state was saved.
    const retried = deployState(ctx, { deployId: 'deploy-0001' });
    expect(await step('bake.launch')(retried, ctx)).toEqual({ goto: 'bake.waitBuilder' });
    expect(retried.builderId).toBe(id);
    expect(calls.filter((c) => c.command === 'RunInstancesCommand')).toHaveLength(1);
  });

  test('a successful bake: image created from the stopped builder and tagged, builder terminated, report deleted', async () => {
    const state = deployState(ctx, { deployId: 'deploy-0001', release: 'r2' });
    const id = await launchBuilder(state);

    expect(await step('bake.waitBuilder')(state, ctx)).toEqual({ poll: 15 });
    await report(state, id, { exitCode: 0, logTail: 'installed r2', processes: ['web', 'worker', 'release'] });
    // Reported but not powered off yet: wait for it.
    expect(await step('bake.waitBuilder')(state, ctx)).toEqual({ poll: 10 });
    await clients.ec2.send(new StopInstancesCommand({ InstanceIds: [id] }));
    expect(await step('bake.waitBuilder')(state, ctx)).toEqual({ goto: 'bake.createImage' });

    expect(await step('bake.createImage')(state, ctx)).toEqual({ goto: 'bake.waitImage' });
    const imageId = state.image?.imageId ?? '';
    expect(imageId).toMatch(/^ami-/);
    const expectedTags = {
      [TAGS.app]: 'shop',
      [TAGS.environment]: 'staging',
      [TAGS.deploy]: 'deploy-0001',
      [TAGS.release]: 'r2',
      [TAGS.processes]: 'web worker release',
      Name: 'herd-shop-r2',
    };
    const create = calls.find((c) => c.command === 'CreateImageCommand')?.input;
    expect(create).toMatchObject({ InstanceId: id, Name: 'herd-shop-r2-deploy-0001', Description: 'herd shop release r2' });
    const specs = (create?.TagSpecifications ?? []) as { ResourceType: string; Tags: { Key: string; Value: string }[] }[];
    expect(specs.map((s) => s.ResourceType)).toEqual(['image', 'snapshot']);
    for (const s of specs) expect(tagMap(s.Tags)).toEqual(expectedTags);

    const images = await clients.ec2.send(new DescribeImagesCommand({ ImageIds: [imageId] }));
    expect(images.Images?.[0]).toMatchObject({ Name: 'herd-shop-r2-deploy-0001', State: 'available' });
    expect(tagMap(images.Images?.[0]?.Tags)).toEqual(expectedTags);

    // A retried createImage finds the image by its deploy tag instead of creating another.
    expect(await step('bake.createImage')(state, ctx)).toEqual({ goto: 'bake.waitImage' });
    expect(state.image).toEqual({ imageId, reused: false, processes: ['web', 'worker', 'release'] });
    expect(calls.filter((c) => c.command === 'CreateImageCommand')).toHaveLength(1);

    expect(await step('bake.waitImage')(state, ctx)).toEqual({ goto: 'bake.terminateBuilder' });
    expect(await step('bake.terminateBuilder')(state, ctx)).toEqual({ stageDone: true });
    expect((await instance(id)).State?.Name).toMatch(/^(shutting-down|terminated)$/);
    await expect(
      clients.ssm.send(new GetParameterCommand({ Name: `${parameterNames('shop', 'staging').bakeRunsPrefix}${id}` })),
    ).rejects.toMatchObject({ name: 'ParameterNotFound' });
    // Terminating again (a retried step) is harmless.
    expect(await step('bake.terminateBuilder')(state, ctx)).toEqual({ stageDone: true });

    // The next deploy of the same release reuses the image: no builder.
    const next = deployState(ctx, { deployId: 'deploy-0002', release: 'r2' });
    expect(await step('bake.find')(next, ctx)).toEqual({ stageDone: true });
    expect(next.image).toEqual({ imageId, reused: true, processes: ['web', 'worker', 'release'] });
    // Another release does not.
    expect(await step('bake.find')(deployState(ctx, { deployId: 'deploy-0003', release: 'r3' }), ctx)).toEqual({ goto: 'bake.base' });
  });

  test('fails when the builder reports a failed bake', async () => {
    const state = deployState(ctx, { deployId: 'deploy-0001' });
    const id = await launchBuilder(state);
    await report(state, id, { exitCode: 3, logTail: 'pip install failed: no matching distribution\n' });
    await expect(step('bake.waitBuilder')(state, ctx)).rejects.toThrow(
      `bake failed on builder ${id} (exit 3): pip install failed: no matching distribution`,
    );
  });

  test('fails when the builder is gone without a report', async () => {
    const state = deployState(ctx, { deployId: 'deploy-0001' });
    const id = await launchBuilder(state);
    await clients.ec2.send(new TerminateInstancesCommand({ InstanceIds: [id] }));
    const s = (await instance(id)).State?.Name;
    // A report written just before the power-off may not be readable yet: one more look, a minute on.
    expect(await step('bake.waitBuilder')(state, ctx)).toEqual({ poll: 10 });
    clock.advance(REPORT_GRACE_SECONDS);
    await expect(step('bake.waitBuilder')(state, ctx)).rejects.toThrow(`builder ${id} is ${s} and never reported its bake`);
  });

  test('fails when asked to image a builder that has not stopped', async () => {
    const state = deployState(ctx, { deployId: 'deploy-0001' });
    const id = await launchBuilder(state);
    await expect(step('bake.createImage')(state, ctx)).rejects.toThrow(`builder ${id} is running; its image is only created once it has stopped`);
    expect(calls.filter((c) => c.command === 'CreateImageCommand')).toHaveLength(0);
  });

  test('fails when the builder report is not JSON', async () => {
    const state = deployState(ctx, { deployId: 'deploy-0001' });
    const id = await launchBuilder(state);
    await clients.ssm.send(new PutParameterCommand({ Name: `${parameterNames('shop', 'staging').bakeRunsPrefix}${id}`, Value: 'oops', Type: 'String' }));
    await expect(step('bake.waitBuilder')(state, ctx)).rejects.toThrow(`report /herd/shop/staging/bake-runs/${id} is not JSON: oops`);
  });

  test('the janitor terminates builders and runners other deploys left, not this deploy\'s nor the fleet', async () => {
    const old = deployState(ctx, { deployId: 'deploy-0001' });
    const leftover = await launchBuilder(old);
    const mine = deployState(ctx, { deployId: 'deploy-0002' });
    const own = await launchBuilder(mine);
    // A fleet instance of the same environment (no herd:role builder/release).
    const fleet = await clients.ec2.send(
      new RunInstancesCommand({
        ImageId: env.instances.builderImageId,
        MinCount: 1,
        MaxCount: 1,
        SubnetId: network.subnetIds[0],
        TagSpecifications: [{ ResourceType: 'instance', Tags: [{ Key: TAGS.app, Value: 'shop' }, { Key: TAGS.environment, Value: 'staging' }, { Key: TAGS.role, Value: 'web' }] }],
      }),
    );
    const fleetId = fleet.Instances?.[0]?.InstanceId ?? '';

    expect(await janitor(mine, ctx)).toEqual({ stageDone: true });
    expect(mine.leftoversTerminated).toBe(1);
    expect(mine.warnings).toContain(`terminated 1 builder/runner instance(s) left by an earlier deploy: ${leftover}`);
    expect((await instance(leftover)).State?.Name).toMatch(/^(shutting-down|terminated)$/);
    expect((await instance(own)).State?.Name).toBe('running');
    expect((await instance(fleetId)).State?.Name).toBe('running');
  });
});
