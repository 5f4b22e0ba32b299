/**
 * Wire level: deploy notifications (`lambda/deploy/notify.ts`) through the real SDK against
 * SNS and EventBridge as moto implements them: a topic with an SQS subscriber whose filter
 * policy reads the message attributes, and a rule on the default bus that matches herd's
 * source, detail type and status, delivering to another queue. What arrives is what a
 * team's chat or email integration would receive.
 *
 * There is no SQS client among herd's dependencies: the two queue calls the test needs
 * (create, receive) speak SQS's JSON protocol directly.
 */
import { PutRuleCommand, PutTargetsCommand } from '@aws-sdk/client-eventbridge';
import { CreateTopicCommand, SubscribeCommand } from '@aws-sdk/client-sns';
import { startDeploy } from '../../lambda/deploy/advance';
import type { DeployEnvironment } from '../../lambda/deploy/environment';
import { DEPLOY_EVENT_DETAIL_TYPE, DeployNotificationError, deployEventOf, publishDeployEvent, type DeployEvent } from '../../lambda/deploy/notify';
import type { DeployState } from '../../lambda/deploy/state';
import { MOTO_ACCOUNT, MOTO_REGION, startMoto, type MotoServer } from '../support/moto';
import { destroyClients, wireClients, type WireClients } from './cloud';
import { ManualClock, deployEnvironment } from './fixtures';

/** One call of SQS's JSON protocol (`AmazonSQS.<action>`) to moto. */
async function sqs<T>(server: MotoServer, action: string, body: Record<string, unknown>): Promise<T> {
  const res = await fetch(`${server.endpoint}/`, {
    method: 'POST',
    headers: {
      'Content-Type': 'application/x-amz-json-1.0',
      'X-Amz-Target': `AmazonSQS.${action}`,
      Authorization: `AWS4-HMAC-SHA256 Credential=testing/20260101/${MOTO_REGION}/sqs/aws4_request, SignedHeaders=host, Signature=0`,
    },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`SQS ${action} failed: HTTP ${res.status} ${text.slice(0, 300)}`);
  return JSON.parse(text) as T;
}

/** A queue: its URL for receiving, its ARN for subscriptions and rule targets. */
async function createQueue(server: MotoServer, name: string): Promise<{ url: string; arn: string }> {
  const { QueueUrl } = await sqs<{ QueueUrl: string }>(server, 'CreateQueue', { QueueName: name });
  return { url: QueueUrl, arn: `arn:aws:sqs:${MOTO_REGION}:${MOTO_ACCOUNT}:${name}` };
}

/** Every message waiting in the queue, parsed from JSON. */
async function received(server: MotoServer, queueUrl: string): Promise<Record<string, unknown>[]> {
  const res = await sqs<{ Messages?: { Body: string }[] }>(server, 'ReceiveMessage', { QueueUrl: queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 0 });
  return (res.Messages ?? []).map((m) => JSON.parse(m.Body) as Record<string, unknown>);
}

describe('wire: deploy notifications on SNS and EventBridge (moto)', () => {
  const moto = startMoto();
  let clients: WireClients;
  const clock = new ManualClock();

  beforeAll(async () => {
    clients = wireClients(await moto.ready);
  });
  afterAll(() => destroyClients(clients));
  beforeEach(() => moto.server().reset());

  /** The deploy r2 that replaced r1, in state `status`, ten minutes after it started. */
  function eventOf(env: DeployEnvironment, status: 'succeeded' | 'rolled-back'): DeployEvent {
    const started = startDeploy({ release: 'r2', actor: 'alice (arn:aws:iam::123456789012:user/alice)', deployId: '20261105T100000Z-a1b2c3' }, env, clock);
    const state: DeployState = {
      ...started,
      previous: { imageId: 'ami-0123456789abcdef0', release: 'r1', versions: {} },
      ...(status === 'rolled-back' ? { failure: { phase: 'rollout' as const, step: 'refresh.wait', cause: 'instance refresh rolled back: alarm herd-staging-target5xx', at: clock.now() } } : {}),
    };
    return deployEventOf(state, status, clock.now() + 600_000);
  }

  test('a subscriber filtering on the status attribute gets the failure only, with its subject and event; a rule on herd\'s source gets it too', async () => {
    const server = moto.server();
    const topic = await clients.sns.send(new CreateTopicCommand({ Name: 'herd-staging-notifications' }));
    const topicArn = topic.TopicArn ?? '';
    const people = await createQueue(server, 'team-chat');
    await clients.sns.send(
      new SubscribeCommand({ TopicArn: topicArn, Protocol: 'sqs', Endpoint: people.arn, Attributes: { FilterPolicy: JSON.stringify({ status: ['rolled-back', 'needs-attention'] }) } }),
    );
    const machines = await createQueue(server, 'deploy-events');
    await clients.eventBridge.send(
      new PutRuleCommand({ Name: 'herd-failed-deploys', EventPattern: JSON.stringify({ source: ['herd'], 'detail-type': [DEPLOY_EVENT_DETAIL_TYPE], detail: { status: ['rolled-back'] } }) }),
    );
    await clients.eventBridge.send(new PutTargetsCommand({ Rule: 'herd-failed-deploys', Targets: [{ Id: 'queue', Arn: machines.arn }] }));
    const env = deployEnvironment({ notificationTopicArn: topicArn });

    await publishDeployEvent(clients, env, eventOf(env, 'succeeded'));
    const failure = eventOf(env, 'rolled-back');
    await publishDeployEvent(clients, env, failure);

    const toPeople = await received(server, people.url);
    expect(toPeople).toHaveLength(1);
    const notification = toPeople[0]!;
    expect(notification).toMatchObject({
      Type: 'Notification',
      TopicArn: topicArn,
      Subject: 'herd shop/staging: release r2 failed and was rolled back',
      MessageAttributes: {
        status: { Type: 'String', Value: 'rolled-back' },
        app: { Type: 'String', Value: 'shop' },
        environment: { Type: 'String', Value: 'staging' },
      },
    });
    const message = String(notification.Message);
    expect(message.split('\n').slice(0, 7)).toEqual([
      'herd shop/staging: release r2 failed and was rolled back',
      '',
      'deploy    20261105T100000Z-a1b2c3 (rolling)',
      'actor     alice (arn:aws:iam::123456789012:user/alice)',
      'started   2026-11-05T10:00:00.000Z',
      'ended     2026-11-05T10:10:00.000Z',
      'previous  r1',
    ]);
    expect(JSON.parse(message.slice(message.indexOf('\n{') + 1))).toEqual(failure);

    const toMachines = await received(server, machines.url);
    expect(toMachines).toHaveLength(1);
    // (moto leaves out the event's `account`; AWS sets it.)
    expect(toMachines[0]).toMatchObject({ source: 'herd', 'detail-type': 'herd Deploy Status Change', region: MOTO_REGION, detail: failure });
  });

  test('fails when the topic does not exist, naming the channel and SNS\'s error; the event still reaches the bus', async () => {
    const server = moto.server();
    const machines = await createQueue(server, 'deploy-events');
    await clients.eventBridge.send(new PutRuleCommand({ Name: 'herd-deploys', EventPattern: JSON.stringify({ source: ['herd'] }) }));
    await clients.eventBridge.send(new PutTargetsCommand({ Rule: 'herd-deploys', Targets: [{ Id: 'queue', Arn: machines.arn }] }));
    const env = deployEnvironment({ notificationTopicArn: `arn:aws:sns:${MOTO_REGION}:${MOTO_ACCOUNT}:herd-staging-gone` });
    const event = eventOf(env, 'succeeded');

    const err = await publishDeployEvent(clients, env, event).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DeployNotificationError);
    expect((err as DeployNotificationError).failures.map((f) => [f.channel, f.transient])).toEqual([['sns', false]]);
    expect((err as Error).message).toMatch(/^deploy notification not delivered: SNS: NotFoundException: /);
    expect((await received(server, machines.url)).map((m) => m.detail)).toEqual([event]);
  });
});
