/**
 * `herd doctor` against the simulated environment: a healthy environment passes every check
 * (exit 0); then one thing broken at a time fails its check with the fix (exit 1), or warns
 * (exit 0), and doctor changes nothing (every call it makes is a read).
 */
import { configFingerprint } from '../../lib/config/fingerprint';
import type { DoctorReport } from '../../lib/cli/commands/doctor';
import { addKey } from '../../lib/simulation/services/kms';
import { addSecret } from '../../lib/simulation/services/secrets-manager';
import { appDirectory } from './support/app';
import { runHerd, testConfig, testDeps } from './support/harness';
import { OPERATOR_PRINCIPALS, SIMULATED_CALLER_ARN, SimulatedEnvironment } from './support/simulated';

const DB_SECRET = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:db-AbCdEf';
const APP_SECRET = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:shop/staging/app-XyZ123';

const KEY_ID = '1234abcd-12ab-34cd-56ef-1234567890ab';
const KEY = `arn:aws:kms:eu-west-1:123456789012:key/${KEY_ID}`;
const ROLE_ARN = 'arn:aws:iam::123456789012:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling';
/** The key's default statement: the account's IAM policies may use it. */
const ROOT_STATEMENT = { Sid: 'Enable IAM User Permissions', Effect: 'Allow', Principal: { AWS: 'arn:aws:iam::123456789012:root' }, Action: 'kms:*', Resource: '*' };
/** What the README ("A customer-managed EBS key") says the key policy must give Auto Scaling's service-linked role. */
const AUTO_SCALING_STATEMENTS = [
  { Sid: 'AllowAutoScalingToUseTheKey', Effect: 'Allow', Principal: { AWS: ROLE_ARN }, Action: ['kms:Encrypt', 'kms:Decrypt', 'kms:ReEncrypt*', 'kms:GenerateDataKey*', 'kms:DescribeKey'], Resource: '*' },
  { Sid: 'AllowAutoScalingGrantsForAwsResources', Effect: 'Allow', Principal: { AWS: ROLE_ARN }, Action: 'kms:CreateGrant', Resource: '*', Condition: { Bool: { 'kms:GrantIsForAWSResource': true } } },
];
const NAT_FIX = 'delete NAT gateways no longer used (aws ec2 describe-nat-gateways), or ask for more in Service Quotas (Amazon VPC, "NAT gateways per Availability Zone", L-FE5A380F)';

/** Calls that are reads, by the API's verb. */
const READ = /^[A-Za-z0-9]+:(Describe|Get|List|Filter|Query)/;

function setup(spec: Partial<ConstructorParameters<typeof SimulatedEnvironment>[0]> = {}) {
  const sim = new SimulatedEnvironment({ web: 2, worker: 1, serving: 'r1', ...spec });
  const cloud = sim.world.cloud;
  const config = testConfig();
  const staging = config.environments.find((e) => e.name === 'staging')!;
  cloud.stacks.get('herd-staging')!.outputs!.ConfigFingerprint = configFingerprint('shop', staging, ['production']);
  addSecret(cloud, 'db', DB_SECRET);
  addSecret(cloud, 'shop/staging/app', APP_SECRET);
  // Three settings: more than a page of the fake's GetParametersByPath.
  for (const [k, v] of [['DEBUG', '0'], ['ALLOWED_HOSTS', 'shop.example.com'], ['TIME_ZONE', 'UTC']]) cloud.parameters.set(`/herd/shop/staging/env/${k}`, v!);
  cloud.parameters.set('/herd/shop/staging/secret-env/DATABASE_URL', `${DB_SECRET}#url`);
  cloud.parameters.set('/herd/shop/staging/secret-env/SECRET_KEY', APP_SECRET);
  const deps = (options: { config?: typeof config } = {}) =>
    testDeps({ clients: () => sim.clients(OPERATOR_PRINCIPALS['read-only']), now: () => cloud.now(), ...(options.config ? { config: options.config } : {}) });
  const doctor = async (options: { config?: typeof config } = {}) => {
    const before = cloud.calls.length;
    const run = await runHerd(['doctor', 'staging'], deps(options));
    const json = await runHerd(['doctor', 'staging', '--json'], deps(options));
    const writes = cloud.calls.slice(before).filter((c) => !READ.test(c.api)).map((c) => c.api);
    return { ...run, report: JSON.parse(json.out) as DoctorReport, jsonCode: json.code, writes };
  };
  const check = (report: DoctorReport, name: string) => report.checks.find((c) => c.name === name);
  return { sim, cloud, config, doctor, check };
}

describe('herd doctor', () => {
  test('passes every check of a healthy environment, exit 0, reading only', async () => {
    const { doctor } = setup();
    const run = await doctor();
    expect(run.writes).toEqual([]);
    expect({ code: run.code, err: run.err }).toEqual({ code: 0, err: '' });
    expect(run.report.checks.map((c) => [c.name, c.status])).toEqual([
      ['stack', 'ok'], ['configuration', 'ok'], ['release', 'ok'], ['boot settings', 'ok'], ['launch templates', 'ok'], ['groups', 'ok'], ['targets', 'ok'], ['alarms', 'ok'],
      ['lock', 'ok'], ['maintenance', 'ok'], ['deploys', 'ok'], ['Auto Scaling service-linked role', 'ok'], ['EBS default encryption', 'ok'], ['Elastic IPs', 'ok'],
      ['NAT gateways', 'ok'], ['manual DB snapshots', 'ok'],
    ]);
    expect(run.out).toMatch(/^✔ Auto Scaling service-linked role: AWSServiceRoleForAutoScaling exists$/m);
    expect(run.report.ok).toBe(true);
    expect(run.out).toMatch(/^✔ stack: herd-staging is UPDATE_COMPLETE$/m);
    expect(run.out).toMatch(/^✔ boot settings: 3 settings under \/herd\/shop\/staging\/env\/, 2 secrets \(described, not read\) all there$/m);
    expect(run.out.trim().split('\n').at(-1)).toBe('staging: 16 checks, 16 ok, 0 warnings, 0 failed');
  });
});

describe('herd doctor, one thing broken at a time: that check fails with its fix, exit 1, nothing changed', () => {
  async function expectFailure(run: Awaited<ReturnType<ReturnType<typeof setup>['doctor']>>, name: string, detail: string, fix: string) {
    expect(run.writes).toEqual([]);
    expect({ code: run.code, jsonCode: run.jsonCode, err: run.err }).toEqual({ code: 1, jsonCode: 1, err: '' });
    expect(run.report.checks.filter((c) => c.status !== 'ok')).toEqual([{ name, status: 'fail', detail, fix }]);
    expect(run.out).toContain(`✖ ${name}: ${detail}\n    fix: ${fix}\n`);
    expect(run.report.ok).toBe(false);
  }

  test('fails when the stack is being updated', async () => {
    const { cloud, doctor } = setup();
    cloud.stacks.get('herd-staging')!.status = 'UPDATE_IN_PROGRESS';
    await expectFailure(
      await doctor(),
      'stack',
      'herd-staging is UPDATE_IN_PROGRESS: CloudFormation is changing it, and deploys refuse to start until it ends',
      'wait for it to end (aws cloudformation describe-stacks --stack-name herd-staging), then run herd doctor staging again',
    );
  });

  test('fails when herd.config.ts changed since the stack was deployed', async () => {
    const { cloud, doctor, config } = setup();
    const changed = { ...config, environments: config.environments.map((e) => (e.name === 'staging' ? { ...e, web: { ...e.web, maxCapacity: e.web.maxCapacity + 1 } } : e)) };
    const local = configFingerprint('shop', changed.environments.find((e) => e.name === 'staging')!, ['production']);
    const deployed = cloud.stacks.get('herd-staging')!.outputs!.ConfigFingerprint;
    expect(local).not.toBe(deployed);
    await expectFailure(
      await doctor({ config: changed }),
      'configuration',
      `herd.config.ts for staging changed since herd-staging was deployed (local fingerprint ${local}, deployed ${deployed})`,
      'npx cdk diff herd-staging shows what changes, npx cdk deploy herd-staging applies it',
    );
  });

  test('fails when the serving image was deregistered', async () => {
    const { cloud, doctor } = setup();
    const image = cloud.parameters.get('/herd/shop/staging/current-image')!;
    cloud.images.delete(image);
    await expectFailure(
      await doctor(),
      'release',
      `image ${image} of release r1 does not exist (deregistered?): every instance launched now (scale-out, replacement) fails`,
      'herd deploy staging <app directory of release r1> --force bakes it again (or herd rollback staging to a release whose image exists)',
    );
  });

  test('fails when a secret a variable names is gone, never reading a secret\'s value', async () => {
    const { cloud, doctor } = setup();
    cloud.secrets.delete('shop/staging/app');
    const run = await doctor();
    expect(Object.keys(cloud.callCounts()).filter((api) => api.startsWith('secretsManager:'))).toEqual(['secretsManager:DescribeSecret']);
    await expectFailure(
      run,
      'boot settings',
      `instances cannot render their environment: SECRET_KEY: secret ${APP_SECRET} does not exist`,
      'restore the secret (aws secretsmanager restore-secret --secret-id <arn>) or point the variable at one that exists (aws ssm put-parameter --overwrite --name /herd/shop/staging/secret-env/<VARIABLE> --value <secret-arn>)',
    );
  });

  test('checks the database owner\'s references too (secret-env-owner/, what migrations render)', async () => {
    const { cloud, doctor } = setup();
    const gone = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:shop/staging/owner-ZzZzZz';
    cloud.parameters.set('/herd/shop/staging/secret-env-owner/DATABASE_PASSWORD', `${gone}#password`);
    await expectFailure(
      await doctor(),
      'boot settings',
      `instances cannot render their environment: DATABASE_PASSWORD (owner): secret ${gone} does not exist`,
      'restore the secret (aws secretsmanager restore-secret --secret-id <arn>) or point the variable at one that exists (aws ssm put-parameter --overwrite --name /herd/shop/staging/secret-env/<VARIABLE> --value <secret-arn>)',
    );
  });

  test('fails when a group launches another image than the current one', async () => {
    const { sim, cloud, doctor } = setup({ baked: ['r0'] });
    const lt = cloud.launchTemplates.get(sim.world.env.fleets.web.launchTemplateId)!;
    const old = [...cloud.images.values()].find((i) => i.release === 'r0')!.id;
    lt.versions.push({ ...lt.versions[0]!, number: 2, imageId: old });
    cloud.groups.get(sim.world.env.fleets.web.autoScalingGroupName)!.ltVersion = '2';
    const current = cloud.parameters.get('/herd/shop/staging/current-image');
    await expectFailure(
      await doctor(),
      'launch templates',
      `web group herd-staging-web launches ${lt.id} version 2, whose image is ${old}, not the current image ${current}: a scale-out or replacement launches another release`,
      'the next deploy points the groups back at a version with the serving image (herd deploy staging <app directory>); herd status staging shows what each instance runs',
    );
  });

  test('fails when a group has a suspended process', async () => {
    const { sim, cloud, doctor } = setup();
    cloud.groups.get(sim.world.env.fleets.web.autoScalingGroupName)!.suspended.add('Launch');
    await expectFailure(await doctor(), 'groups', 'web group herd-staging-web has suspended processes Launch: scaling and deploys misbehave', 'herd autoscaling resume staging');
  });

  test('fails when a web target is unhealthy', async () => {
    const { sim, cloud, doctor } = setup();
    const [web1] = cloud.groups.get(sim.world.env.fleets.web.autoScalingGroupName)!.instances.map((i) => i.id);
    cloud.targetGroups.get(sim.world.env.loadBalancer.targetGroupArn)!.get(web1!)!.state = 'unhealthy';
    await expectFailure(await doctor(), 'targets', `${web1} unhealthy (1 of 2 healthy)`, `herd logs staging --instance ${web1} says why it does not answer its health check`);
  });

  test('a draining web target (replaced by a deploy that just ended, or scaled in) is no failure', async () => {
    const { sim, cloud, doctor } = setup();
    const [web1] = cloud.groups.get(sim.world.env.fleets.web.autoScalingGroupName)!.instances.map((i) => i.id);
    cloud.targetGroups.get(sim.world.env.loadBalancer.targetGroupArn)!.get(web1!)!.state = 'draining';
    const run = await doctor();
    expect(run.code).toBe(0);
    expect(run.report.checks.find((c) => c.name === 'targets')).toMatchObject({ status: 'ok', detail: '1 web target healthy, 1 draining (replaced or scaled in)' });
  });

  test('fails when a rollback alarm is in ALARM', async () => {
    const { sim, cloud, doctor } = setup();
    const [alarm] = sim.world.env.alarmNames;
    cloud.alarms.get(alarm!)!.state = 'ALARM';
    await expectFailure(
      await doctor(),
      'alarms',
      `${alarm} is in ALARM: deploys refuse to start (and roll back) while a rollback alarm is in ALARM`,
      `find the cause in the alarm's metric (aws cloudwatch describe-alarms --alarm-names ${alarm}); the alarm clears when it goes away`,
    );
  });

  test('fails when the lock is held by a deploy with no execution (stale)', async () => {
    const { cloud, doctor } = setup();
    const since = new Date(cloud.now() - 2 * 3600_000).toISOString();
    cloud.table.set('LOCK\u0000LOCK', { pk: 'LOCK', sk: 'LOCK', deployId: '20261105T080000Z-dead00', actor: 'bob', release: 'r2', since });
    await expectFailure(
      await doctor(),
      'lock',
      `held by deploy 20261105T080000Z-dead00 (release r2, by bob since ${since}), but Step Functions has no execution of it (a stale lock): deploys refuse to start`,
      'herd unlock staging --deploy 20261105T080000Z-dead00',
    );
  });

  test('fails when the manual DB snapshot quota is used up', async () => {
    const { cloud, doctor } = setup({ database: true, backups: [1, 2] });
    cloud.manualSnapshotQuota = cloud.dbSnapshots.size;
    await expectFailure(
      await doctor(),
      'manual DB snapshots',
      '2 of 2 used: the snapshot a deploy takes before migrating fails (SnapshotQuotaExceeded), so deploys with migrations fail',
      'delete manual snapshots no longer needed (aws rds describe-db-snapshots --snapshot-type manual), or ask for more in Service Quotas (RDS, "Manual DB instance snapshots"); herd\'s own are pruned as staging\'s configuration keeps them',
    );
  });

  test('a read that fails fails its check with the AWS error; the other checks still run', async () => {
    const { cloud, doctor } = setup();
    cloud.faults.push({ api: 'cloudWatch:DescribeAlarms', code: 'AccessDenied', message: 'User: alice is not authorized to perform: cloudwatch:DescribeAlarms', status: 403 });
    const run = await doctor();
    expect(run.code).toBe(1);
    const failures = run.report.checks.filter((c) => c.status !== 'ok');
    expect(failures.map((c) => c.name)).toEqual(['alarms']);
    expect(failures[0]!.detail).toMatch(/^could not be checked: AWS denied cloudwatch:DescribeAlarms to your identity \(AccessDenied, profile [^)]+\): the operator's IAM policy is missing or out of date\. Print it with `npx herd iam-policy staging`/);
    expect(failures[0]!.fix).toBe('fix what the error names, then run herd doctor staging again');
    expect(run.report.checks).toHaveLength(16);
  });
});

describe('herd doctor when the environment cannot be found', () => {
  test('fails the stack check when the stack does not exist, and still checks the account', async () => {
    const { cloud, doctor } = setup();
    cloud.stacks.delete('herd-staging');
    const run = await doctor();
    expect(run.writes).toEqual([]);
    expect({ code: run.code, err: run.err }).toEqual({ code: 1, err: '' });
    expect(run.report.checks.map((c) => [c.name, c.status])).toEqual([['stack', 'fail'], ['Auto Scaling service-linked role', 'ok'], ['EBS default encryption', 'ok'], ['Elastic IPs', 'ok'], ['NAT gateways', 'ok'], ['manual DB snapshots', 'ok']]);
    expect(run.out).toContain('✖ stack: stack herd-staging does not exist: environment staging is not deployed yet; run npx cdk deploy herd-staging\n    fix: npx cdk deploy herd-staging\n');
  });

  test('fails when the environment is not configured, before any call', async () => {
    const { cloud } = setup();
    const direct = await runHerd(['doctor', 'qa'], testDeps({ clients: () => { throw new Error('no client expected'); } }));
    expect({ code: direct.code, err: direct.err, out: direct.out }).toEqual({ code: 2, err: 'herd: unknown environment "qa"; configured environments: staging, production (herd.config.ts)\n', out: '' });
    expect(cloud.calls).toEqual([]);
  });
});

describe('herd doctor warnings: exit 0', () => {
  test('warns when an operator\'s maintenance page is up with no deploy running', async () => {
    const { doctor } = setup({ maintenanceOn: true });
    const run = await doctor();
    expect(run.writes).toEqual([]);
    expect(run.code).toBe(0);
    expect(run.report.checks.filter((c) => c.status !== 'ok')).toEqual([
      { name: 'maintenance', status: 'warn', detail: expect.stringMatching(/^page up \(owner .+\) with no deploy holding it: the site answers the maintenance page$/), fix: 'herd maintenance off staging when the work is done' },
    ]);
  });

  test('during a full deploy: the lock, the page and the processes it holds are its own, not failures', async () => {
    // The page held up after the switch (the new fleet boots before the page goes up: without a hold it is up for seconds).
    const { sim, doctor } = setup({ deploy: { holdMaintenanceMinutes: 2 } });
    const deps = () => testDeps({ clients: () => sim.clients(), now: () => sim.world.clock.now(), sleep: () => sim.sleep() });
    expect((await runHerd(['deploy', 'staging', appDirectory('doctor'), '--strategy', 'full', '--detach'], deps())).code).toBe(3);
    // Until the deploy has suspended the web group's processes and put its page up (for seconds: its new fleet boots before).
    const web = sim.world.cloud.groups.get(sim.world.env.fleets.web.autoScalingGroupName)!;
    const pageUp = () => [...sim.executions.values()].at(-1)?.states.at(-1)?.step === 'hold.wait';
    for (let i = 0; i < 400 && !(web.suspended.size > 0 && pageUp()); i++) await sim.run(15);
    expect([...web.suspended].sort()).toEqual(['AZRebalance', 'AlarmNotification', 'ScheduledActions']);
    const run = await doctor();
    expect(run.writes).toEqual([]);
    const byName = Object.fromEntries(run.report.checks.map((c) => [c.name, c]));
    expect(byName.lock).toMatchObject({ status: 'ok', detail: expect.stringMatching(/^held by running deploy /) });
    expect(byName.maintenance).toMatchObject({ status: 'ok', detail: expect.stringMatching(/^page up, held by running deploy /) });
    expect(byName.groups!.status).toBe('ok');
    expect(run.report.checks.filter((c) => c.status === 'fail')).toEqual([]);
    expect(run.code).toBe(0);
    await sim.finish();
  });

  test('warns when the last deploy failed and none succeeded since', async () => {
    const { sim, cloud, doctor } = setup();
    const arn = 'arn:aws:states:eu-west-1:123456789012:execution:herd-staging-deploy:20261105T090000Z-abc123';
    const stopDate = new Date(cloud.now() - 600_000);
    sim.executions.set(arn, { arn, name: '20261105T090000Z-abc123', input: {}, startDate: new Date(cloud.now() - 1200_000), states: [], dueAt: 0, status: 'FAILED', error: 'DeployRolledBack', cause: 'the release never became healthy', stopDate });
    const run = await doctor();
    expect(run.writes).toEqual([]);
    expect({ code: run.code, err: run.err }).toEqual({ code: 0, err: '' });
    expect(run.report.checks.filter((c) => c.status !== 'ok')).toEqual([
      { name: 'deploys', status: 'warn', detail: `last deploy 20261105T090000Z-abc123 ended FAILED at ${stopDate.toISOString()}, and no deploy succeeded since`, fix: 'herd history staging says why; the next successful deploy clears this' },
    ]);
    expect(run.out).toContain(`! deploys: last deploy 20261105T090000Z-abc123 ended FAILED`);
  });

  test('warns when a zone holds the default quota of NAT gateways, counting only pending and available ones', async () => {
    const { cloud, doctor } = setup();
    const account = cloud.ec2Account;
    account.subnetZones.set('subnet-a', 'eu-west-1a').set('subnet-b', 'eu-west-1b');
    for (let n = 0; n < 5; n++) account.natGateways.push({ id: `nat-a${n}`, subnetId: 'subnet-a', state: 'available' });
    account.natGateways.push({ id: 'nat-b0', subnetId: 'subnet-b', state: 'pending' }, { id: 'nat-b1', subnetId: 'subnet-b', state: 'deleted' });
    const run = await doctor();
    expect(run.code).toBe(0);
    expect(run.report.checks.filter((c) => c.status !== 'ok')).toEqual([
      {
        name: 'NAT gateways',
        status: 'warn',
        detail: 'eu-west-1a 5, eu-west-1b 1: eu-west-1a at the applied quota of 5 per zone, so a new environment\'s NAT gateway there fails',
        fix: NAT_FIX,
      },
    ]);
  });


  test('reads the applied NAT gateway quota from Service Quotas: a raised one makes five per zone fine', async () => {
    const { cloud, doctor } = setup();
    cloud.ec2Account.subnetZones.set('subnet-a', 'eu-west-1a');
    for (let n = 0; n < 5; n++) cloud.ec2Account.natGateways.push({ id: `nat-a${n}`, subnetId: 'subnet-a', state: 'available' });
    cloud.serviceQuotas.get('vpc/L-FE5A380F')!.applied = 10;
    const run = await doctor();
    expect(run.writes).toEqual([]);
    expect(run.code).toBe(0);
    expect(run.report.checks.find((c) => c.name === 'NAT gateways')).toEqual({ name: 'NAT gateways', status: 'ok', detail: 'eu-west-1a 5 (applied quota: 10 per zone)' });
  });

  test('without an applied value in Service Quotas, the NAT gateway quota is its default there; without Service Quotas, the documented default, saying so', async () => {
    const { cloud, doctor } = setup();
    cloud.ec2Account.subnetZones.set('subnet-a', 'eu-west-1a');
    for (let n = 0; n < 5; n++) cloud.ec2Account.natGateways.push({ id: `nat-a${n}`, subnetId: 'subnet-a', state: 'available' });
    const quota = cloud.serviceQuotas.get('vpc/L-FE5A380F')!;
    delete quota.applied;
    const unapplied = await doctor();
    expect(unapplied.report.checks.find((c) => c.name === 'NAT gateways')).toEqual({
      name: 'NAT gateways',
      status: 'warn',
      detail: 'eu-west-1a 5: eu-west-1a at the default quota (Service Quotas has no applied value) of 5 per zone, so a new environment\'s NAT gateway there fails',
      fix: NAT_FIX,
    });
    expect(cloud.callCounts()['serviceQuotas:GetAWSDefaultServiceQuota']).toBe(2);
    quota.applied = 10;
    cloud.faults.push({ api: 'serviceQuotas:GetServiceQuota', code: 'AccessDeniedException', message: 'not authorized', status: 400 });
    const unavailable = await doctor();
    expect(unavailable.code).toBe(0);
    expect(unavailable.report.checks.find((c) => c.name === 'NAT gateways')?.detail).toBe(
      'eu-west-1a 5: eu-west-1a at the documented default quota (Service Quotas unavailable: AccessDeniedException) of 5 per zone, so a new environment\'s NAT gateway there fails',
    );
  });

  test('warns, before the first deploy, that Auto Scaling\'s service-linked role does not exist yet', async () => {
    const { cloud, doctor } = setup();
    cloud.stacks.delete('herd-staging');
    cloud.roles.delete('AWSServiceRoleForAutoScaling');
    const run = await doctor();
    expect(run.writes).toEqual([]);
    expect(run.report.checks.find((c) => c.name === 'Auto Scaling service-linked role')).toEqual({
      name: 'Auto Scaling service-linked role',
      status: 'warn',
      detail: 'AWSServiceRoleForAutoScaling does not exist yet: Auto Scaling creates it with herd-staging\'s first group if the identity deploying may iam:CreateServiceLinkedRole; a customer-managed EBS key\'s policy cannot name it until it exists',
      fix: 'aws iam create-service-linked-role --aws-service-name autoscaling.amazonaws.com',
    });
  });

  const FOREIGN_KEY = 'arn:aws:kms:eu-west-1:210987654321:key/1234abcd-12ab-34cd-56ef-1234567890ab';
  const ALIAS = 'arn:aws:kms:eu-west-1:123456789012:alias/landing-zone-ebs';
  test.each([
    {
      why: 'in another account (KMS lets no other account read its policy)',
      key: FOREIGN_KEY,
      detail: `on, with key ${FOREIGN_KEY} of account 210987654321: KMS lets no other account read its policy, so doctor cannot tell whether AWSServiceRoleForAutoScaling (${ROLE_ARN}) may use it; without that, every launch fails`,
      fix: `ask account 210987654321's key administrators to check that the key's policy or a grant (aws kms create-grant --grantee-principal ${ROLE_ARN}) gives AWSServiceRoleForAutoScaling kms:Encrypt, kms:Decrypt, kms:ReEncrypt*, kms:GenerateDataKey*, kms:DescribeKey, kms:CreateGrant`,
    },
    {
      why: 'named by an alias, which GetKeyPolicy does not take',
      key: ALIAS,
      detail: `on, with key alias ${ALIAS}: doctor reads a key policy by the key's id or ARN (GetKeyPolicy takes no alias), so its policy was not checked for AWSServiceRoleForAutoScaling`,
      fix: `aws kms describe-key --key-id ${ALIAS} gives the key's ARN; aws kms get-key-policy --key-id <key ARN> --policy-name default, and look for ${ROLE_ARN}`,
    },
  ])('warns when the EBS default key is $why, without asking KMS', async ({ key, detail, fix }) => {
    const { cloud, doctor } = setup();
    cloud.ec2Account.ebsEncryptionByDefault = true;
    cloud.ec2Account.ebsDefaultKmsKeyId = key;
    const run = await doctor();
    expect(run.code).toBe(0);
    expect(cloud.callCounts()['kms:GetKeyPolicy']).toBeUndefined();
    expect(run.report.checks.filter((c) => c.status !== 'ok')).toEqual([{ name: 'EBS default encryption', status: 'warn', detail, fix }]);
  });

  test('warns when KMS denies reading the EBS default key\'s policy, naming what to ask for', async () => {
    const { cloud, doctor } = setup();
    addKey(cloud, KEY_ID);
    cloud.ec2Account.ebsEncryptionByDefault = true;
    cloud.ec2Account.ebsDefaultKmsKeyId = KEY;
    cloud.faults.push({ api: 'kms:GetKeyPolicy', code: 'AccessDeniedException', message: `User: alice is not authorized to perform: kms:GetKeyPolicy on resource: ${KEY}`, status: 400 });
    const run = await doctor();
    expect(run.code).toBe(0);
    expect(run.report.checks.filter((c) => c.status !== 'ok')).toEqual([{
      name: 'EBS default encryption',
      status: 'warn',
      detail: `on, with key ${KEY}, whose policy doctor may not read (AccessDeniedException): doctor cannot tell whether AWSServiceRoleForAutoScaling may use it; without that, every launch fails`,
      fix: `ask the key's administrators for kms:GetKeyPolicy on ${KEY} (the key policy must allow it, itself or through its statement for the account's IAM policies), or to check that the policy gives ${ROLE_ARN} kms:Encrypt, kms:Decrypt, kms:ReEncrypt*, kms:GenerateDataKey*, kms:DescribeKey, kms:CreateGrant (CreateGrant with kms:GrantIsForAWSResource)`,
    }]);
  });

  test('warns when the key lets Auto Scaling\'s role use it but not the account\'s IAM policies (no default statement)', async () => {
    const { cloud, doctor } = setup();
    // The operator may read the policy: the key policy names alice, as IAM policies count for nothing on this key.
    const reader = { Sid: 'Doctor', Effect: 'Allow', Principal: { AWS: SIMULATED_CALLER_ARN }, Action: 'kms:GetKeyPolicy', Resource: '*' };
    addKey(cloud, KEY_ID, JSON.stringify({ Version: '2012-10-17', Statement: [reader, ...AUTO_SCALING_STATEMENTS] }));
    cloud.ec2Account.ebsEncryptionByDefault = true;
    cloud.ec2Account.ebsDefaultKmsKeyId = KEY;
    const run = await doctor();
    expect(run.code).toBe(0);
    expect(run.report.checks.filter((c) => c.status !== 'ok')).toEqual([{
      name: 'EBS default encryption',
      status: 'warn',
      detail: `on, with key ${KEY}: AWSServiceRoleForAutoScaling may use it, but the policy does not let the account's IAM policies grant kms:CreateGrant, kms:Decrypt, kms:DescribeKey, kms:GenerateDataKeyWithoutPlaintext, kms:ReEncrypt*, so the deploy step's role (granted by IAM) cannot launch builders and runners unless the policy names it`,
      fix: `add the key's default statement (Principal arn:aws:iam::123456789012:root, Action kms:*) to its policy (aws kms get-key-policy --key-id ${KEY} --policy-name default)`,
    }]);
  });

  test('warns, not fails, when only a conditional statement doctor cannot evaluate might let the role use the key', async () => {
    const { cloud, doctor } = setup();
    const conditional = AUTO_SCALING_STATEMENTS.map((st) => ({ ...st, Condition: { StringEquals: { 'aws:SourceVpce': 'vpce-1a2b3c4d' } } }));
    addKey(cloud, KEY_ID, JSON.stringify({ Version: '2012-10-17', Statement: [ROOT_STATEMENT, ...conditional] }));
    cloud.ec2Account.ebsEncryptionByDefault = true;
    cloud.ec2Account.ebsDefaultKmsKeyId = KEY;
    const run = await doctor();
    expect(run.code).toBe(0);
    const ebs = run.report.checks.find((c) => c.name === 'EBS default encryption')!;
    expect(ebs.status).toBe('warn');
    expect(ebs.detail).toBe(`on, with key ${KEY}, whose policy does not let AWSServiceRoleForAutoScaling kms:Encrypt, kms:Decrypt, kms:ReEncrypt*, kms:GenerateDataKey*, kms:DescribeKey, kms:CreateGrant unless one of its 2 conditional statements doctor cannot evaluate does: otherwise every launch fails`);
  });
});

describe('herd doctor, account prerequisites that fail: exit 1, nothing changed', () => {
  test('fails when Auto Scaling\'s service-linked role is missing from a deployed environment\'s account', async () => {
    const { cloud, doctor } = setup();
    cloud.roles.delete('AWSServiceRoleForAutoScaling');
    const run = await doctor();
    expect(run.writes).toEqual([]);
    expect(run.code).toBe(1);
    expect(run.report.checks.filter((c) => c.status !== 'ok')).toEqual([{
      name: 'Auto Scaling service-linked role',
      status: 'fail',
      detail: 'AWSServiceRoleForAutoScaling does not exist: herd-staging\'s groups launch and replace instances through it',
      fix: 'aws iam create-service-linked-role --aws-service-name autoscaling.amazonaws.com',
    }]);
    expect(run.out).toContain('✖ Auto Scaling service-linked role: AWSServiceRoleForAutoScaling does not exist');
  });

  test('fails when the customer-managed EBS default key\'s policy does not name Auto Scaling\'s role; the statements its fix adds make it pass', async () => {
    const { cloud, doctor } = setup();
    const key = addKey(cloud, KEY_ID);
    cloud.ec2Account.ebsEncryptionByDefault = true;
    cloud.ec2Account.ebsDefaultKmsKeyId = KEY;
    const run = await doctor();
    expect(run.writes).toEqual([]);
    expect(run.code).toBe(1);
    const statements = JSON.stringify(AUTO_SCALING_STATEMENTS);
    expect(run.report.checks.filter((c) => c.status !== 'ok')).toEqual([{
      name: 'EBS default encryption',
      status: 'fail',
      detail: `on, with key ${KEY}, whose policy does not let AWSServiceRoleForAutoScaling kms:Encrypt, kms:Decrypt, kms:ReEncrypt*, kms:GenerateDataKey*, kms:DescribeKey, kms:CreateGrant: instances go from pending to terminated (Client.InternalError), so every launch fails (a grant to the role, which doctor does not read, can stand in for the policy)`,
      fix: `add to the key policy (aws kms put-key-policy --key-id ${KEY} --policy-name default --policy file://policy.json, with the current policy from aws kms get-key-policy --key-id ${KEY} --policy-name default) the statements ${statements}`,
    }]);
    // An operator following the fix: the key policy with those statements added.
    const fixed = JSON.parse(key.policy) as { Statement: unknown[] };
    fixed.Statement.push(...(JSON.parse(/the statements (\[.*\])$/.exec(run.report.checks.find((c) => c.name === 'EBS default encryption')!.fix!)![1]!) as unknown[]));
    key.policy = JSON.stringify(fixed);
    const after = await doctor();
    expect(after.code).toBe(0);
    expect(after.report.checks.find((c) => c.name === 'EBS default encryption')).toEqual({
      name: 'EBS default encryption',
      status: 'ok',
      detail: `on, with customer-managed key ${KEY}, whose policy lets AWSServiceRoleForAutoScaling and the account's IAM policies use it`,
    });
  });

  test('fails when the key policy grants the role everything but kms:CreateGrant, or denies it', async () => {
    const { cloud, doctor } = setup();
    const [use] = AUTO_SCALING_STATEMENTS;
    const key = addKey(cloud, KEY_ID, JSON.stringify({ Version: '2012-10-17', Statement: [ROOT_STATEMENT, use] }));
    cloud.ec2Account.ebsEncryptionByDefault = true;
    cloud.ec2Account.ebsDefaultKmsKeyId = KEY;
    const run = await doctor();
    expect(run.code).toBe(1);
    expect(run.report.checks.find((c) => c.name === 'EBS default encryption')!.detail).toBe(
      `on, with key ${KEY}, whose policy does not let AWSServiceRoleForAutoScaling kms:CreateGrant: instances go from pending to terminated (Client.InternalError), so every launch fails (a grant to the role, which doctor does not read, can stand in for the policy)`,
    );
    const deny = { Effect: 'Deny', Principal: { AWS: ROLE_ARN }, Action: 'kms:Decrypt', Resource: '*' };
    key.policy = JSON.stringify({ Version: '2012-10-17', Statement: [ROOT_STATEMENT, ...AUTO_SCALING_STATEMENTS, deny] });
    const denied = await doctor();
    expect(denied.code).toBe(1);
    expect(denied.report.checks.find((c) => c.name === 'EBS default encryption')).toEqual({
      name: 'EBS default encryption',
      status: 'fail',
      detail: `on, with key ${KEY}, whose policy denies AWSServiceRoleForAutoScaling kms:Decrypt: instances go from pending to terminated (Client.InternalError), so every launch fails`,
      fix: `remove that Deny for ${ROLE_ARN} from the key policy (aws kms get-key-policy --key-id ${KEY} --policy-name default)`,
    });
  });

  test('fails when the EBS default key does not exist', async () => {
    const { cloud, doctor } = setup();
    cloud.ec2Account.ebsEncryptionByDefault = true;
    cloud.ec2Account.ebsDefaultKmsKeyId = KEY;
    const run = await doctor();
    expect(run.writes).toEqual([]);
    expect(run.code).toBe(1);
    expect(run.report.checks.filter((c) => c.status !== 'ok')).toEqual([{
      name: 'EBS default encryption',
      status: 'fail',
      detail: `on, with key ${KEY}, which does not exist: every launch of an encrypted volume fails`,
      fix: 'set the default EBS key to one that exists (aws ec2 modify-ebs-default-kms-key-id --kms-key-id <key ARN>) or to the AWS managed key (aws ec2 reset-ebs-default-kms-key-id)',
    }]);
  });
});
