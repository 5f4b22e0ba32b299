/**
 * The fake's `herd run` instance (`lib/simulation/services/runs.ts`) and GetLogEvents' forward
 * token, as `herd run` reads them: lines arrive over the command's duration, a few seconds
 * late; the report comes at the end (exit 124 past the timeout); the instance powers off
 * after the flush wait; a forward token returns only newer events, and the same token at the
 * end of the stream.
 */
import { GetLogEventsCommand } from '@aws-sdk/client-cloudwatch-logs';
import { RunInstancesCommand } from '@aws-sdk/client-ec2';
import { RUN_WATCHDOG_GRACE_MINUTES, runCommandUserData } from '../../../lambda/deploy/release';
import { TAGS, parameterNames } from '../../../lib/names';
import { AGENT_SHIP_SECONDS, RUN_FLUSH_SECONDS, configureRuns } from '../../../lib/simulation/services/runs';
import { createWorld } from '../../../lib/simulation/world';

const GROUP = '/herd/shop/staging/run';

async function launch(command: string, timeoutSeconds = 600) {
  const w = createWorld({ app: 'shop', env: 'staging', web: 1, worker: 0, serving: 'r1', consistency: { maxLagSeconds: 0 } });
  configureRuns(w.cloud, { 'manage.py fix': { exitCode: 2, lines: ['one', 'two', 'three', 'four'], seconds: 40 } });
  const clients = w.cloud.clients();
  const res = await clients.ec2.send(new RunInstancesCommand({
    LaunchTemplate: { LaunchTemplateId: w.env.fleets.web.launchTemplateId, Version: '1' },
    IamInstanceProfile: { Arn: w.env.instances.runnerInstanceProfileArn },
    MinCount: 1,
    MaxCount: 1,
    InstanceInitiatedShutdownBehavior: 'terminate',
    UserData: Buffer.from(runCommandUserData('shop', 'staging', { command, runAs: 'web', timeoutSeconds })).toString('base64'),
    TagSpecifications: [{ ResourceType: 'instance', Tags: [{ Key: TAGS.environment, Value: 'staging' }, { Key: TAGS.role, Value: 'run' }] }],
  }));
  const id = res.Instances![0]!.InstanceId!;
  return { w, clients, id, report: () => w.cloud.parameters.get(`${parameterNames('shop', 'staging').runResultsPrefix}${id}`) };
}

describe('a herd run instance in the fake cloud', () => {
  test('prints its lines over its duration, shipped a few seconds late, then reports and powers off after the flush wait', async () => {
    const { w, clients, id, report } = await launch('manage.py fix');
    const read = (token?: string) => clients.logs.send(new GetLogEventsCommand({ logGroupName: GROUP, logStreamName: id, startFromHead: true, ...(token ? { nextToken: token } : {}) }));
    await expect(read()).rejects.toThrow(expect.objectContaining({ name: 'ResourceNotFoundException' }));
    const booted = w.cloud.timings.bootSeconds;
    w.cloud.advance(booted + 20 + AGENT_SHIP_SECONDS); // half the lines printed and shipped
    const first = await read();
    expect(first.events!.map((e) => e.message)).toEqual(['one', 'two']);
    expect(report()).toBeUndefined();
    // The same token at the end of the stream; only newer events after it.
    const again = await read(first.nextForwardToken);
    expect(again.events).toEqual([]);
    expect(again.nextForwardToken).toBe(first.nextForwardToken);
    w.cloud.advance(20 - AGENT_SHIP_SECONDS); // the command ends: its report, its last line not shipped yet
    expect(JSON.parse(report()!)).toEqual({ exitCode: 2, logTail: 'one\ntwo\nthree\nfour\n', lines: 4 });
    expect((await read(first.nextForwardToken)).events!.map((e) => e.message)).toEqual(['three']);
    w.cloud.advance(AGENT_SHIP_SECONDS);
    expect((await read(first.nextForwardToken)).events!.map((e) => e.message)).toEqual(['three', 'four']);
    expect(w.cloud.instances.get(id)!.state).toBe('running');
    w.cloud.advance(RUN_FLUSH_SECONDS);
    expect(w.cloud.instances.get(id)!.state).toBe('shutting-down');
    expect(w.cloud.violations).toEqual([]);
  });

  test('a command longer than its timeout is stopped: exit 124, said in its output', async () => {
    const { w, report } = await launch('manage.py fix', 10);
    w.cloud.advance(w.cloud.timings.bootSeconds + 10);
    expect(JSON.parse(report()!)).toEqual({ exitCode: 124, logTail: 'one\ntwo\nthree\nfour\nherd-boot: the command ran longer than 10s and was stopped\n', lines: 5 });
  });

  test('a run whose boot never starts the command powers off when its watchdog fires (timeout plus the grace)', async () => {
    const { w, id, report } = await launch('stuck', 600);
    configureRuns(w.cloud, { stuck: { neverStarts: true } });
    expect(w.cloud.instances.get(id)!.userData).toContain(`shutdown -h +${10 + RUN_WATCHDOG_GRACE_MINUTES} 'herd run watchdog'\n`);
    w.cloud.advance((10 + RUN_WATCHDOG_GRACE_MINUTES) * 60 - 5);
    expect(w.cloud.instances.get(id)!.state).toBe('running');
    w.cloud.advance(5);
    expect(w.cloud.instances.get(id)!.state).toBe('shutting-down');
    expect(report()).toBeUndefined();
  });

  test('GetLogEvents refuses a token it did not give', async () => {
    const { w, clients, id } = await launch('manage.py fix');
    w.cloud.advance(w.cloud.timings.bootSeconds + 60);
    await expect(clients.logs.send(new GetLogEventsCommand({ logGroupName: GROUP, logStreamName: id, nextToken: 'bogus' }))).rejects.toThrow('The specified nextToken is invalid.');
  });
});
