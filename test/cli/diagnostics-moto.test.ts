/**
 * `herd logs` and `herd doctor` against moto_server, over the wire.
 *
 * logs: FilterLogEvents (moto's JSON protocol, its pagination and its quoted-term filter
 * pattern), lines of two instances and two processes in time order.
 *
 * doctor: every check. moto implements each call but RDS DescribeAccountAttributes (its
 * answer is an HTML error page), so the manual DB snapshots check fails there, as any
 * unreadable check does; the environment built in moto has no ConfigFingerprint or
 * RollbackAlarms outputs (warnings). moto's groups do not create Auto Scaling's
 * service-linked role as AWS's do, so each test creates it (IAM CreateServiceLinkedRole);
 * KMS keys and their policies, EBS encryption by default and Service Quotas' VPC quotas are
 * moto's own.
 */
import { SuspendProcessesCommand } from '@aws-sdk/client-auto-scaling';
import { AllocateAddressCommand, CreateNatGatewayCommand, DescribeSubnetsCommand } from '@aws-sdk/client-ec2';
import { CreateServiceLinkedRoleCommand, DeleteServiceLinkedRoleCommand } from '@aws-sdk/client-iam';
import { CreateKeyCommand, GetKeyPolicyCommand, PutKeyPolicyCommand } from '@aws-sdk/client-kms';
import { CreateLogGroupCommand, CreateLogStreamCommand, PutLogEventsCommand } from '@aws-sdk/client-cloudwatch-logs';
import { PutParameterCommand } from '@aws-sdk/client-ssm';
import type { DoctorReport } from '../../lib/cli/commands/doctor';
import { autoScalingKeyStatements } from '../../lib/cli/doctor/account-checks';
import { AUTO_SCALING_KEY_ACTIONS, DEPLOY_STEP_KEY_ACTIONS, keyPolicyAccess } from '../../lib/cli/doctor/key-policy';
import { runHerd, testDeps } from './support/harness';
import { createMotoEnvironment, freshMotoEnvironmentEachTest, type MotoClients } from './support/moto-env';

const ROLE_ARN = 'arn:aws:iam::123456789012:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling';
let clients: MotoClients;
freshMotoEnvironmentEachTest(async (c) => {
  clients = c;
  // What AWS does when the first Auto Scaling group of an account is created.
  await clients.iam.send(new CreateServiceLinkedRoleCommand({ AWSServiceName: 'autoscaling.amazonaws.com' }));
});

async function write(group: string, stream: string, events: { timestamp: number; message: string }[]) {
  await clients.logs.send(new CreateLogGroupCommand({ logGroupName: group })).catch((err: Error) => {
    if (err.name !== 'ResourceAlreadyExistsException') throw err;
  });
  await clients.logs.send(new CreateLogStreamCommand({ logGroupName: group, logStreamName: stream }));
  await clients.logs.send(new PutLogEventsCommand({ logGroupName: group, logStreamName: stream, logEvents: events }));
}

describe('herd logs (moto)', () => {
  test('prints two processes of two instances in time order, and --grep keeps the exact text', async () => {
    const now = Date.now();
    const at = (s: number) => now - s * 1000;
    const iso = (s: number) => new Date(at(s)).toISOString();
    await write('/herd/shop/staging/web', 'i-0aaaaaaaaaaaaaaaa', [{ timestamp: at(50), message: 'GET / 200' }, { timestamp: at(20), message: 'said "hi" there' }]);
    await write('/herd/shop/staging/worker', 'i-0bbbbbbbbbbbbbbbb', [{ timestamp: at(40), message: 'job started' }, { timestamp: at(10), message: 'job done' }]);
    const deps = () => testDeps({ clients: () => clients, now: () => now });
    const run = await runHerd(['logs', 'staging'], deps());
    expect({ code: run.code, err: run.err }).toEqual({ code: 0, err: '' });
    expect(run.out).toBe(
      [
        `${iso(50)} i-0aaaaaaaaaaaaaaaa web | GET / 200`,
        `${iso(40)} i-0bbbbbbbbbbbbbbbb worker | job started`,
        `${iso(20)} i-0aaaaaaaaaaaaaaaa web | said "hi" there`,
        `${iso(10)} i-0bbbbbbbbbbbbbbbb worker | job done`,
        '',
      ].join('\n'),
    );
    const grep = await runHerd(['logs', 'staging', '--grep', 'job done'], deps());
    expect(grep.out).toBe(`${iso(10)} i-0bbbbbbbbbbbbbbbb worker | job done\n`);
  });
});

const doctor = async () => {
  const run = await runHerd(['doctor', 'staging', '--json'], testDeps({ clients: () => clients, now: () => Date.now() }));
  return { code: run.code, report: JSON.parse(run.out) as DoctorReport };
};
const statuses = (report: DoctorReport) => Object.fromEntries(report.checks.map((c) => [c.name, c.status]));
const HEALTHY = {
  stack: 'ok', configuration: 'warn', release: 'ok', 'boot settings': 'ok', 'launch templates': 'ok', groups: 'ok', targets: 'ok', alarms: 'warn',
  lock: 'ok', maintenance: 'ok', deploys: 'ok', 'Auto Scaling service-linked role': 'ok', 'EBS default encryption': 'ok', 'Elastic IPs': 'ok', 'NAT gateways': 'ok', 'manual DB snapshots': 'fail',
};

describe('herd doctor (moto)', () => {
  test('checks the environment and the account through every call moto implements', async () => {
    const { report } = await doctor();
    expect(statuses(report)).toEqual(HEALTHY);
    expect(report.checks.find((c) => c.name === 'manual DB snapshots')?.detail).toMatch(/^could not be checked: /);
  });

  test('fails the boot settings when a variable names a secret that does not exist', async () => {
    const missing = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:shop/staging/gone-AbCdEf';
    await clients.ssm.send(new PutParameterCommand({ Name: '/herd/shop/staging/secret-env/API_KEY', Value: missing, Type: 'String' }));
    const { code, report } = await doctor();
    expect(code).toBe(1);
    expect(statuses(report)).toEqual({ ...HEALTHY, 'boot settings': 'fail' });
    expect(report.checks.find((c) => c.name === 'boot settings')?.detail).toBe(`instances cannot render their environment: API_KEY: secret ${missing} does not exist`);
  });

  test('fails the groups when a process is suspended', async () => {
    await clients.autoScaling.send(new SuspendProcessesCommand({ AutoScalingGroupName: 'herd-staging-worker', ScalingProcesses: ['AZRebalance'] }));
    const { report } = await doctor();
    expect(statuses(report)).toEqual({ ...HEALTHY, groups: 'fail' });
    expect(report.checks.find((c) => c.name === 'groups')).toMatchObject({ detail: 'worker group herd-staging-worker has suspended processes AZRebalance: scaling and deploys misbehave', fix: 'herd autoscaling resume staging' });
  });

  test('fails when Auto Scaling\'s service-linked role does not exist', async () => {
    await clients.iam.send(new DeleteServiceLinkedRoleCommand({ RoleName: 'AWSServiceRoleForAutoScaling' }));
    const { code, report } = await doctor();
    expect(code).toBe(1);
    expect(statuses(report)).toEqual({ ...HEALTHY, 'Auto Scaling service-linked role': 'fail' });
    expect(report.checks.find((c) => c.name === 'Auto Scaling service-linked role')?.fix).toBe('aws iam create-service-linked-role --aws-service-name autoscaling.amazonaws.com');
  });

  test('reads a KMS key policy as KMS writes it: the default one enables IAM policies but not Auto Scaling\'s role; the statements doctor\'s fix prints let the role in', async () => {
    // moto has no GetEbsDefaultKmsKeyId (its answer is an HTML page), so doctor's EBS check cannot reach the key there: its reading of the policy is tested on moto's key.
    const key = (await clients.kms.send(new CreateKeyCommand({ Description: 'landing zone EBS key' }))).KeyMetadata!.Arn!;
    const read = async () => (await clients.kms.send(new GetKeyPolicyCommand({ KeyId: key, PolicyName: 'default' }))).Policy!;
    const policy = await read();
    expect(keyPolicyAccess(policy, ROLE_ARN, '123456789012', AUTO_SCALING_KEY_ACTIONS).missing).toEqual([...AUTO_SCALING_KEY_ACTIONS]);
    expect(keyPolicyAccess(policy, 'arn:aws:iam::123456789012:root', '123456789012', DEPLOY_STEP_KEY_ACTIONS)).toEqual({ missing: [], denied: [], undecided: 0 });
    const fixed = JSON.parse(policy) as { Statement: unknown[] };
    fixed.Statement.push(...(JSON.parse(autoScalingKeyStatements(ROLE_ARN)) as unknown[]));
    await clients.kms.send(new PutKeyPolicyCommand({ KeyId: key, PolicyName: 'default', Policy: JSON.stringify(fixed) }));
    expect(keyPolicyAccess(await read(), ROLE_ARN, '123456789012', AUTO_SCALING_KEY_ACTIONS)).toEqual({ missing: [], denied: [], undecided: 0 });
  });

  test('reads the NAT gateway quota from Service Quotas (moto answers VPC quotas at their defaults)', async () => {
    const env = await createMotoEnvironment(clients, 'qa');
    const subnet = env.network.subnetIds[0];
    const zone = (await clients.ec2.send(new DescribeSubnetsCommand({ SubnetIds: [subnet] }))).Subnets![0]!.AvailabilityZone!;
    const { AllocationId } = await clients.ec2.send(new AllocateAddressCommand({ Domain: 'vpc' }));
    await clients.ec2.send(new CreateNatGatewayCommand({ SubnetId: subnet, AllocationId }));
    const { report } = await doctor();
    expect(report.checks.find((c) => c.name === 'NAT gateways')?.detail).toBe(`${zone} 1 (applied quota: 5 per zone)`);
  });
});
