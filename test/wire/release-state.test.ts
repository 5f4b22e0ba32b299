/**
 * Wire level: the release-state custom resource (`lambda/release-state/release-state.ts`)
 * against SSM and Auto Scaling as moto implements them: PutParameter without Overwrite (the
 * real service's ParameterAlreadyExists must be recognised), GetParameter, DeleteParameter
 * (ParameterNotFound), DescribeAutoScalingGroups and UpdateAutoScalingGroup (floors read back
 * as MinSize/MaxSize/DesiredCapacity). Also the deploy step's `writeCurrent`, which overwrites.
 *
 * Every call here is supported by moto; nothing is faked.
 */
import { DescribeAutoScalingGroupsCommand, UpdateAutoScalingGroupCommand, type AutoScalingGroup } from '@aws-sdk/client-auto-scaling';
import { GetParameterCommand, ParameterAlreadyExists, PutParameterCommand } from '@aws-sdk/client-ssm';
import { writeCurrent } from '../../lambda/deploy/release';
import { applyReleaseState, type ReleaseStateProperties } from '../../lambda/release-state/release-state';
import { NO_RELEASE, parameterNames } from '../../lib/names';
import { startMoto } from '../support/moto';
import { baseImageId, createGroup, createLaunchTemplate, createNetwork, destroyClients, wireClients, type WireClients } from './cloud';
import { advanceContext, deployEnvironment, deployState } from './fixtures';

const names = parameterNames('shop', 'staging');

describe('wire: release state parameters and capacity floors on SSM and Auto Scaling (moto)', () => {
  const moto = startMoto();
  let clients: WireClients;
  let initialImage: string;

  beforeAll(async () => {
    clients = wireClients(await moto.ready);
  });
  afterAll(() => destroyClients(clients));
  beforeEach(async () => {
    await moto.server().reset();
    const network = await createNetwork(clients);
    initialImage = await baseImageId(clients);
    const webLt = await createLaunchTemplate(clients, 'herd-staging-web', initialImage, network.securityGroupId);
    const workerLt = await createLaunchTemplate(clients, 'herd-staging-worker', initialImage, network.securityGroupId);
    // As the stack creates them: no capacity until the first release.
    await createGroup(clients, network, 'herd-staging-web', webLt, { min: 0, max: 2, desired: 0 });
    await createGroup(clients, network, 'herd-staging-worker', workerLt, { min: 0, max: 5, desired: 0 });
  });

  function props(manageParameters: boolean, fleets: ReleaseStateProperties['fleets'] = []): ReleaseStateProperties {
    return {
      currentImageParameter: names.currentImage,
      currentReleaseParameter: names.currentRelease,
      initialImageId: initialImage,
      noRelease: NO_RELEASE,
      manageParameters,
      fleets,
    };
  }

  const floors = [
    { autoScalingGroupName: 'herd-staging-web', minCapacity: 2, maxCapacity: 6 },
    { autoScalingGroupName: 'herd-staging-worker', minCapacity: 1, maxCapacity: 3 },
  ];

  async function parameter(name: string): Promise<{ value?: string; dataType?: string; version?: number } | undefined> {
    try {
      const p = (await clients.ssm.send(new GetParameterCommand({ Name: name }))).Parameter;
      return { value: p?.Value, dataType: p?.DataType, version: p?.Version };
    } catch (err) {
      if (err instanceof Error && err.name === 'ParameterNotFound') return undefined;
      throw err;
    }
  }

  async function groups(): Promise<Record<string, { min?: number; max?: number; desired?: number }>> {
    const res = await clients.autoScaling.send(new DescribeAutoScalingGroupsCommand({ AutoScalingGroupNames: floors.map((f) => f.autoScalingGroupName) }));
    return Object.fromEntries(
      (res.AutoScalingGroups ?? []).map((g: AutoScalingGroup) => [g.AutoScalingGroupName ?? '', { min: g.MinSize, max: g.MaxSize, desired: g.DesiredCapacity }]),
    );
  }

  test('the service answers an existing parameter written without Overwrite with ParameterAlreadyExists', async () => {
    await clients.ssm.send(new PutParameterCommand({ Name: names.currentRelease, Value: 'r1', Type: 'String' }));
    const err: unknown = await clients.ssm
      .send(new PutParameterCommand({ Name: names.currentRelease, Value: 'r2', Type: 'String', Overwrite: false }))
      .then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(ParameterAlreadyExists);
    expect((await parameter(names.currentRelease))?.value).toBe('r1');
  });

  test('Create on a new environment: parameters created, no floors before the first release', async () => {
    const result = await applyReleaseState('Create', props(true), clients);
    expect(result).toEqual({ PhysicalResourceId: `${names.currentRelease}#parameters`, Data: { Release: NO_RELEASE, FloorsApplied: 'false' } });
    expect(await parameter(names.currentRelease)).toMatchObject({ value: NO_RELEASE, dataType: 'text', version: 1 });
    expect(await parameter(names.currentImage)).toMatchObject({ value: initialImage, dataType: 'aws:ec2:image', version: 1 });

    const capacity = await applyReleaseState('Create', props(false, floors), clients);
    expect(capacity).toEqual({ PhysicalResourceId: `${names.currentRelease}#capacity-floors`, Data: { Release: NO_RELEASE, FloorsApplied: 'false' } });
    expect(await groups()).toEqual({ 'herd-staging-web': { min: 0, max: 2, desired: 0 }, 'herd-staging-worker': { min: 0, max: 5, desired: 0 } });
  });

  test('Update after a deploy keeps the deploy\'s parameters and applies the floors', async () => {
    await applyReleaseState('Create', props(true), clients);
    // The deploy step took over the parameters (it overwrites them).
    const ctx = advanceContext(clients, deployEnvironment());
    await writeCurrent(ctx, deployState(ctx, { deployId: 'deploy-0001', release: 'r2' }), 'ami-0abc0abc0abc0abc0', 'r2');
    expect(await parameter(names.currentRelease)).toMatchObject({ value: 'r2', version: 2 });

    // A later `cdk deploy`: the parameters resource never rolls the release back.
    const again = await applyReleaseState('Update', props(true), clients);
    expect(again.Data).toEqual({ Release: 'r2', FloorsApplied: 'true' });
    expect(await parameter(names.currentRelease)).toMatchObject({ value: 'r2', version: 2 });
    expect(await parameter(names.currentImage)).toMatchObject({ value: 'ami-0abc0abc0abc0abc0', version: 2 });

    const capacity = await applyReleaseState('Update', props(false, floors), clients);
    expect(capacity.Data).toEqual({ Release: 'r2', FloorsApplied: 'true' });
    // Raised to the floor; the worker's ceiling lowered to 3.
    expect(await groups()).toEqual({ 'herd-staging-web': { min: 2, max: 6, desired: 2 }, 'herd-staging-worker': { min: 1, max: 3, desired: 1 } });
  });

  test('floors leave a desired count within range alone and lower one above the ceiling', async () => {
    await clients.ssm.send(new PutParameterCommand({ Name: names.currentRelease, Value: 'r2', Type: 'String' }));
    await clients.autoScaling.send(new UpdateAutoScalingGroupCommand({ AutoScalingGroupName: 'herd-staging-worker', DesiredCapacity: 4 }));
    await applyReleaseState(
      'Update',
      props(false, [
        { autoScalingGroupName: 'herd-staging-web', minCapacity: 0, maxCapacity: 2 },
        { autoScalingGroupName: 'herd-staging-worker', minCapacity: 1, maxCapacity: 3 },
      ]),
      clients,
    );
    expect(await groups()).toEqual({ 'herd-staging-web': { min: 0, max: 2, desired: 0 }, 'herd-staging-worker': { min: 1, max: 3, desired: 3 } });
  });

  test('fails when a group was deleted outside CloudFormation', async () => {
    await clients.ssm.send(new PutParameterCommand({ Name: names.currentRelease, Value: 'r2', Type: 'String' }));
    await expect(
      applyReleaseState('Update', props(false, [{ autoScalingGroupName: 'herd-staging-gone', minCapacity: 1, maxCapacity: 2 }]), clients),
    ).rejects.toThrow('Auto Scaling group herd-staging-gone not found; was it deleted outside CloudFormation?');
  });

  test('Delete removes the parameters, and is idempotent', async () => {
    await applyReleaseState('Create', props(true), clients);
    const result = await applyReleaseState('Delete', props(true), clients);
    expect(result.Data).toEqual({ Release: NO_RELEASE, FloorsApplied: 'false' });
    expect(await parameter(names.currentRelease)).toBeUndefined();
    expect(await parameter(names.currentImage)).toBeUndefined();
    await applyReleaseState('Delete', props(true), clients);
    // The floors resource leaves parameters alone on delete.
    await applyReleaseState('Create', props(true), clients);
    await applyReleaseState('Delete', props(false, floors), clients);
    expect((await parameter(names.currentRelease))?.value).toBe(NO_RELEASE);
  });
});
