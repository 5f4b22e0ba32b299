import { AutoScalingClient, DescribeAutoScalingGroupsCommand, UpdateAutoScalingGroupCommand } from '@aws-sdk/client-auto-scaling';
import { DeleteParameterCommand, GetParameterCommand, ParameterAlreadyExists, PutParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import 'aws-sdk-client-mock-jest';
import { applyReleaseState, parseProperties, ReleaseStateProperties } from '../../lambda/release-state/release-state';

const ssm = mockClient(SSMClient);
const autoScaling = mockClient(AutoScalingClient);
const clients = { ssm: new SSMClient({}), autoScaling: new AutoScalingClient({}) };

/** A tiny parameter store: PutParameter honours Overwrite=false as SSM does. */
function parameterStore(initial: Record<string, string> = {}) {
  const values = { ...initial };
  ssm.on(PutParameterCommand).callsFake((input) => {
    if (values[input.Name] !== undefined && !input.Overwrite) {
      throw new ParameterAlreadyExists({ message: 'exists', $metadata: {} });
    }
    values[input.Name] = input.Value;
    return { Version: 1 };
  });
  ssm.on(GetParameterCommand).callsFake((input) => ({ Parameter: { Name: input.Name, Value: values[input.Name] } }));
  ssm.on(DeleteParameterCommand).callsFake((input) => {
    delete values[input.Name];
    return {};
  });
  return values;
}

const floors = (manageParameters: boolean): ReleaseStateProperties => ({
  currentImageParameter: '/herd/mootube/staging/current-image',
  currentReleaseParameter: '/herd/mootube/staging/current-release',
  initialImageId: 'ami-0base',
  noRelease: 'none',
  manageParameters,
  fleets: manageParameters ? [] : [
    { autoScalingGroupName: 'web-asg', minCapacity: 2, maxCapacity: 4 },
    { autoScalingGroupName: 'worker-asg', minCapacity: 1, maxCapacity: 1 },
  ],
});

beforeEach(() => {
  ssm.reset();
  autoScaling.reset();
  autoScaling.on(DescribeAutoScalingGroupsCommand).resolves({
    AutoScalingGroups: [
      { AutoScalingGroupName: 'web-asg', DesiredCapacity: 3, MinSize: 0, MaxSize: 4, AvailabilityZones: [], CreatedTime: new Date(), DefaultCooldown: 0, HealthCheckType: 'ELB', LaunchConfigurationName: undefined },
      { AutoScalingGroupName: 'worker-asg', DesiredCapacity: 0, MinSize: 0, MaxSize: 1, AvailabilityZones: [], CreatedTime: new Date(), DefaultCooldown: 0, HealthCheckType: 'EC2' },
    ],
  });
});

describe('the release parameters', () => {
  test('are created on a new environment: no release, the base image', async () => {
    const store = parameterStore();
    const result = await applyReleaseState('Create', floors(true), clients);
    expect(store).toEqual({ '/herd/mootube/staging/current-release': 'none', '/herd/mootube/staging/current-image': 'ami-0base' });
    expect(result.Data).toEqual({ Release: 'none', FloorsApplied: 'false' });
    expect(ssm).toHaveReceivedCommandWith(PutParameterCommand, { Name: '/herd/mootube/staging/current-image', DataType: 'aws:ec2:image', Overwrite: false });
  });

  test('are never overwritten once the deploy step owns them', async () => {
    const store = parameterStore({ '/herd/mootube/staging/current-release': 'v2-abcdef123456', '/herd/mootube/staging/current-image': 'ami-0release2' });
    await applyReleaseState('Update', floors(true), clients);
    expect(store['/herd/mootube/staging/current-image']).toBe('ami-0release2');
    expect(store['/herd/mootube/staging/current-release']).toBe('v2-abcdef123456');
  });

  test('are deleted with the stack', async () => {
    const store = parameterStore({ '/herd/mootube/staging/current-release': 'v2', '/herd/mootube/staging/current-image': 'ami-0release2' });
    await applyReleaseState('Delete', floors(true), clients);
    expect(store).toEqual({});
  });

  test('fails when another error than "already exists" happens, so CloudFormation reports it', async () => {
    ssm.on(PutParameterCommand).rejects(new Error('AccessDeniedException: not allowed'));
    await expect(applyReleaseState('Create', floors(true), clients)).rejects.toThrow('AccessDeniedException: not allowed');
  });
});

describe('the capacity floors', () => {
  test('are not applied before the first release: nothing launches', async () => {
    parameterStore({ '/herd/mootube/staging/current-release': 'none' });
    const result = await applyReleaseState('Create', floors(false), clients);
    expect(result.Data.FloorsApplied).toBe('false');
    expect(autoScaling).not.toHaveReceivedCommand(UpdateAutoScalingGroupCommand);
    expect(ssm).not.toHaveReceivedCommand(PutParameterCommand);
  });

  test('raise each fleet to its minimum once a release exists, keeping a larger desired capacity', async () => {
    parameterStore({ '/herd/mootube/staging/current-release': 'v1-0123456789ab' });
    const result = await applyReleaseState('Update', floors(false), clients);
    expect(result.Data).toEqual({ Release: 'v1-0123456789ab', FloorsApplied: 'true' });
    expect(autoScaling).toHaveReceivedCommandWith(UpdateAutoScalingGroupCommand, { AutoScalingGroupName: 'web-asg', MinSize: 2, MaxSize: 4, DesiredCapacity: 3 });
    expect(autoScaling).toHaveReceivedCommandWith(UpdateAutoScalingGroupCommand, { AutoScalingGroupName: 'worker-asg', MinSize: 1, MaxSize: 1, DesiredCapacity: 1 });
  });

  test('fails when a group is missing, naming it', async () => {
    parameterStore({ '/herd/mootube/staging/current-release': 'v1' });
    autoScaling.on(DescribeAutoScalingGroupsCommand).resolves({ AutoScalingGroups: [] });
    await expect(applyReleaseState('Update', floors(false), clients)).rejects.toThrow('Auto Scaling group web-asg not found; was it deleted outside CloudFormation?');
  });
});

describe('parseProperties', () => {
  test('accepts the strings CloudFormation sends for numbers and booleans', () => {
    expect(parseProperties({
      CurrentImageParameter: '/a', CurrentReleaseParameter: '/b', InitialImageId: 'ami-1', NoRelease: 'none', ManageParameters: 'false',
      Fleets: [{ AutoScalingGroupName: 'g', MinCapacity: '2', MaxCapacity: '5' }],
    })).toEqual({ currentImageParameter: '/a', currentReleaseParameter: '/b', initialImageId: 'ami-1', noRelease: 'none', manageParameters: false,
      fleets: [{ autoScalingGroupName: 'g', minCapacity: 2, maxCapacity: 5 }] });
  });

  test('fails when a property is missing, naming it', () => {
    expect(() => parseProperties({ CurrentImageParameter: '/a' })).toThrow('ResourceProperties.CurrentReleaseParameter must be a non-empty string, got undefined');
  });
});
