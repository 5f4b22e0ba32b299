/**
 * Wire level: the rollout steps moto can run (`lambda/deploy/rollout.ts`): a `full` deploy's
 * replace (DescribeAutoScalingGroups, SuspendProcesses, UpdateAutoScalingGroup with a
 * launch-template version, DescribeTargetHealth, TerminateInstanceInAutoScalingGroup,
 * ResumeProcesses), a first release's capacity floor, and verify (DescribeInstances by id).
 *
 * NOT supported by moto, so not exercised here (the project's fake in `lib/simulation/`
 * covers them): StartInstanceRefresh, DescribeInstanceRefreshes, RollbackInstanceRefresh,
 * CancelInstanceRefresh — i.e. the `refresh.start`/`refresh.wait` steps of a rolling deploy
 * onto a running fleet, and `compensate.refresh`/`compensate.waitRefresh`.
 * moto also puts instances in service and healthy at once (no warmup, no health checks), so
 * the waits' polling and timeouts are the simulation's job.
 *
 * moto gap that shapes these tests: an Auto Scaling group launches from, and reports for every
 * instance, the launch template's *default* version, whatever version the group is set to.
 * So `replace.waitNew` (which counts instances of the new version) cannot see a new fleet
 * beside an old one: the `full` test runs record → scaleOut, then terminateOld → restore,
 * and leaves waitNew and verify to the simulation. moto also leaves instances terminated
 * through TerminateInstanceInAutoScalingGroup registered in the target group. The first-release floor test makes the
 * new version the default in moto (no old instances exist there), so its wait and verify run.
 */
import { DescribeAutoScalingGroupsCommand, type AutoScalingGroup } from '@aws-sdk/client-auto-scaling';
import { CreateImageCommand, CreateLaunchTemplateVersionCommand, DescribeInstancesCommand, ModifyLaunchTemplateCommand, RunInstancesCommand } from '@aws-sdk/client-ec2';
import { DescribeTargetHealthCommand } from '@aws-sdk/client-elastic-load-balancing-v2';
import type { DeployEnvironment } from '../../lambda/deploy/environment';
import { FULL_SUSPENDED_PROCESSES, ROLLOUT_STEPS } from '../../lambda/deploy/rollout';
import type { DeployState } from '../../lambda/deploy/state';
import type { AdvanceContext, StepResult } from '../../lambda/deploy/step';
import { startMoto } from '../support/moto';
import {
  baseImageId,
  createGroup,
  createLaunchTemplate,
  createLoadBalancer,
  createNetwork,
  destroyClients,
  recordCalls,
  wireClients,
  type LoadBalancer,
  type Network,
  type RecordedCall,
  type WireClients,
} from './cloud';
import { ManualClock, advanceContext, deployEnvironment, deployState, stepOf } from './fixtures';

const GROUP = 'herd-staging-web';

describe('wire: full replace and capacity floors on Auto Scaling and ELBv2 (moto)', () => {
  const moto = startMoto();
  let clients: WireClients;
  let calls: RecordedCall[];
  let network: Network;
  let lb: LoadBalancer;
  let lt: string;
  let servingImage: string;
  let newImage: string;

  beforeAll(async () => {
    clients = wireClients(await moto.ready);
    calls = recordCalls(clients.autoScaling);
  });
  afterAll(() => destroyClients(clients));
  beforeEach(async () => {
    await moto.server().reset();
    calls.length = 0;
    network = await createNetwork(clients);
    lb = await createLoadBalancer(clients, network, 'herd-staging');
    servingImage = await baseImageId(clients);
    const source = await clients.ec2.send(new RunInstancesCommand({ ImageId: servingImage, MinCount: 1, MaxCount: 1, SubnetId: network.subnetIds[0] }));
    newImage = (await clients.ec2.send(new CreateImageCommand({ InstanceId: source.Instances?.[0]?.InstanceId ?? '', Name: 'herd-shop-r2' }))).ImageId ?? '';
    lt = await createLaunchTemplate(clients, GROUP, servingImage, network.securityGroupId);
    // Version 2: what the launch-template stage created for the new release.
    await clients.ec2.send(new CreateLaunchTemplateVersionCommand({ LaunchTemplateId: lt, SourceVersion: '1', LaunchTemplateData: { ImageId: newImage, InstanceType: 't3.small' } }));
  });

  function environment(capacity: { min: number; max: number }): { env: DeployEnvironment; ctx: AdvanceContext } {
    const env = deployEnvironment({
      webGroupName: GROUP,
      webLaunchTemplateId: lt,
      webCapacity: capacity,
      listenerArn: lb.listenerArn,
      targetGroupArn: lb.targetGroupArn,
      subnetIds: network.subnetIds,
    });
    return { env, ctx: advanceContext(clients, env, new ManualClock()) };
  }

  async function group(): Promise<AutoScalingGroup> {
    const res = await clients.autoScaling.send(new DescribeAutoScalingGroupsCommand({ AutoScalingGroupNames: [GROUP] }));
    const g = res.AutoScalingGroups?.[0];
    if (!g) throw new Error('group not found');
    return g;
  }

  /** Runs steps from `state.step` until the stage is done (bounded). */
  async function runStage(state: DeployState, ctx: AdvanceContext): Promise<string[]> {
    const visited: string[] = [];
    let result: StepResult = { poll: 0 };
    for (let i = 0; i < 20 && !('stageDone' in result); i++) {
      visited.push(state.step);
      result = await stepOf(ROLLOUT_STEPS, state.step)(state, ctx);
      if ('goto' in result) state.step = result.goto;
    }
    if (!('stageDone' in result)) throw new Error(`stage did not finish: ${visited.join(' → ')}`);
    return visited;
  }

  function newRelease(ctx: AdvanceContext, strategy: 'full' | 'rolling'): DeployState {
    const state = deployState(ctx, { deployId: 'deploy-0001', release: 'r2', strategy });
    state.image = { imageId: newImage, reused: false };
    state.previous = { imageId: servingImage, release: 'r1', versions: { web: '1' } };
    state.next = { versions: { web: '2' } };
    return state;
  }

  test('full: the new fleet is launched beside the old one, the old one goes, the group is restored', async () => {
    await createGroup(clients, network, GROUP, lt, { min: 1, max: 2, desired: 2 }, '1', [lb.targetGroupArn]);
    const { ctx } = environment({ min: 1, max: 2 });
    const old = (await group()).Instances?.map((i) => i.InstanceId ?? '') ?? [];
    expect(old).toHaveLength(2);

    const state = newRelease(ctx, 'full');
    expect(await stepOf(ROLLOUT_STEPS, 'replace.record')(state, ctx)).toEqual({ goto: 'replace.scaleOut' });
    expect(state.full?.groups?.web).toMatchObject({ desired: 2, min: 1, max: 2, target: 2 });
    expect([...(state.full?.groups?.web?.oldInstanceIds ?? [])].sort()).toEqual([...old].sort());

    expect(await stepOf(ROLLOUT_STEPS, 'replace.scaleOut')(state, ctx)).toEqual({ goto: 'replace.waitNew' });
    expect(calls.find((c) => c.command === 'UpdateAutoScalingGroupCommand')?.input).toEqual({
      AutoScalingGroupName: GROUP,
      LaunchTemplate: { LaunchTemplateId: lt, Version: '2' },
      MaxSize: 4,
      DesiredCapacity: 4,
    });
    const out = await group();
    expect({ max: out.MaxSize, desired: out.DesiredCapacity, version: out.LaunchTemplate?.Version }).toEqual({ max: 4, desired: 4, version: '2' });
    expect(out.Instances).toHaveLength(4);
    expect((out.SuspendedProcesses ?? []).map((p) => p.ProcessName).sort()).toEqual([...FULL_SUSPENDED_PROCESSES].sort());
    const fresh = (out.Instances ?? []).map((i) => i.InstanceId ?? '').filter((id) => !old.includes(id));
    expect(fresh).toHaveLength(2);

    // (replace.waitNew: see the header.)
    expect(await stepOf(ROLLOUT_STEPS, 'replace.terminateOld')(state, ctx)).toEqual({ goto: 'replace.restore' });
    expect(calls.filter((c) => c.command === 'TerminateInstanceInAutoScalingGroupCommand').map((c) => c.input)).toEqual(
      old.map((InstanceId) => ({ InstanceId, ShouldDecrementDesiredCapacity: true })),
    );
    expect(await stepOf(ROLLOUT_STEPS, 'replace.restore')(state, ctx)).toEqual({ stageDone: true });

    const after = await group();
    expect({ min: after.MinSize, max: after.MaxSize, desired: after.DesiredCapacity }).toEqual({ min: 1, max: 2, desired: 2 });
    expect(after.LaunchTemplate).toMatchObject({ LaunchTemplateId: lt, Version: '2' });
    expect(after.SuspendedProcesses ?? []).toEqual([]);
    expect((after.Instances ?? []).map((i) => i.InstanceId).sort()).toEqual([...fresh].sort());
    // The old instances are gone from EC2 (moto keeps them registered in the target group; EC2 would not).
    const states = await clients.ec2.send(new DescribeInstancesCommand({ InstanceIds: old }));
    expect((states.Reservations ?? []).flatMap((r) => r.Instances ?? []).map((i) => i.State?.Name)).toEqual(
      old.map(() => expect.stringMatching(/^(shutting-down|terminated)$/)),
    );
  });

  test('rolling, first release: a group with nothing to refresh is moved to its floor on the new version', async () => {
    await createGroup(clients, network, GROUP, lt, { min: 0, max: 2, desired: 0 }, '1', [lb.targetGroupArn]);
    // moto launches (and labels) group instances from the default version: see the header.
    await clients.ec2.send(new ModifyLaunchTemplateCommand({ LaunchTemplateId: lt, DefaultVersion: '2' }));
    const { ctx } = environment({ min: 2, max: 4 });
    const state = newRelease(ctx, 'rolling');
    state.step = 'refresh.start';
    const steps = await runStage(state, ctx);
    // Roles roll as one batch (deploy.rolling.parallelRoles): the wait and the floor check run
    // over the roles that started a refresh — none here — before the empty group gets its floor.
    expect(steps).toEqual(['refresh.start', 'refresh.wait', 'refresh.checkFloor', 'refresh.floor', 'refresh.waitFloor']);
    expect(state.floors).toEqual({ web: { desired: 0, min: 0, max: 2 } });
    expect(state.refreshes).toEqual({});
    // No instance refresh was asked for (moto could not have answered one).
    expect(calls.map((c) => c.command).filter((c) => /InstanceRefresh/.test(c))).toEqual([]);

    const g = await group();
    expect({ min: g.MinSize, max: g.MaxSize, desired: g.DesiredCapacity, version: g.LaunchTemplate?.Version }).toEqual({ min: 2, max: 4, desired: 2, version: '2' });
    const health = await clients.elbv2.send(new DescribeTargetHealthCommand({ TargetGroupArn: lb.targetGroupArn }));
    const ids = (g.Instances ?? []).map((i) => i.InstanceId);
    expect((health.TargetHealthDescriptions ?? []).map((t) => t.Target?.Id).sort()).toEqual([...ids].sort());

    // verify: every healthy target runs the new image.
    expect(await stepOf(ROLLOUT_STEPS, 'verify.targets')(state, ctx)).toEqual({ goto: 'verify.watch' });
    // No alarm watch configured for this environment: the stage ends.
    expect(await stepOf(ROLLOUT_STEPS, 'verify.watch')(state, ctx)).toEqual({ stageDone: true });
  });
});
