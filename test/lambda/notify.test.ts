/**
 * Deploy notifications (`lambda/deploy/notify.ts`) against the fake cloud, whose SNS and
 * EventBridge refuse what AWS refuses: what a deploy's start and outcome publish, that the
 * largest state still fits, and that a refusal on either channel is an error naming it.
 */
import { startDeploy } from '../../lambda/deploy/advance';
import { isTransient } from '../../lambda/deploy/errors';
import {
  DEPLOY_EVENT_DETAIL_TYPE,
  DEPLOY_EVENT_SOURCE,
  DeployNotificationError,
  MAX_CAUSE_CHARS,
  MAX_LIST_ITEMS,
  deployEventOf,
  deploySubject,
  publishDeployEvent,
  type DeployEvent,
} from '../../lambda/deploy/notify';
import type { DeployState } from '../../lambda/deploy/state';
import type { PublishedMessage } from '../../lib/simulation/fake-cloud';
import { SNS_MAX_MESSAGE_BYTES } from '../../lib/simulation/services/sns';
import { createWorld } from '../../lib/simulation/world';

const T0 = Date.parse('2026-11-05T10:00:00.000Z');
const ACTOR = 'alice (arn:aws:iam::123456789012:user/alice)';

function world(spec: { app?: string; env?: string } = {}) {
  const w = createWorld({ web: 2, worker: 1, serving: 'r1', consistency: { maxLagSeconds: 0 }, ...spec });
  w.clock.set(T0);
  return w;
}

/** The first state of deploy `deployId` of `release`, as the deploy step builds it. */
function stateOf(w: ReturnType<typeof world>, extra: Partial<DeployState> = {}, input: { release?: string; mode?: 'bake' } = {}): DeployState {
  return { ...startDeploy({ release: input.release ?? 'r2', actor: ACTOR, deployId: '20261105T100000Z-a1b2c3', ...(input.mode ? { mode: input.mode } : {}) }, w.env, w.clock), ...extra };
}

const sns = (published: PublishedMessage[]) => published.filter((p): p is Extract<PublishedMessage, { service: 'sns' }> => p.service === 'sns');
const events = (published: PublishedMessage[]) => published.filter((p): p is Extract<PublishedMessage, { service: 'eventBridge' }> => p.service === 'eventBridge');
/** The JSON event at the end of an SNS message. */
const eventInMessage = (message: string) => JSON.parse(message.slice(message.indexOf('\n{') + 1)) as DeployEvent;

describe('the deploy event', () => {
  test('started: who, what and since when; no end, no cause', () => {
    const w = world();
    expect(deployEventOf(stateOf(w), 'started', T0 + 5_000)).toEqual({
      version: 1,
      app: 'shop',
      environment: 'staging',
      deployId: '20261105T100000Z-a1b2c3',
      release: 'r2',
      mode: 'deploy',
      actor: ACTOR,
      status: 'started',
      strategy: 'rolling',
      startedAt: '2026-11-05T10:00:00.000Z',
    });
  });

  test('rolled back: its end, the failed phase and cause, the release that serves again, what was noticed', () => {
    const w = world();
    const state = stateOf(w, {
      failure: { phase: 'migrate', step: 'migrate.wait', cause: 'migration exited 1', at: T0 + 60_000 },
      previous: { imageId: 'ami-1', release: 'r1', versions: {} },
      warnings: ['web group was on an older launch template version; moved to the serving image'],
    });
    expect(deployEventOf(state, 'rolled-back', T0 + 300_000)).toMatchObject({
      status: 'rolled-back',
      endedAt: '2026-11-05T10:05:00.000Z',
      cause: 'migration exited 1',
      failedPhase: 'migrate',
      previousRelease: 'r1',
      warnings: ['web group was on an older launch template version; moved to the serving image'],
    });
  });

  test('aborted by a dead execution: the cause says how it ended, unless the caller gives one', () => {
    const w = world();
    const state = stateOf(w, { abandoned: { executionArn: 'arn:aws:states:eu-west-1:123456789012:execution:m:x', status: 'TIMED_OUT' } });
    expect(deployEventOf(state, 'aborted', T0).cause).toBe('execution ended TIMED_OUT');
    expect(deployEventOf(state, 'aborted', T0, 'stopped by bob').cause).toBe('stopped by bob');
    // A success carries no cause, even from an earlier failure the state remembers.
    expect(deployEventOf(stateOf(w, { failure: { phase: 'rollout', step: 's', cause: 'x', at: T0 } }), 'succeeded', T0)).not.toHaveProperty('cause');
  });

  test('a bake-only run says so in its mode and its subject', () => {
    const w = world();
    const event = deployEventOf(stateOf(w, {}, { mode: 'bake' }), 'succeeded', T0);
    expect(event.mode).toBe('bake');
    expect(deploySubject(event)).toBe('herd shop/staging: bake of release r2 succeeded');
  });
});

describe('publishing a deploy event', () => {
  test('puts a readable subject, the facts, the event and filterable attributes on the topic, and the event on the default bus', async () => {
    const w = world();
    const state = stateOf(w, {
      failure: { phase: 'rollout', step: 'refresh.wait', cause: 'instance refresh rolled back: alarm herd-staging-target5xx', at: T0 },
      previous: { imageId: 'ami-1', release: 'r1', versions: {} },
      compensation: { steps: ['restoreParameters'], index: 1, errors: ['restoreParameters: AccessDenied'], refreshes: {} },
    });
    const event = deployEventOf(state, 'needs-attention', T0 + 720_000);

    await publishDeployEvent(w.cloud.clients(), w.env, event);

    const [message, ...moreMessages] = sns(w.cloud.published);
    expect(moreMessages).toEqual([]);
    expect(message).toMatchObject({
      topicArn: w.env.notificationTopicArn,
      subject: 'herd shop/staging: release r2 NEEDS ATTENTION',
      attributes: { status: 'needs-attention', app: 'shop', environment: 'staging' },
    });
    expect(message?.message.split('\n\n')[1]).toBe(
      [
        'deploy    20261105T100000Z-a1b2c3 (rolling)',
        `actor     ${ACTOR}`,
        'started   2026-11-05T10:00:00.000Z',
        'ended     2026-11-05T10:12:00.000Z',
        'previous  r1',
        'cause     rollout: instance refresh rolled back: alarm herd-staging-target5xx',
        'not undone:',
        '  - restoreParameters: AccessDenied',
      ].join('\n'),
    );
    expect(eventInMessage(message?.message ?? '')).toEqual(event);
    expect(events(w.cloud.published)).toEqual([
      { service: 'eventBridge', at: T0, bus: 'default', source: DEPLOY_EVENT_SOURCE, detailType: DEPLOY_EVENT_DETAIL_TYPE, detail: event, time: '2026-11-05T10:12:00.000Z' },
    ]);
  });

  test('the largest state still fits: a huge cause and hundreds of warnings are cut, and SNS and EventBridge take the result', async () => {
    const w = world();
    const state = stateOf(w, {
      failure: { phase: 'bake', step: 'bake.wait', cause: `bake failed: ${'é'.repeat(300_000)}`, at: T0 },
      warnings: Array.from({ length: 300 }, (_, n) => `warning ${n}: ${'x'.repeat(5_000)}`),
      compensation: { steps: [], index: 0, errors: Array.from({ length: 50 }, (_, n) => `error ${n}: ${'y'.repeat(5_000)}`), refreshes: {} },
    });
    const event = deployEventOf(state, 'needs-attention', T0);
    expect([...(event.cause ?? '')]).toHaveLength(MAX_CAUSE_CHARS);
    expect(event.cause?.endsWith('…')).toBe(true);
    expect(event.warnings).toHaveLength(MAX_LIST_ITEMS);
    expect(event.warnings?.at(-1)).toBe('… and 281 more');
    expect(event.compensationErrors?.at(-1)).toBe('… and 31 more');

    await publishDeployEvent(w.cloud.clients(), w.env, event);
    const [message] = sns(w.cloud.published);
    expect(Buffer.byteLength(message?.message ?? '', 'utf8')).toBeLessThan(SNS_MAX_MESSAGE_BYTES / 2);
    expect(events(w.cloud.published).map((e) => e.detail)).toEqual([event]);
  });

  test('the subject stays printable ASCII under 100 characters for the longest names a deploy allows', async () => {
    const app = 'a'.repeat(40);
    const env = 'e'.repeat(40);
    const w = world({ app, env });
    const release = `v${'9'.repeat(51)}-3f9c0a1b2c3d`;
    const event = deployEventOf(stateOf(w, {}, { release }), 'needs-attention', T0);
    const subject = deploySubject(event);
    // The status stays whole; the names and the release are cut.
    expect(subject).toMatch(/^herd a+\.\.\.: release v9+\.\.\. NEEDS ATTENTION$/);
    expect(subject).toHaveLength(99);

    await publishDeployEvent(w.cloud.clients(), w.env, event);
    expect(sns(w.cloud.published).map((m) => m.subject)).toEqual([subject]);
  });

  test('fails when EventBridge refuses the entry (FailedEntryCount, no exception), after SNS took the message; a throttled entry is transient', async () => {
    const w = world();
    w.cloud.failNextEntries.push({ code: 'ThrottlingException', message: 'Rate exceeded' });
    const event = deployEventOf(stateOf(w), 'started', T0);

    const err = await publishDeployEvent(w.cloud.clients(), w.env, event).catch((e: unknown) => e);

    expect(err).toBeInstanceOf(DeployNotificationError);
    expect((err as Error).message).toBe('deploy notification not delivered: EventBridge: PutEvents refused the event: ThrottlingException: Rate exceeded');
    expect(isTransient(err)).toBe(true);
    expect(sns(w.cloud.published)).toHaveLength(1);
    expect(events(w.cloud.published)).toEqual([]);
  });

  test('fails when the topic does not exist, naming it as SNS does; not transient; the event still goes to the bus', async () => {
    const w = world();
    const env = { ...w.env, notificationTopicArn: 'arn:aws:sns:eu-west-1:123456789012:herd-staging-deleted' };
    const event = deployEventOf(stateOf(w), 'succeeded', T0);

    const err = await publishDeployEvent(w.cloud.clients(), env, event).catch((e: unknown) => e);

    expect((err as Error).message).toBe('deploy notification not delivered: SNS: NotFoundException: Topic does not exist');
    expect((err as DeployNotificationError).failures).toEqual([{ channel: 'sns', message: 'NotFoundException: Topic does not exist', transient: false, code: 'NotFoundException' }]);
    expect(isTransient(err)).toBe(false);
    expect(events(w.cloud.published).map((e) => e.detail)).toEqual([event]);
  });

  test('fails naming both channels when both refuse', async () => {
    const w = world();
    w.cloud.failNextEntries.push({ code: 'AccessDeniedException', message: 'not authorized' });
    const env = { ...w.env, notificationTopicArn: 'arn:aws:sns:eu-west-1:123456789012:nowhere' };
    await expect(publishDeployEvent(w.cloud.clients(), env, deployEventOf(stateOf(w), 'started', T0))).rejects.toThrow(
      'deploy notification not delivered: SNS: NotFoundException: Topic does not exist; EventBridge: PutEvents refused the event: AccessDeniedException: not authorized',
    );
    expect(w.cloud.published).toEqual([]);
  });
});
