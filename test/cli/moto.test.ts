/**
 * Every command whose AWS calls moto implements, against a local moto_server: the CLI
 * finds the environment through the stack's outputs, changes what it says, and changes
 * nothing when it refuses.
 */
import { DescribeAutoScalingGroupsCommand } from '@aws-sdk/client-auto-scaling';
import { DescribeImagesCommand } from '@aws-sdk/client-ec2';
import { CreateRuleCommand, DescribeRulesCommand } from '@aws-sdk/client-elastic-load-balancing-v2';
import { GetSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import { GetObjectCommand, HeadObjectCommand } from '@aws-sdk/client-s3';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { packDirectory } from '../../lib/cli/artifact';
import { DescribeExecutionCommand, ListExecutionsCommand } from '@aws-sdk/client-sfn';
import { PutParameterCommand } from '@aws-sdk/client-ssm';
import { GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { lockedMessage } from '../../lambda/deploy/lock';
import { maintenanceOn } from '../../lambda/deploy/maintenance';
import { realClients } from '../../lib/cli/deps';
import { deployEnvironmentOf, readStackOutputs } from '../../lib/cli/environment';
import { resolveConfig } from '../../lib/config/validate';
import { parameterNames } from '../../lib/names';
import { releaseIdOfTree } from '../../lib/release-id';
import { appDirectory, largeAppDirectory } from './support/app';
import { runHerd, testConfig, testDeps } from './support/harness';
import { createReleaseImage, freshMotoEnvironmentEachTest, type MotoClients, type MotoEnvironment } from './support/moto-env';

let clients: MotoClients;
let m: MotoEnvironment;
freshMotoEnvironmentEachTest((c, e) => {
  clients = c;
  m = e;
});

const deps = (config = testConfig()) => testDeps({ clients: () => clients, config });
const LOCK = { deployId: '20261105T090000Z-abcdef', actor: 'bob', release: 'r0', since: '2026-11-05T09:00:00.000Z' };
const putLock = () => clients.dynamodb.send(new PutCommand({ TableName: m.outputs.DeployTableName, Item: { pk: 'LOCK', sk: 'LOCK', ...LOCK } }));
const rules = async () => (await clients.elbv2.send(new DescribeRulesCommand({ ListenerArn: m.outputs.ListenerArn }))).Rules?.filter((r) => r.Priority === '10') ?? [];
const suspended = async () => {
  const res = await clients.autoScaling.send(new DescribeAutoScalingGroupsCommand({ AutoScalingGroupNames: ['herd-staging-web', 'herd-staging-worker'] }));
  return (res.AutoScalingGroups ?? []).map((g) => (g.SuspendedProcesses ?? []).map((p) => p.ProcessName).sort());
};

describe('finding an environment', () => {
  test('reads every resource from the stack outputs', async () => {
    const outputs = await readStackOutputs(clients, 'staging');
    expect(outputs).toMatchObject({ listenerArn: m.outputs.ListenerArn, deployTableName: 'herd-staging-deploys', maintenancePriority: 10, maintenanceBypassSecretArn: m.outputs.MaintenanceBypassSecretArn });
    expect(outputs.notificationTopic).toMatch(/^arn:aws:sns:us-east-1:123456789012:herd-staging$/);
    const env = deployEnvironmentOf('shop', testConfig().environments[0]!, outputs, testConfig().environments.map((e) => e.name));
    expect(env.peerEnvironments).toEqual(['production']);
    expect(env.fleets.web).toEqual({ autoScalingGroupName: 'herd-staging-web', launchTemplateId: m.outputs.WebLaunchTemplateId, minCapacity: 1, maxCapacity: 2 });
  });

  test('fails when the environment is not configured, listing the configured ones', async () => {
    const run = await runHerd(['status', 'prod'], deps());
    expect(run).toEqual({ code: 2, out: '', err: 'herd: unknown environment "prod"; configured environments: staging, production (herd.config.ts)\n' });
  });

  test('fails when the stack is not deployed yet', async () => {
    const run = await runHerd(['status', 'production'], deps());
    expect(run).toEqual({ code: 2, out: '', err: 'herd: stack herd-production does not exist: environment production is not deployed yet; run npx cdk deploy herd-production\n' });
  });

  test('fails when AWS_PROFILE names a profile no file defines: the profile, how to list them', async () => {
    const saved = { ...process.env };
    Object.assign(process.env, { AWS_PROFILE: 'herd-cli-test-no-such-profile', AWS_CONFIG_FILE: '/nonexistent/config', AWS_SHARED_CREDENTIALS_FILE: '/nonexistent/credentials', AWS_EC2_METADATA_DISABLED: 'true' });
    delete process.env.AWS_ACCESS_KEY_ID;
    delete process.env.AWS_SECRET_ACCESS_KEY;
    delete process.env.AWS_CONTAINER_CREDENTIALS_FULL_URI;
    delete process.env.AWS_CONTAINER_CREDENTIALS_RELATIVE_URI;
    delete process.env.AWS_WEB_IDENTITY_TOKEN_FILE;
    try {
      const run = await runHerd(['status', 'staging'], testDeps({ clients: () => realClients('us-east-1') }));
      expect(run).toEqual({
        code: 2,
        out: '',
        err: 'herd: unknown AWS profile "herd-cli-test-no-such-profile" (AWS_PROFILE): neither ~/.aws/config nor ~/.aws/credentials defines it; list the profiles with `aws configure list-profiles` and set AWS_PROFILE to one of them (nothing was changed)\n',
      });
    } finally {
      process.env = saved;
    }
  });
});

describe('herd status', () => {
  test('shows the release, each instance with its target, maintenance and the lock', async () => {
    const run = await runHerd(['status', 'staging', '--json'], deps());
    expect(run.err).toBe('');
    const s = JSON.parse(run.out) as { release: string; instances: { role: string; lifecycle: string; target?: string }[]; maintenance: { on: boolean }; groups: { suspended: string[] }[] };
    expect(s.release).toBe('r1');
    expect(s.instances.map((i) => i.role).sort()).toEqual(['web', 'worker']);
    expect(s.instances.find((i) => i.role === 'web')?.target).toBeDefined();
    expect(s.maintenance).toEqual({ on: false });
    const text = await runHerd(['status', 'staging'], deps());
    expect(text.out).toMatch(/^release {5}r1 \(image ami-\w+\)$/m);
    expect(text.out).toMatch(/^lock {8}free$/m);
    expect(text.out).toMatch(/^maintenance off$/m);
  });
});

describe('herd maintenance', () => {
  test('on puts the page up and shows the bypass; off lifts it', async () => {
    const on = await runHerd(['maintenance', 'on', 'staging'], deps());
    expect(on.code).toBe(0);
    expect(on.out).toBe(
      [
        'maintenance page up on staging (http://herd-staging.example.test answers 503)',
        'bypass: send the header X-Herd-Bypass with the secret\'s value:',
        `  curl -H "X-Herd-Bypass: $(aws secretsmanager get-secret-value --secret-id ${m.outputs.MaintenanceBypassSecretArn} --query SecretString --output text)" http://herd-staging.example.test`,
        'bypass: requests from 203.0.113.0/24 skip the page',
        'take it down with `herd maintenance off staging`',
        '',
      ].join('\n'),
    );
    expect(await rules()).toHaveLength(1);
    expect((await runHerd(['status', 'staging'], deps())).out).toMatch(/^maintenance ON \(owner manual\)$/m);
    expect((await runHerd(['maintenance', 'on', 'staging'], deps())).out.split('\n')[0]).toBe('maintenance page of staging was already up (put up by an operator); nothing changed');
    const off = await runHerd(['maintenance', 'off', 'staging'], deps());
    expect(off).toEqual({ code: 0, err: '', out: 'maintenance page lifted on staging (it was put up by manual)\n' });
    expect(await rules()).toHaveLength(0);
    expect((await runHerd(['maintenance', 'off', 'staging'], deps())).out).toBe('maintenance page of staging was not up; nothing changed\n');
  });

  test('rotate-bypass stores a new value and narrows the stack\'s bypass rule to it (moto\'s ModifyRule and PutSecretValue)', async () => {
    const secretId = m.outputs.MaintenanceBypassSecretArn;
    const stored = async () => (await clients.secretsManager.send(new GetSecretValueCommand({ SecretId: secretId }))).SecretString;
    // The rule the stack makes at priority 1 (lib/load-balancer.ts), holding the secret's value.
    await clients.elbv2.send(new CreateRuleCommand({
      ListenerArn: m.outputs.ListenerArn,
      Priority: 1,
      Conditions: [{ Field: 'http-header', HttpHeaderConfig: { HttpHeaderName: 'X-Herd-Bypass', Values: ['bypass-value'] } }],
      Actions: [{ Type: 'forward', TargetGroupArn: m.outputs.TargetGroupArn }],
    }));
    const run = await runHerd(['maintenance', 'rotate-bypass', 'staging'], deps());
    expect([run.code, run.err]).toEqual([0, '']);
    const value = await stored();
    expect(value).toMatch(/^[A-Za-z0-9]{32}$/);
    const rule = (await clients.elbv2.send(new DescribeRulesCommand({ ListenerArn: m.outputs.ListenerArn }))).Rules?.find((r) => r.Priority === '1');
    expect(rule?.Conditions?.find((c) => c.Field === 'http-header')?.HttpHeaderConfig?.Values).toEqual([value]);
    expect(run.out).not.toContain(value!);
    expect(run.out).not.toContain('bypass-value');
  });

  test('fails when a running deploy owns the page, unless --force', async () => {
    const handle = deployEnvironmentOf('shop', testConfig().environments[0]!, await readStackOutputs(clients, 'staging'), ['staging', 'production']);
    await maintenanceOn(clients, handle, LOCK.deployId);
    await putLock();
    const refused = await runHerd(['maintenance', 'off', 'staging'], deps());
    expect(refused).toEqual({
      code: 2,
      out: '',
      err: `herd: the maintenance page of staging belongs to running deploy ${LOCK.deployId} (bob, since ${LOCK.since}); it comes down when that deploy ends, or lift it anyway with \`herd maintenance off staging --force\`\n`,
    });
    expect(await rules()).toHaveLength(1);
    expect((await runHerd(['maintenance', 'off', 'staging', '--force'], deps())).code).toBe(0);
    expect(await rules()).toHaveLength(0);
  });

  test('fails when the action is unknown', async () => {
    const run = await runHerd(['maintenance', 'up', 'staging'], deps());
    expect(run.code).toBe(2);
    expect(run.err.split('\n')[0]).toBe("herd: unknown command 'up'");
  });
});

describe('herd autoscaling', () => {
  test('suspend pauses both groups (all processes by default); status warns; resume undoes it', async () => {
    const run = await runHerd(['autoscaling', 'suspend', 'staging', 'Launch', 'Terminate'], deps());
    expect(run.out).toBe(
      'suspended Launch, Terminate on web (herd-staging-web) and worker (herd-staging-worker)\n' +
        'deploys and scaling misbehave while processes are suspended: resume with `herd autoscaling resume staging`\n',
    );
    expect(await suspended()).toEqual([['Launch', 'Terminate'], ['Launch', 'Terminate']]);
    const status = await runHerd(['status', 'staging'], deps());
    expect(status.out.split('\n')[0]).toBe('!! WARNING: web group herd-staging-web has suspended processes: Launch, Terminate — resume with `herd autoscaling resume staging`');
    expect(status.err).toBe('herd: warning: Auto Scaling processes are suspended on staging (web, worker); deploys and scaling misbehave until `herd autoscaling resume staging`\n');
    expect((await runHerd(['autoscaling', 'resume', 'staging'], deps())).code).toBe(0);
    expect(await suspended()).toEqual([[], []]);
    await runHerd(['autoscaling', 'suspend', 'staging'], deps());
    expect((await suspended())[0]?.length).toBeGreaterThanOrEqual(8);
  });

  test('fails when a process name is unknown, and changes nothing', async () => {
    const run = await runHerd(['autoscaling', 'suspend', 'staging', 'Launch', 'Scale'], deps());
    expect(run).toEqual({
      code: 2,
      out: '',
      err: 'herd: unknown Auto Scaling process "Scale"; valid processes: Launch, Terminate, AddToLoadBalancer, AlarmNotification, AZRebalance, HealthCheck, InstanceRefresh, ReplaceUnhealthy, ScheduledActions\n',
    });
    expect(await suspended()).toEqual([[], []]);
  });
});

describe('herd history', () => {
  const item = (id: string, startedAt: string, extra: Record<string, unknown>) => ({
    pk: 'DEPLOY', sk: `${startedAt}#${id}`, deployId: id, release: `rel-${id}`, strategy: 'rolling', migrationOrder: 'before', actor: 'bob', startedAt,
    phases: [{ phase: 'lock', startedAt, endedAt: startedAt, seconds: 2 }, { phase: 'bake', startedAt, endedAt: startedAt, seconds: 452 }],
    ...extra,
  });

  test('lists past deploys newest first with outcome, duration, phases and cause', async () => {
    await clients.dynamodb.send(new PutCommand({ TableName: 'herd-staging-deploys', Item: item('d1', '2026-11-01T10:00:00.000Z', { status: 'succeeded', endedAt: '2026-11-01T10:12:03.000Z' }) }));
    await clients.dynamodb.send(new PutCommand({ TableName: 'herd-staging-deploys', Item: item('d2', '2026-11-02T10:00:00.000Z', { status: 'failed', endedAt: '2026-11-02T10:05:00.000Z', error: 'migration failed', failedPhase: 'migrate' }) }));
    const json = await runHerd(['history', 'staging', '--json'], deps());
    const items = JSON.parse(json.out) as { deployId: string; durationSeconds: number; status: string; error?: string }[];
    expect(items.map((i) => [i.deployId, i.status, i.durationSeconds, i.error])).toEqual([['d2', 'failed', 300, 'migration failed'], ['d1', 'succeeded', 723, undefined]]);
    const text = await runHerd(['history', 'staging', '--limit', '1'], deps());
    expect(text.out).toMatch(/│ deploy │ 2026-11-02T10:00:00Z │ d2 +│ rel-d2 +│ rolling +│ bob +│ failed +│ 5m00s +│ lock 2s, bake 7m32s │ migrate: migration failed │/);
    expect(text.out).not.toMatch(/d1/);
  });

  test('lists an operator\'s action, recorded in DynamoDB as the caller (moto\'s STS user), before the deploys it followed', async () => {
    await clients.dynamodb.send(new PutCommand({ TableName: 'herd-staging-deploys', Item: item('d1', '2026-11-01T10:00:00.000Z', { status: 'succeeded', endedAt: '2026-11-01T10:12:03.000Z' }) }));
    expect((await runHerd(['autoscaling', 'suspend', 'staging', 'AZRebalance'], deps())).code).toBe(0);
    const action = await clients.dynamodb.send(new GetCommand({ TableName: 'herd-staging-deploys', Key: { pk: 'ACTION', sk: '2026-11-05T10:00:00.000Z#autoscaling suspend' } }));
    expect(action.Item).toEqual({
      pk: 'ACTION',
      sk: '2026-11-05T10:00:00.000Z#autoscaling suspend',
      verb: 'autoscaling suspend',
      actor: 'moto (arn:aws:sts::123456789012:user/moto)',
      environment: 'staging',
      detail: 'suspended AZRebalance on herd-staging-web and herd-staging-worker',
      at: '2026-11-05T10:00:00.000Z',
    });
    const json = JSON.parse((await runHerd(['history', 'staging', '--json'], deps())).out) as { kind: string; verb?: string; deployId?: string }[];
    expect(json.map((e) => [e.kind, e.verb ?? e.deployId])).toEqual([['action', 'autoscaling suspend'], ['deploy', 'd1']]);
  });

  test('fails when --limit is not a positive number', async () => {
    const run = await runHerd(['history', 'staging', '--limit', 'ten'], deps());
    expect(run.code).toBe(2);
    expect(run.err.split('\n')[0]).toBe("herd: option '--limit <n>' argument 'ten' is invalid. must be a whole number from 1 to 1000 (received \"ten\")");
  });
});

describe('herd unlock', () => {
  test('breaks the lock of a deploy that is not running', async () => {
    await putLock();
    const run = await runHerd(['unlock', 'staging', '--deploy', LOCK.deployId], deps());
    expect(run).toEqual({ code: 0, err: '', out: `lock of staging broken: it was held by deploy ${LOCK.deployId} (bob, release r0) since ${LOCK.since}\n` });
    expect((await clients.dynamodb.send(new GetCommand({ TableName: 'herd-staging-deploys', Key: { pk: 'LOCK', sk: 'LOCK' } }))).Item).toBeUndefined();
  });

  test('fails when another deploy holds the lock, or none does, and changes nothing', async () => {
    expect(await runHerd(['unlock', 'staging', '--deploy', 'x1'], deps())).toEqual({ code: 2, out: '', err: 'herd: environment staging is not locked\n' });
    await putLock();
    expect(await runHerd(['unlock', 'staging', '--deploy', 'x1'], deps())).toEqual({ code: 2, out: '', err: `herd: environment staging is locked by deploy ${LOCK.deployId}, not x1; nothing was changed\n` });
    expect((await clients.dynamodb.send(new GetCommand({ TableName: 'herd-staging-deploys', Key: { pk: 'LOCK', sk: 'LOCK' } }))).Item?.deployId).toBe(LOCK.deployId);
    const missing = await runHerd(['unlock', 'staging'], deps());
    expect(missing.err.split('\n')[0]).toBe("herd: required option '--deploy <id>' not specified");
  });
});

describe('herd deploy (moto Step Functions)', () => {
  test('--detach uploads the artifact and starts the state machine with the deploy input', async () => {
    const dir = appDirectory('moto');
    const release = releaseIdOfTree(dir);
    const run = await runHerd(['deploy', 'staging', dir, '--detach', '--migrate', 'none'], deps());
    expect(run.err).toBe('');
    expect(run.code).toBe(3);
    await clients.s3.send(new HeadObjectCommand({ Bucket: 'herd-staging-artifacts', Key: `releases/${release}.tar.gz` }));
    const list = await clients.sfn.send(new ListExecutionsCommand({ stateMachineArn: m.outputs.DeployStateMachineArn }));
    expect(list.executions).toHaveLength(1);
    const x = await clients.sfn.send(new DescribeExecutionCommand({ executionArn: list.executions?.[0]?.executionArn ?? '' }));
    // moto's STS answers for its own user: the actor is that identity.
    expect(JSON.parse(x.input ?? '{}')).toEqual({ release, actor: 'moto (arn:aws:sts::123456789012:user/moto)', deployId: x.name, migrationOrder: 'none' });
    // One part: a single PutObject (its ETag is the body's MD5, without a part count).
    const head = await clients.s3.send(new HeadObjectCommand({ Bucket: 'herd-staging-artifacts', Key: `releases/${release}.tar.gz` }));
    expect(head.ETag).toMatch(/^"[0-9a-f]{32}"$/);
  });

  test('a large artifact goes up as a real multipart upload: parts of 16 MiB, the object byte for byte', async () => {
    const dir = largeAppDirectory(20 * 1024 * 1024, 'moto-large');
    const out = mkdtempSync(path.join(tmpdir(), 'herd-pack-'));
    try {
      await packDirectory(dir, path.join(out, 'a.tar.gz'));
      const tarball = readFileSync(path.join(out, 'a.tar.gz'));
      const release = releaseIdOfTree(dir);
      const key = `releases/${release}.tar.gz`;
      const run = await runHerd(['deploy', 'staging', dir, '--detach'], deps());
      expect(run.err).toBe('');
      expect(run.code).toBe(3);
      expect(run.out.split('\n').slice(0, 3)).toEqual([
        `packed 4 files, ${(tarball.length / 1024 / 1024).toFixed(1)} MiB (20.0 MiB before compression)`,
        `uploading s3://herd-staging-artifacts/${key} (${(tarball.length / 1024 / 1024).toFixed(1)} MiB)`,
        `uploaded s3://herd-staging-artifacts/${key} (${(tarball.length / 1024 / 1024).toFixed(1)} MiB in 0s)`,
      ]);
      // S3 (and moto) give a multipart object the ETag "<md5 of the parts' md5s>-<parts>".
      const head = await clients.s3.send(new HeadObjectCommand({ Bucket: 'herd-staging-artifacts', Key: key }));
      expect(head.ETag).toMatch(/^"[0-9a-f]{32}-2"$/);
      expect(head.ContentLength).toBe(tarball.length);
      const part1 = await clients.s3.send(new HeadObjectCommand({ Bucket: 'herd-staging-artifacts', Key: key, PartNumber: 1 }));
      expect(part1.ContentLength).toBe(16 * 1024 * 1024);
      const got = await clients.s3.send(new GetObjectCommand({ Bucket: 'herd-staging-artifacts', Key: key }));
      expect(Buffer.from(await got.Body!.transformToByteArray()).equals(tarball)).toBe(true);
      const list = await clients.sfn.send(new ListExecutionsCommand({ stateMachineArn: m.outputs.DeployStateMachineArn }));
      expect(list.executions).toHaveLength(1);
    } finally {
      rmSync(dir, { recursive: true, force: true });
      rmSync(out, { recursive: true, force: true });
    }
  }, 60_000);

  test('fails when the lock is held: the lock message, nothing uploaded, nothing started', async () => {
    await putLock();
    const dir = appDirectory('locked');
    const run = await runHerd(['deploy', 'staging', dir], deps());
    expect(run).toEqual({ code: 2, out: expect.stringMatching(/^packed 3 files, [^\n]+\n$/), err: `herd: ${lockedMessage('staging', LOCK)}\n` });
    await expect(clients.s3.send(new HeadObjectCommand({ Bucket: 'herd-staging-artifacts', Key: `releases/${releaseIdOfTree(dir)}.tar.gz` }))).rejects.toThrow();
    expect((await clients.sfn.send(new ListExecutionsCommand({ stateMachineArn: m.outputs.DeployStateMachineArn }))).executions).toEqual([]);
  });
});

describe('herd releases', () => {
  test('lists images and which environment runs which; prune is a dry run without --yes', async () => {
    for (const r of ['ra', 'rb', 'r1']) await createReleaseImage(clients, m, r);
    const json = await runHerd(['releases', 'staging', '--json'], deps());
    const view = JSON.parse(json.out) as { images: { release: string; servingOn: string[]; bakedBy: string }[]; environments: Record<string, string | null> };
    expect(view.images.map((i) => i.release).sort()).toEqual(['r1', 'ra', 'rb']);
    expect(view.images.find((i) => i.release === 'r1')).toMatchObject({ servingOn: ['staging'], bakedBy: 'staging' });
    expect(view.environments).toEqual({ staging: 'r1', production: null });
    const text = await runHerd(['releases', 'staging'], deps());
    expect(text.out.split('\n')[0]).toBe('serving: staging r1, production (not deployed)');

    const config = resolveConfig({ app: 'shop', environments: [{ name: 'staging', amiRetention: 1 }] });
    const dry = await runHerd(['releases', 'prune', 'staging'], deps(config));
    expect(dry.out).toMatch(/^would deregister 2 image\(s\) of staging:\n {2}ami-\w+.*\n {2}ami-\w+.*\nrun `herd releases prune staging --yes` to do it\n$/);
    const count = async () => (await clients.ec2.send(new DescribeImagesCommand({ Owners: ['self'], Filters: [{ Name: 'tag:herd:app', Values: ['shop'] }] }))).Images?.length;
    expect(await count()).toBe(3);
    const done = await runHerd(['releases', 'prune', 'staging', '--yes'], deps(config));
    expect(done.out).toMatch(/pruned 2 image\(s\) of staging\n$/);
    expect(await count()).toBe(1);
  });

  test('prune keeps an image promoted to another configured environment (its current image), with no instance running it', async () => {
    const promoted = await createReleaseImage(clients, m, 'ra');
    // Images are dated to the second: the newer ones come a second later, so amiRetention 1 cannot be what keeps the promoted one.
    await new Promise((resolve) => setTimeout(resolve, 1050 - (Date.now() % 1000)));
    await createReleaseImage(clients, m, 'rb');
    await createReleaseImage(clients, m, 'r1');
    await clients.ssm.send(new PutParameterCommand({ Name: parameterNames('shop', 'production').currentImage, Value: promoted, Type: 'String', DataType: 'aws:ec2:image' }));
    const config = resolveConfig({
      app: 'shop',
      environments: [
        { name: 'staging', amiRetention: 1, network: { cidr: '10.20.0.0/16' } },
        { name: 'production', network: { cidr: '10.30.0.0/16' } },
      ],
    });
    const dry = await runHerd(['releases', 'prune', 'staging'], deps(config));
    expect(dry.out).toMatch(/^would deregister 1 image\(s\) of staging:\n/);
    expect(dry.out).not.toContain(promoted);
    const done = await runHerd(['releases', 'prune', 'staging', '--yes'], deps(config));
    expect(done.out).toMatch(/pruned 1 image\(s\) of staging\n$/);
    const left = await clients.ec2.send(new DescribeImagesCommand({ Owners: ['self'], Filters: [{ Name: 'tag:herd:app', Values: ['shop'] }] }));
    expect((left.Images ?? []).map((i) => i.ImageId)).toContain(promoted);
  });

  test('fails to prune while a deploy holds the lock', async () => {
    await putLock();
    expect(await runHerd(['releases', 'prune', 'staging', '--yes'], deps())).toEqual({ code: 2, out: '', err: `herd: ${lockedMessage('staging', LOCK)}\n` });
  });
});
