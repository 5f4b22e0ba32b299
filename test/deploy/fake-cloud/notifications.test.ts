/**
 * The fake cloud's SNS Publish and EventBridge PutEvents take what AWS takes, record it, and
 * refuse what AWS refuses (Publish and PutEvents API references, SNS message attributes,
 * "Calculating PutEvents event entry size").
 */
import { PutEventsCommand, type PutEventsRequestEntry } from '@aws-sdk/client-eventbridge';
import { PublishCommand, type PublishCommandInput } from '@aws-sdk/client-sns';
import { SNS_MAX_MESSAGE_BYTES } from '../../../lib/simulation/services/sns';
import { MAX_PUT_EVENTS_BYTES, entrySize } from '../../../lib/simulation/services/eventbridge';
import { createWorld } from '../../../lib/simulation/world';

function world() {
  const w = createWorld({ web: 1, serving: 'r1', consistency: { maxLagSeconds: 0 } });
  return { ...w, clients: w.cloud.clients() };
}

describe('fake SNS Publish', () => {
  const publish = (w: ReturnType<typeof world>, input: Partial<PublishCommandInput>) =>
    w.clients.sns.send(new PublishCommand({ TopicArn: w.env.notificationTopicArn, Message: 'hello', ...input }));

  test('records a message on the world\'s notifications topic, with its subject and attributes', async () => {
    const w = world();
    const res = await publish(w, {
      Subject: 'herd shop/staging: release r2 succeeded',
      MessageAttributes: { status: { DataType: 'String', StringValue: 'succeeded' }, tries: { DataType: 'Number', StringValue: '2' } },
    });
    expect(res.MessageId).toMatch(/^[0-9a-f]{32}$/);
    expect(w.cloud.published).toEqual([
      {
        service: 'sns',
        at: w.clock.now(),
        topicArn: 'arn:aws:sns:eu-west-1:123456789012:herd-staging-notifications',
        subject: 'herd shop/staging: release r2 succeeded',
        message: 'hello',
        attributes: { status: 'succeeded', tries: '2' },
      },
    ]);
  });

  test('fails when the topic does not exist, or no topic is named', async () => {
    const w = world();
    await expect(publish(w, { TopicArn: 'arn:aws:sns:eu-west-1:123456789012:other' })).rejects.toMatchObject({ name: 'NotFoundException', message: 'Topic does not exist' });
    await expect(publish(w, { TopicArn: undefined })).rejects.toThrow('Invalid parameter: TopicArn or TargetArn Reason: no value for required parameter');
    expect(w.cloud.published).toEqual([]);
  });

  test('fails when the subject is empty, has 100 characters or more, a line break, or a non-ASCII character', async () => {
    const w = world();
    await expect(publish(w, { Subject: 'x'.repeat(99) })).resolves.toBeDefined();
    for (const subject of ['', 'x'.repeat(100), 'release r2\nsucceeded', 'déploiement réussi']) {
      await expect(publish(w, { Subject: subject })).rejects.toMatchObject({ name: 'InvalidParameterException', message: expect.stringMatching(/^Invalid parameter: Subject \(must be printable ASCII/) });
    }
    expect(w.cloud.published).toHaveLength(1);
  });

  test('fails when the message is empty or not valid UTF-8', async () => {
    const w = world();
    await expect(publish(w, { Message: '' })).rejects.toThrow('Invalid parameter: Empty message');
    // A lone surrogate cannot be form-encoded: the SDK fails before anything is sent.
    await expect(publish(w, { Message: 'broken \ud800 pair' })).rejects.toThrow(URIError);
    expect(w.cloud.calls.filter((c) => c.api === 'sns:Publish')).toHaveLength(1);
  });

  test('counts the attributes into the 256 KiB limit, in UTF-8 bytes', async () => {
    const w = world();
    const attributes = { status: { DataType: 'String', StringValue: 'failed' } };
    const attributeBytes = 'status'.length + 'String'.length + 'failed'.length;
    // 'é' is two bytes in UTF-8.
    const body = (bytes: number) => `${'é'.repeat(Math.floor(bytes / 2))}${bytes % 2 ? 'x' : ''}`;
    await expect(publish(w, { Message: body(SNS_MAX_MESSAGE_BYTES - attributeBytes), MessageAttributes: attributes })).resolves.toBeDefined();
    await expect(publish(w, { Message: body(SNS_MAX_MESSAGE_BYTES - attributeBytes + 1), MessageAttributes: attributes })).rejects.toThrow(
      `Invalid parameter: Message too long (${SNS_MAX_MESSAGE_BYTES + 1} bytes with its attributes; at most ${SNS_MAX_MESSAGE_BYTES})`,
    );
  });

  test('fails when a message attribute breaks the naming, type or value rules', async () => {
    const w = world();
    const cases: [Record<string, { DataType: string; StringValue?: string }>, RegExp][] = [
      [{ 'AWS.status': { DataType: 'String', StringValue: 'x' } }, /name 'AWS\.status' is invalid/],
      [{ 'a..b': { DataType: 'String', StringValue: 'x' } }, /name 'a\.\.b' is invalid/],
      [{ 'st atus': { DataType: 'String', StringValue: 'x' } }, /name 'st atus' is invalid/],
      [{ status: { DataType: 'Text', StringValue: 'x' } }, /invalid message attribute type 'Text'/],
      [{ status: { DataType: 'String', StringValue: '' } }, /must contain non-empty message attribute value/],
      [{ tries: { DataType: 'Number', StringValue: 'two' } }, /with type 'Number' must have a numeric value/],
      [{ roles: { DataType: 'String.Array', StringValue: 'web' } }, /with type 'String.Array' must be a JSON array/],
    ];
    for (const [attributes, message] of cases) {
      await expect(publish(w, { MessageAttributes: attributes })).rejects.toThrow(message);
    }
    expect(w.cloud.published).toEqual([]);
  });

  test('fails for a FIFO topic without a message group, and a JSON structure without "default"', async () => {
    const w = world();
    w.cloud.topics.add('arn:aws:sns:eu-west-1:123456789012:deploys.fifo');
    await expect(publish(w, { TopicArn: 'arn:aws:sns:eu-west-1:123456789012:deploys.fifo' })).rejects.toThrow('The MessageGroupId parameter is required for FIFO topics');
    await expect(publish(w, { MessageStructure: 'json', Message: '{"email":"hi"}' })).rejects.toThrow('has no string "default" key');
  });
});

describe('fake EventBridge PutEvents', () => {
  const entry = (extra: Partial<PutEventsRequestEntry> = {}): PutEventsRequestEntry => ({ Source: 'herd', DetailType: 'herd Deploy Status Change', Detail: '{"status":"started"}', ...extra });

  test('records the entries it takes on the default bus, and reports the ones it refuses per entry without throwing', async () => {
    const w = world();
    const res = await w.clients.eventBridge.send(
      new PutEventsCommand({
        Entries: [
          entry({ Time: new Date('2026-11-05T10:00:00Z') }),
          entry({ Detail: undefined }),
          entry({ Detail: '{"status":' }),
          entry({ Detail: '["started"]' }),
          entry({ Source: 'aws.states' }),
          entry({ EventBusName: 'deploys' }),
          entry({ DetailType: 'x'.repeat(129) }),
          entry({ EventBusName: 'arn:aws:events:eu-west-1:123456789012:event-bus/default', Detail: '{"status":"succeeded"}' }),
        ],
      }),
    );
    expect(res.FailedEntryCount).toBe(6);
    expect(res.Entries?.map((e) => e.ErrorCode ?? 'ok')).toEqual([
      'ok', 'InvalidArgument', 'MalformedDetail', 'MalformedDetail', 'NotAuthorizedForSourceException', 'ResourceNotFoundException', 'InvalidArgument', 'ok',
    ]);
    expect(res.Entries?.[1]?.ErrorMessage).toBe('Parameter(s) Detail could not be found.');
    expect(res.Entries?.[5]?.ErrorMessage).toBe('Event bus deploys does not exist.');
    expect(w.cloud.published).toEqual([
      { service: 'eventBridge', at: w.clock.now(), bus: 'default', source: 'herd', detailType: 'herd Deploy Status Change', detail: { status: 'started' }, time: '2026-11-05T10:00:00.000Z' },
      { service: 'eventBridge', at: w.clock.now(), bus: 'default', source: 'herd', detailType: 'herd Deploy Status Change', detail: { status: 'succeeded' } },
    ]);
  });

  test('fails the whole request for no entry, more than 10, or entries over 256 KiB in all', async () => {
    const w = world();
    await expect(w.clients.eventBridge.send(new PutEventsCommand({ Entries: [] }))).rejects.toMatchObject({ name: 'ValidationException' });
    await expect(w.clients.eventBridge.send(new PutEventsCommand({ Entries: Array.from({ length: 11 }, () => entry()) }))).rejects.toThrow(
      'Member must have length between 1 and 10 (received 11)',
    );
    const fixed = entrySize(entry({ Detail: '{"d":""}' }));
    const sized = (bytes: number) => entry({ Detail: `{"d":"${'x'.repeat(bytes - fixed)}"}` });
    await expect(w.clients.eventBridge.send(new PutEventsCommand({ Entries: [sized(MAX_PUT_EVENTS_BYTES / 2), sized(MAX_PUT_EVENTS_BYTES / 2)] }))).resolves.toMatchObject({ FailedEntryCount: 0 });
    await expect(w.clients.eventBridge.send(new PutEventsCommand({ Entries: [sized(MAX_PUT_EVENTS_BYTES / 2), sized(MAX_PUT_EVENTS_BYTES / 2 + 1)] }))).rejects.toThrow(
      `Total size of the entries in the request is over the limit (${MAX_PUT_EVENTS_BYTES + 1} bytes; at most ${MAX_PUT_EVENTS_BYTES}).`,
    );
  });

  test('answers the entry failures a test queues, one per valid entry, as EventBridge does under load', async () => {
    const w = world();
    w.cloud.failNextEntries.push({ code: 'InternalFailure', message: 'try again' });
    const res = await w.clients.eventBridge.send(new PutEventsCommand({ Entries: [entry(), entry()] }));
    expect(res.FailedEntryCount).toBe(1);
    expect(res.Entries).toEqual([{ ErrorCode: 'InternalFailure', ErrorMessage: 'try again' }, { EventId: expect.stringMatching(/^[0-9a-f]{32}$/) }]);
    expect(w.cloud.published).toHaveLength(1);
  });
});
