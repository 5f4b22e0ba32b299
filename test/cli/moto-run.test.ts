/**
 * `herd run` against moto_server, for the calls moto implements (RunInstances with tags, an
 * instance profile and user data, DescribeInstances, TerminateInstances, GetParameter,
 * GetLogEvents, DynamoDB): what it launches, how it ends a run whose instance never reports,
 * and that a refusal launches nothing. moto runs no instance scripts: the command itself is
 * covered by the fake cloud (`run.test.ts`) and the boot script's own tests.
 */
import { DescribeInstanceAttributeCommand, DescribeInstancesCommand, TerminateInstancesCommand, type Instance } from '@aws-sdk/client-ec2';
import { PutCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { lockedMessage } from '../../lambda/deploy/lock';
import { TAGS } from '../../lib/names';
import { runHerd, testDeps } from './support/harness';
import { freshMotoEnvironmentEachTest, type MotoClients, type MotoEnvironment } from './support/moto-env';

let clients: MotoClients;
let m: MotoEnvironment;
freshMotoEnvironmentEachTest((c, e) => {
  clients = c;
  m = e;
});

async function runInstances(): Promise<Instance[]> {
  const res = await clients.ec2.send(new DescribeInstancesCommand({ Filters: [{ Name: `tag:${TAGS.role}`, Values: ['run'] }] }));
  return (res.Reservations ?? []).flatMap((r) => r.Instances ?? []);
}
const tag = (i: Instance | undefined, key: string) => i?.Tags?.find((t) => t.Key === key)?.Value;
const actions = async () => (await clients.dynamodb.send(new QueryCommand({ TableName: m.outputs.DeployTableName, KeyConditionExpression: 'pk = :a', ExpressionAttributeValues: { ':a': 'ACTION' } }))).Items ?? [];

describe('herd run (moto)', () => {
  test('--detach launches the run instance: the serving image, the runner profile, the run tags, the command in its user data; recorded', async () => {
    const run = await runHerd(['run', 'staging', '--detach', '--', 'python', 'manage.py', 'createsuperuser', '--noinput'], testDeps({ clients: () => clients }));
    expect(run.err).toBe('');
    expect(run.code).toBe(3);
    const [instance] = await runInstances();
    expect(await runInstances()).toHaveLength(1);
    expect(instance!.ImageId).toBe(m.baseImage);
    expect(instance!.IamInstanceProfile?.Arn).toBe(m.outputs.RunnerInstanceProfileArn);
    expect(m.network.subnetIds).toContain(instance!.SubnetId);
    expect([tag(instance, TAGS.app), tag(instance, TAGS.environment), tag(instance, TAGS.release)]).toEqual(['shop', 'staging', 'r1']);
    expect(tag(instance, TAGS.run)).toMatch(/^run-\d{8}T\d{6}Z-[0-9a-f]{6}$/);
    const attr = await clients.ec2.send(new DescribeInstanceAttributeCommand({ InstanceId: instance!.InstanceId, Attribute: 'userData' }));
    const userData = Buffer.from(attr.UserData?.Value ?? '', 'base64').toString('utf8');
    expect(userData).toContain(`exec /opt/herd/bin/herd-boot --app shop --env staging --role run --run-as web --timeout-seconds 3600 --command-base64 ${Buffer.from('python manage.py createsuperuser --noinput').toString('base64')}`);
    expect(run.out).toContain(`stop it:   aws ec2 terminate-instances --instance-ids ${instance!.InstanceId}\n`);
    expect((await actions()).map((a) => a.verb)).toEqual(['run']);
  });

  test('an instance that ends without reporting: exit 1 saying so, the instance terminated', async () => {
    let polls = 0;
    const deps = testDeps({
      clients: () => clients,
      sleep: async () => {
        polls += 1;
        // Someone terminates it from the console (moto never runs the command, so it never reports).
        const [i] = await runInstances();
        if (polls === 2 && i?.InstanceId) await clients.ec2.send(new TerminateInstancesCommand({ InstanceIds: [i.InstanceId] }));
      },
    });
    const run = await runHerd(['run', 'staging', '--', 'true'], deps);
    const [instance] = await runInstances();
    expect(run.code).toBe(1);
    expect(run.err).toMatch(new RegExp(`^herd: instance ${instance!.InstanceId} is (shutting-down|terminated) and never reported \\(its boot log: /herd/shop/staging/boot, stream ${instance!.InstanceId}\\) after \\d+ s; the instance is terminated\\n$`));
    expect(['shutting-down', 'terminated']).toContain(instance!.State?.Name);
  });

  test('refused while a deploy holds the lock: nothing launched, nothing recorded', async () => {
    const lock = { deployId: '20261105T090000Z-abcdef', actor: 'bob', release: 'r0', since: '2026-11-05T09:00:00.000Z' };
    await clients.dynamodb.send(new PutCommand({ TableName: m.outputs.DeployTableName, Item: { pk: 'LOCK', sk: 'LOCK', ...lock } }));
    const run = await runHerd(['run', 'staging', '--', 'true'], testDeps({ clients: () => clients }));
    expect(run).toEqual({ code: 2, out: '', err: `herd: ${lockedMessage('staging', lock)}; herd run waits for deploys: run it after this one, or pass --during-deploy to run it now\n` });
    expect(await runInstances()).toEqual([]);
    expect(await actions()).toEqual([]);
  });
});
