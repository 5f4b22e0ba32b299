/** The thin advance handler: environment parsing, input validation, one real step against mocked SDK clients. */
import { AutoScalingClient, DescribeAutoScalingGroupsCommand, DescribeInstanceRefreshesCommand } from '@aws-sdk/client-auto-scaling';
import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { GetParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { DeleteCommand, DynamoDBDocumentClient, GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import 'aws-sdk-client-mock-jest';
import { handler, resetEnvironmentForTests } from '../../lambda/deploy/handler';
import { isDeployState, type DeployState } from '../../lambda/deploy/state';
import { createWorld } from '../../lib/simulation/world';

const ddb = mockClient(DynamoDBDocumentClient);
const cloudFormation = mockClient(CloudFormationClient);
const ssm = mockClient(SSMClient);
const autoScaling = mockClient(AutoScalingClient);
const env = createWorld({ web: 2, worker: 1, serving: 'r1' }).env;

beforeEach(() => {
  ddb.reset();
  cloudFormation.reset();
  cloudFormation.on(DescribeStacksCommand).resolves({ Stacks: [{ StackName: 'herd-staging', StackStatus: 'UPDATE_COMPLETE', CreationTime: new Date(0) }] });
  // The pre-flight reads: r1 serves; the groups run nothing unusual.
  ssm.reset();
  ssm.on(GetParameterCommand).resolves({ Parameter: { Name: '/herd/shop/staging/current-release', Value: 'r1' } });
  autoScaling.reset();
  autoScaling.on(DescribeAutoScalingGroupsCommand).resolves({
    AutoScalingGroups: [env.fleets.web, env.fleets.worker!].map((f) => ({ AutoScalingGroupName: f.autoScalingGroupName, MinSize: 1, MaxSize: 4, DesiredCapacity: 2, AvailabilityZones: [], HealthCheckType: 'ELB', DefaultCooldown: 300, CreatedTime: new Date(0), SuspendedProcesses: [] })),
  });
  autoScaling.on(DescribeInstanceRefreshesCommand).resolves({ InstanceRefreshes: [] });
  resetEnvironmentForTests();
  process.env.DEPLOY_ENVIRONMENT = JSON.stringify(env);
});

afterAll(() => {
  delete process.env.DEPLOY_ENVIRONMENT;
});

async function firstState(): Promise<DeployState> {
  return handler({ release: 'r2', actor: 'alice', deployId: 'deploy-0001' });
}

describe('advance handler', () => {
  test('turns an execution input into the first state without calling AWS', async () => {
    const state = await firstState();
    expect(isDeployState(state)).toBe(true);
    expect(state).toMatchObject({ step: 'lock.acquire', release: 'r2', actor: 'alice', strategy: 'rolling', waitSeconds: 0, done: false });
    expect(state.plan).toEqual(['lock', 'bake', 'launchTemplate', 'migrate', 'refresh', 'verify', 'record']);
    expect(state.artifactKey).toBe('releases/r2.tar.gz');
    expect(ddb.calls()).toHaveLength(0);
  });

  test('takes the lock with a conditional write, then runs the pre-flight checks', async () => {
    ddb.on(PutCommand).resolves({});
    const state = await handler(await firstState());
    expect(state.step).toBe('lock.preflight');
    expect(ddb).toHaveReceivedCommandWith(PutCommand, {
      TableName: 'herd-staging-deploys',
      ConditionExpression: 'attribute_not_exists(pk) OR deployId = :deployId',
      ExpressionAttributeValues: { ':deployId': 'deploy-0001' },
    });
  });

  test('fails while CloudFormation updates the environment stack, freeing the lock again and writing no history', async () => {
    ddb.on(PutCommand).resolves({});
    ddb.on(DeleteCommand).resolves({});
    cloudFormation.on(DescribeStacksCommand).resolves({ Stacks: [{ StackName: 'herd-staging', StackStatus: 'UPDATE_IN_PROGRESS', CreationTime: new Date(0) }] });
    await expect(handler(await firstState())).rejects.toThrow(
      'stack herd-staging is UPDATE_IN_PROGRESS: CloudFormation is changing environment staging (launch templates and groups among it); nothing was changed. Deploy again once `cdk deploy` has finished.',
    );
    expect(ddb).toHaveReceivedCommandWith(DeleteCommand, { Key: { pk: 'LOCK', sk: 'LOCK' }, ConditionExpression: 'deployId = :deployId', ExpressionAttributeValues: { ':deployId': 'deploy-0001' } });
    const history = ddb.commandCalls(PutCommand).filter((c) => c.args[0].input.Item?.pk === 'DEPLOY');
    expect(history).toHaveLength(0);
  });

  test('fails when the environment stack is stuck after a failed update, naming its status', async () => {
    ddb.on(PutCommand).resolves({});
    ddb.on(DeleteCommand).resolves({});
    cloudFormation.on(DescribeStacksCommand).resolves({ Stacks: [{ StackName: 'herd-staging', StackStatus: 'UPDATE_ROLLBACK_FAILED', CreationTime: new Date(0) }] });
    await expect(handler(await firstState())).rejects.toThrow(/^stack herd-staging is UPDATE_ROLLBACK_FAILED: its last change did not complete/);
  });

  test('fails when another deploy holds the lock, naming it', async () => {
    ddb.on(PutCommand).rejects(new ConditionalCheckFailedException({ message: 'The conditional request failed', $metadata: {} }));
    ddb.on(GetCommand).resolves({ Item: { pk: 'LOCK', sk: 'LOCK', deployId: 'deploy-0000', actor: 'bob', release: 'r9', since: '2026-11-05T09:00:00.000Z' } });
    const start = await firstState();
    await expect(handler(start)).rejects.toThrow(
      'environment staging is locked by deploy deploy-0000 (bob, release r9) since 2026-11-05T09:00:00.000Z; if that deploy is no longer running, break the lock with `herd unlock staging --deploy deploy-0000`',
    );
    expect(ddb).not.toHaveReceivedCommand(DeleteCommand);
  });

  test('a throttled call leaves the state as it was and asks for a backoff', async () => {
    ddb.on(PutCommand).rejects(Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException', $metadata: { httpStatusCode: 400 } }));
    const start = await firstState();
    const next = await handler(start);
    expect(next).toEqual({ ...start, transientErrors: 1, waitSeconds: 2 });
  });

  test('fails when the input is malformed, listing every problem', async () => {
    await expect(handler({ release: '../etc', strategy: 'blue-green' })).rejects.toThrow(
      'invalid deploy input: release must match /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/ (received "../etc"); strategy must be one of rolling, full (received "blue-green"); actor must be a non-empty string of at most 200 characters (received undefined)',
    );
  });

  test('fails when a rolling deploy asks to migrate inside a maintenance window', async () => {
    await expect(handler({ release: 'r2', actor: 'alice', strategy: 'rolling', migrationOrder: 'maintenance' })).rejects.toThrow(
      'migrationOrder "maintenance" needs strategy "full" (a rolling deploy has no maintenance window)',
    );
  });

  test('fails when DEPLOY_ENVIRONMENT is not set', async () => {
    delete process.env.DEPLOY_ENVIRONMENT;
    await expect(firstState()).rejects.toThrow('invalid deploy environment: DEPLOY_ENVIRONMENT is not set');
  });

  test('fails when DEPLOY_ENVIRONMENT is malformed, listing every problem', async () => {
    process.env.DEPLOY_ENVIRONMENT = JSON.stringify({
      ...env,
      fleets: {
        web: { autoScalingGroupName: 'herd-staging-web', launchTemplateId: 'web', minCapacity: 5, maxCapacity: 3 },
        worker: { autoScalingGroupName: 'herd-staging-worker', launchTemplateId: 'lt-0a', minCapacity: 1.5 },
      },
      loadBalancer: { ...env.loadBalancer, maintenancePriority: 0 },
      instances: { ...env.instances, builderVolumeGiB: 4, scripts: { bucket: 'assets', key: 'instance.tar.gz' } },
      amiRetention: 0,
    });
    await expect(firstState()).rejects.toThrow(
      'invalid deploy environment: environment.fleets.web.launchTemplateId must match /^lt-[0-9a-f]+$/ (received "web"); ' +
        'environment.fleets.web.minCapacity (5) must be <= maxCapacity (3); ' +
        'environment.fleets.worker.minCapacity must be an integer from 0 to 500 (received 1.5); ' +
        'environment.fleets.worker.maxCapacity must be an integer from 1 to 500 (received undefined); ' +
        'environment.loadBalancer.maintenancePriority must be a number from 1 to 50000 (received 0); ' +
        'environment.instances.builderVolumeGiB must be an integer from 8 to 16384 (received 4); ' +
        'environment.instances.scripts.key must match /^[^/].*\\.zip$/ (received "instance.tar.gz"); ' +
        'environment.amiRetention must be a number from 1 to 100 (received 0)',
    );
  });

  test('fails when DEPLOY_ENVIRONMENT has no peerEnvironments (a stack older than the function)', async () => {
    const { peerEnvironments: _peers, ...older } = env;
    process.env.DEPLOY_ENVIRONMENT = JSON.stringify(older);
    await expect(firstState()).rejects.toThrow(
      'invalid deploy environment: environment.peerEnvironments must be a list of environment names matching /^[a-z0-9-]+$/ (received undefined)',
    );
  });

  test('fails when DEPLOY_ENVIRONMENT has no runner instance profile (a stack older than the function), or not an IAM ARN', async () => {
    const { runnerInstanceProfileArn: _runner, ...older } = env.instances;
    process.env.DEPLOY_ENVIRONMENT = JSON.stringify({ ...env, instances: older });
    await expect(firstState()).rejects.toThrow(
      'invalid deploy environment: environment.instances.runnerInstanceProfileArn must be a non-empty string (received undefined)',
    );
    resetEnvironmentForTests();
    process.env.DEPLOY_ENVIRONMENT = JSON.stringify({ ...env, instances: { ...env.instances, runnerInstanceProfileArn: 'herd-staging-runner' } });
    await expect(firstState()).rejects.toThrow(
      'invalid deploy environment: environment.instances.runnerInstanceProfileArn must match /^arn:aws[a-z-]*:iam::/ (received "herd-staging-runner")',
    );
  });

  test('fails when peerEnvironments repeats a name or names the environment itself', async () => {
    process.env.DEPLOY_ENVIRONMENT = JSON.stringify({ ...env, peerEnvironments: ['production', env.env, 'production'] });
    await expect(firstState()).rejects.toThrow(
      'invalid deploy environment: environment.peerEnvironments must not repeat a name (received ["production","staging","production"]); ' +
        'environment.peerEnvironments must not name the environment itself ("staging")',
    );
  });

  test('fails when a peer is not an environment name', async () => {
    process.env.DEPLOY_ENVIRONMENT = JSON.stringify({ ...env, peerEnvironments: ['Production'] });
    await expect(firstState()).rejects.toThrow(
      'invalid deploy environment: environment.peerEnvironments must be a list of environment names matching /^[a-z0-9-]+$/ (received ["Production"])',
    );
  });

  test('fails when DEPLOY_ENVIRONMENT is not JSON', async () => {
    process.env.DEPLOY_ENVIRONMENT = '{app:';
    await expect(firstState()).rejects.toThrow(/^invalid deploy environment: DEPLOY_ENVIRONMENT is not JSON \(/);
  });
});
