/**
 * `herd doctor` against moto_server: every check over the wire. moto implements each call
 * but RDS DescribeAccountAttributes (its answer is an HTML error page), so the manual DB
 * snapshots check fails there, as any unreadable check does; the environment built in moto
 * has no ConfigFingerprint or RollbackAlarms outputs (warnings).
 */
import { SuspendProcessesCommand } from '@aws-sdk/client-auto-scaling';
import { PutParameterCommand } from '@aws-sdk/client-ssm';
import type { DoctorReport } from '../../lib/cli/commands/doctor';
import { startMoto } from '../support/moto';
import { runHerd, testDeps } from './support/harness';
import { createMotoEnvironment, motoClients, type MotoClients } from './support/moto-env';

const moto = startMoto();
let clients: MotoClients;

beforeAll(async () => {
  clients = motoClients(await moto.ready);
}, 30_000);

beforeEach(async () => {
  await moto.server().reset();
  await createMotoEnvironment(clients);
}, 30_000);

const doctor = async () => {
  const run = await runHerd(['doctor', 'staging', '--json'], testDeps({ clients: () => clients, now: () => Date.now() }));
  return { code: run.code, report: JSON.parse(run.out) as DoctorReport };
};
const statuses = (report: DoctorReport) => Object.fromEntries(report.checks.map((c) => [c.name, c.status]));
const HEALTHY = {
  stack: 'ok', configuration: 'warn', release: 'ok', 'boot settings': 'ok', 'launch templates': 'ok', groups: 'ok', targets: 'ok', alarms: 'warn',
  lock: 'ok', maintenance: 'ok', deploys: 'ok', 'EBS default encryption': 'ok', 'Elastic IPs': 'ok', 'manual DB snapshots': 'fail',
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
});
