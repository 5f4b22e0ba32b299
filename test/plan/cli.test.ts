/**
 * `herd plan` against a deployed-looking environment in moto: the stack's outputs
 * (CloudFormation), its Auto Scaling groups, its deploy table with a history, a baked
 * release image tagged herd:app/herd:release, the release parameters.
 */
import { ResumeProcessesCommand, SuspendProcessesCommand } from '@aws-sdk/client-auto-scaling';
import { PutMetricAlarmCommand, SetAlarmStateCommand } from '@aws-sdk/client-cloudwatch';
import { CloudFormationClient, CreateStackCommand } from '@aws-sdk/client-cloudformation';
import { CreateImageCommand, RunInstancesCommand } from '@aws-sdk/client-ec2';
import { S3Client } from '@aws-sdk/client-s3';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SFNClient } from '@aws-sdk/client-sfn';
import { PutParameterCommand } from '@aws-sdk/client-ssm';
import { STSClient } from '@aws-sdk/client-sts';
import { IAMClient } from '@aws-sdk/client-iam';
import { KMSClient } from '@aws-sdk/client-kms';
import { ServiceQuotasClient } from '@aws-sdk/client-service-quotas';
import { PutCommand } from '@aws-sdk/lib-dynamodb';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AwsClients } from '../../lib/cli/deps';
import { parameterNames, TAGS } from '../../lib/names';
import type { DeployPlan } from '../../lib/plan/model';
import { clientConfig, startMoto } from '../support/moto';
import { baseImageId, createDeployTable, createGroup, createLaunchTemplate, createLoadBalancer, createNetwork, wireClients, type WireClients } from '../wire/cloud';
import { runHerd, testDeps } from '../cli/support/harness';

const moto = startMoto();
let wire: WireClients;
let clients: AwsClients;
let dir: string;

const TABLE = 'herd-staging-deploys';

function history(n: number, bake: number, migrate: number, rollout: number) {
  const start = Date.UTC(2026, 9, n, 10, 0, 0);
  let t = start;
  const phases = Object.entries({ lock: 2, bake, launchTemplate: 2, migrate, rollout, verify: 1, record: 4 }).map(([phase, seconds]) => {
    const p = { phase, startedAt: new Date(t).toISOString(), endedAt: new Date(t + seconds * 1000).toISOString(), seconds };
    t += seconds * 1000;
    return p;
  });
  return {
    pk: 'DEPLOY',
    sk: `${new Date(start).toISOString()}#d${n}`,
    deployId: `d${n}`,
    release: `v${n}`,
    strategy: 'rolling',
    migrationOrder: 'before',
    actor: 'alice',
    status: 'succeeded',
    startedAt: new Date(start).toISOString(),
    endedAt: new Date(t).toISOString(),
    reusedImage: false,
    phases,
  };
}

beforeAll(async () => {
  const server = await moto.ready;
  wire = wireClients(server);
  const config = clientConfig(server);
  clients = { ...wire, cloudFormation: new CloudFormationClient(config), sfn: new SFNClient(config), s3: new S3Client(config), secretsManager: new SecretsManagerClient(config), sts: new STSClient(config), iam: new IAMClient(config), kms: new KMSClient(config), serviceQuotas: new ServiceQuotasClient(config) };
  dir = mkdtempSync(join(tmpdir(), 'herd-plan-'));

  const network = await createNetwork(wire);
  const lb = await createLoadBalancer(wire, network, 'herd-staging');
  const image = await baseImageId(wire);
  const webLt = await createLaunchTemplate(wire, 'herd-staging-web', image, network.securityGroupId);
  const workerLt = await createLaunchTemplate(wire, 'herd-staging-worker', image, network.securityGroupId);
  await createGroup(wire, network, 'herd-staging-web', webLt, { min: 1, max: 2, desired: 2 }, '1', [lb.targetGroupArn]);
  await createGroup(wire, network, 'herd-staging-worker', workerLt, { min: 1, max: 1, desired: 1 });
  await createDeployTable(wire, TABLE);
  await wire.ssm.send(new PutParameterCommand({ Name: parameterNames('shop', 'staging').currentRelease, Value: 'v3', Type: 'String' }));
  // The rollback alarm, as the stack creates it (its state is what the pre-flight reads).
  await wire.cloudWatch.send(
    new PutMetricAlarmCommand({
      AlarmName: ROLLBACK_ALARM,
      MetricName: 'HTTPCode_Target_5XX_Count',
      Namespace: 'AWS/ApplicationELB',
      Statistic: 'Sum',
      Period: 60,
      EvaluationPeriods: 2,
      Threshold: 50,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
    }),
  );

  // A baked release without `release:` in its Procfile (a rollback target).
  const builder = await wire.ec2.send(new RunInstancesCommand({ ImageId: image, InstanceType: 't3.small', MinCount: 1, MaxCount: 1 }));
  await wire.ec2.send(
    new CreateImageCommand({
      InstanceId: builder.Instances?.[0]?.InstanceId ?? '',
      Name: 'herd-shop-v2',
      TagSpecifications: [{ ResourceType: 'image', Tags: [{ Key: TAGS.app, Value: 'shop' }, { Key: TAGS.release, Value: 'v2' }, { Key: TAGS.processes, Value: 'web worker' }] }],
    }),
  );

  const outputs: Record<string, string> = {
    Url: 'http://herd-staging.example.com',
    LoadBalancerDnsName: 'herd-staging.example.com',
    ListenerArn: lb.listenerArn,
    TargetGroupArn: lb.targetGroupArn,
    MaintenancePriority: '10',
    WebAutoScalingGroup: 'herd-staging-web',
    WorkerAutoScalingGroup: 'herd-staging-worker',
    WebLaunchTemplateId: webLt,
    WorkerLaunchTemplateId: workerLt,
    ArtifactsBucket: 'herd-staging-artifacts',
    NotificationTopic: 'arn:aws:sns:us-east-1:123456789012:herd-staging',
    ParameterRoot: '/herd/shop/staging',
    DatabaseSecretArn: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:db-AbCdEf',
    DeployStateMachineArn: 'arn:aws:states:us-east-1:123456789012:stateMachine:herd-staging-deploy',
    DeployTableName: TABLE,
    RollbackAlarms: ROLLBACK_ALARM,
  };
  await clients.cloudFormation.send(
    new CreateStackCommand({
      StackName: 'herd-staging',
      TemplateBody: JSON.stringify({
        Resources: { Handle: { Type: 'AWS::CloudFormation::WaitConditionHandle' } },
        Outputs: Object.fromEntries(Object.entries(outputs).map(([k, v]) => [k, { Value: v }])),
      }),
    }),
  );
}, 60_000);

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

const ROLLBACK_ALARM = 'herd-staging-target5xx';
const deps = () => testDeps({ clients: () => clients });

describe('herd plan shows the pre-flight of a deploy (moto)', () => {
  afterEach(async () => {
    await wire.cloudWatch.send(new SetAlarmStateCommand({ AlarmName: ROLLBACK_ALARM, StateValue: 'OK', StateReason: 'test over' }));
    await wire.autoScaling.send(new ResumeProcessesCommand({ AutoScalingGroupName: 'herd-staging-web' }));
  });

  test('ok when nothing stands in the way', async () => {
    const run = await runHerd(['plan', 'staging'], deps());
    expect(run.code).toBe(0);
    expect(run.out).toMatch(/^pre-flight: ok /m);
  });

  test('a rollback alarm in ALARM and Launch suspended on the web group: what a deploy would refuse, and how to fix each', async () => {
    await wire.cloudWatch.send(new SetAlarmStateCommand({ AlarmName: ROLLBACK_ALARM, StateValue: 'ALARM', StateReason: 'Threshold Crossed: 2 datapoints were >= 50' }));
    await wire.autoScaling.send(new SuspendProcessesCommand({ AutoScalingGroupName: 'herd-staging-web', ScalingProcesses: ['Launch'] }));
    const run = await runHerd(['plan', 'staging'], deps());
    expect(run.code).toBe(0);
    expect(run.out).toMatch(/^pre-flight: a deploy would be refused now:$/m);
    expect(run.out).toMatch(/^ {2}- herd-staging-web has Launch suspended, which a rollout needs .*`herd autoscaling resume staging`/m);
    expect(run.out).toMatch(new RegExp(`^ {2}- alarm ${ROLLBACK_ALARM}, which rolls deploys back, is in ALARM \\(Threshold Crossed: 2 datapoints were >= 50\\).* --ignore-alarms`, 'm'));
    const json = JSON.parse((await runHerd(['plan', 'staging', '--json'], deps())).out) as { preflight: { problems: string[] } };
    expect(json.preflight.problems).toHaveLength(2);
  });
});

describe('herd plan against a deployed environment (moto)', () => {
  test('without history: the real fleet sizes, a new release baked, timings from documented defaults, a Gantt chart', async () => {
    const run = await runHerd(['plan', 'staging'], deps());
    expect(run.err).toBe('');
    expect(run.code).toBe(0);
    expect(run.out).toContain('herd plan staging (a new release)');
    expect(run.out).toContain('strategy rolling, migrations before, bakes a new image; web 2, worker 1');
    expect(run.out).toContain('timing parameters from documented defaults');
    expect(run.out).toMatch(/healthCheckIntervalSeconds\s+10 {2}config: healthCheck.intervalSeconds$/m);
    expect(run.out).toMatch(/^bake \(builder, image\)\s+│ *█+ *│ \d\d:\d\d–\d\d:\d\d$/m);
  });

  test('a release whose image exists and has no release command: no bake, no migration; --json', async () => {
    const run = await runHerd(['plan', 'staging', 'v2', '--json'], deps());
    expect(run.code).toBe(0);
    const plan = JSON.parse(run.out) as DeployPlan;
    expect(plan.fleets).toEqual({ web: 2, worker: 1 });
    expect(plan.bakes).toBe(false);
    expect(plan.migrates).toBe(false);
    expect(plan.outcome).toBe('succeeded');
    expect(plan.minHealthyPercent).toBe(100);
    expect(plan.downtimeSeconds).toBe(0);
    expect(plan.awsCalls['ec2:RunInstances']).toBeUndefined();
  });

  test('with a deploy history: medians change the prediction and the output says "from history"; --svg writes the timeline', async () => {
    const before = JSON.parse((await runHerd(['plan', 'staging', '--json'], deps())).out) as DeployPlan;
    for (const [n, bake, migrate, rollout] of [
      [1, 700, 250, 500],
      [2, 800, 260, 520],
      [3, 900, 270, 540],
    ] as const) {
      await wire.dynamodb.send(new PutCommand({ TableName: TABLE, Item: history(n, bake, migrate, rollout) }));
    }
    const svg = join(dir, 'plan.svg');
    const run = await runHerd(['plan', 'staging', '--svg', svg], deps());
    expect(run.code).toBe(0);
    expect(run.out).toContain('timing parameters from history');
    expect(run.out).toContain('history: median bake phase 800 s over 3 deploy(s)');
    expect(run.out).toContain(`timeline written to ${svg}`);
    expect(readFileSync(svg, 'utf8')).toMatch(/^<svg xmlns="http:\/\/www.w3.org\/2000\/svg"[\s\S]*timings from history[\s\S]*<\/svg>\n$/);
    const after = JSON.parse((await runHerd(['plan', 'staging', '--json'], deps())).out) as DeployPlan;
    expect(after.timingSource).toBe('history');
    expect(before.timingSource).toBe('defaults');
    expect(after.totalSeconds).toBeGreaterThan(before.totalSeconds + 300);
  });

  test('--strategy full: a maintenance window', async () => {
    const plan = JSON.parse((await runHerd(['plan', 'staging', 'v2', '--strategy', 'full', '--json'], deps())).out) as DeployPlan;
    expect(plan.strategy).toBe('full');
    expect(plan.maintenanceWindowSeconds).toBeGreaterThan(0);
  });

  test('fails when the strategy is not rolling or full', async () => {
    const run = await runHerd(['plan', 'staging', '--strategy', 'blue-green'], deps());
    expect(run).toEqual({ code: 2, out: '', err: 'herd: --strategy must be one of rolling, full (received "blue-green")\n' });
  });

  test('fails when the environment is not configured', async () => {
    const run = await runHerd(['plan', 'qa'], deps());
    expect(run).toEqual({ code: 2, out: '', err: 'herd: unknown environment "qa"; configured environments: staging, production (herd.config.ts)\n' });
  });

  test('fails when the environment is not deployed', async () => {
    const run = await runHerd(['plan', 'production'], deps());
    expect(run).toEqual({ code: 2, out: '', err: 'herd: stack herd-production does not exist: environment production is not deployed yet; run npx cdk deploy herd-production\n' });
  });

  test('fails when the release id is malformed', async () => {
    const run = await runHerd(['plan', 'staging', '../v2'], deps());
    expect(run).toEqual({ code: 2, out: '', err: 'herd: release must match /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/ (received "../v2")\n' });
  });
});
