/**
 * Deploy notifications: a deploy's start and outcome, told twice so a team can route them
 * where it reads them.
 *
 * - To the environment's notifications topic (SNS, the one its alarms use): a short human
 *   Subject ("herd mootube/production: release r2 succeeded", what email subscribers see),
 *   a readable message followed by the event as JSON, and message attributes `status`,
 *   `app` and `environment`, so a subscription's filter policy can keep only failures.
 * - To the account's default EventBridge bus: source `herd`, detail type
 *   `herd Deploy Status Change`, the event as detail, so a rule can send it to a chat
 *   webhook, a Lambda, another bus… (schema: `DeployEvent`, docs/architecture.md, "Deploy
 *   notifications and events").
 *
 * Both are delivered at least once: a step that is repeated after a transient error may
 * publish the same event again, so consumers dedupe on `deployId` + `status`.
 *
 * This module only publishes; the deploy steps decide when (`deployEventOf` builds the
 * event from the deploy's state).
 */
import { PutEventsCommand, type PutEventsRequestEntry } from '@aws-sdk/client-eventbridge';
import { PublishCommand } from '@aws-sdk/client-sns';
import type { DeployStrategy } from '../../lib/config/types';
import type { DeployClients } from './clients';
import type { DeployEnvironment } from './environment';
import { describeError, errorCode, isTransient } from './errors';
import { restoreInstructions } from './restore-point';
import type { DeployState } from './state';

/** EventBridge `source` of every herd event (a rule matches it: `{"source": ["herd"]}`). */
export const DEPLOY_EVENT_SOURCE = 'herd';
/** EventBridge `detail-type` of a deploy's start and outcome. */
export const DEPLOY_EVENT_DETAIL_TYPE = 'herd Deploy Status Change';
/**
 * Version of `DeployEvent`'s schema, in every event (`detail.version`). Adding an optional
 * field keeps it; renaming, removing or changing the meaning of one raises it.
 */
export const DEPLOY_EVENT_VERSION = 1;

/**
 * Where a deploy is, as its notifications say:
 * - `started`: the deploy took the lock and begins;
 * - `succeeded`: the release serves (or, for a bake, its image is ready);
 * - `failed`: it failed before changing anything that needed undoing;
 * - `rolled-back`: it failed and compensation put the previous release back;
 * - `needs-attention`: compensation could not undo everything: an operator must look;
 * - `aborted`: an operator or the execution's end stopped it;
 * - `unchanged`: nothing to do (the release already serves).
 */
export type DeployEventStatus = 'started' | 'succeeded' | 'failed' | 'rolled-back' | 'needs-attention' | 'aborted' | 'unchanged';
export const DEPLOY_EVENT_STATUSES: readonly DeployEventStatus[] = ['started', 'succeeded', 'failed', 'rolled-back', 'needs-attention', 'aborted', 'unchanged'];

/**
 * A deploy's start or outcome: the EventBridge event's `detail`, and the JSON part of the
 * SNS message. Version 1; optional fields are absent rather than null.
 */
export interface DeployEvent {
  readonly version: typeof DEPLOY_EVENT_VERSION;
  readonly app: string;
  readonly environment: string;
  readonly deployId: string;
  readonly release: string;
  /** `bake` for an image-only run (`herd bake`), which changes no server; `restart` for `herd restart` (fresh instances, same release). */
  readonly mode: 'deploy' | 'bake' | 'restart';
  /** Who started it: the caller's AWS identity as the CLI records it (`alice (arn:aws:iam::…:user/alice)`). */
  readonly actor: string;
  readonly status: DeployEventStatus;
  readonly strategy: DeployStrategy;
  /** ISO 8601. */
  readonly startedAt: string;
  /** ISO 8601; absent while `started`. */
  readonly endedAt?: string;
  /** Why it failed, was aborted or needs attention (at most `MAX_CAUSE_CHARS`). */
  readonly cause?: string;
  /** The phase that failed (`bake`, `migrate`, `rollout`…). */
  readonly failedPhase?: string;
  /** What served before; what serves again after a rollback. */
  readonly previousRelease?: string;
  /** What compensation could not undo (at most `MAX_LIST_ITEMS`, each at most `MAX_ITEM_CHARS`). */
  readonly compensationErrors?: readonly string[];
  /** What the deploy noticed and worked around (same bounds). */
  readonly warnings?: readonly string[];
  /**
   * A deploy that failed after its migration started: how to restore the data as it was
   * before it (the restore point's command and window, or the snapshot), at most `MAX_CAUSE_CHARS`.
   */
  readonly restore?: string;
}

/**
 * Bounds that keep an event far below SNS's 256 KiB message and EventBridge's 256 KiB entry
 * (both in bytes, UTF-8): 2 × 4,000 (cause, restore) + 2 × 20 × 500 characters, at most 4 bytes each, is < 100 KiB.
 */
export const MAX_CAUSE_CHARS = 4000;
export const MAX_LIST_ITEMS = 20;
export const MAX_ITEM_CHARS = 500;
/** SNS refuses a Subject of 100 characters or more (Publish, `Subject`). */
export const MAX_SUBJECT_CHARS = 99;

/** `text` cut to `max` characters, marked with `…` when cut. */
function truncate(text: string, max: number): string {
  const chars = [...text];
  return chars.length <= max ? text : `${chars.slice(0, max - 1).join('')}…`;
}

/** At most `MAX_LIST_ITEMS` items of at most `MAX_ITEM_CHARS`; the last says how many were left out. */
function boundedList(items: readonly string[]): string[] {
  const kept = items.slice(0, MAX_LIST_ITEMS).map((i) => truncate(i, MAX_ITEM_CHARS));
  if (items.length > MAX_LIST_ITEMS) kept[MAX_LIST_ITEMS - 1] = `… and ${items.length - MAX_LIST_ITEMS + 1} more`;
  return kept;
}

/**
 * The event of `state` with `status`, as of `now` (epoch ms). Reads only the state; `cause`
 * overrides the state's own (its failure's cause, or why its execution ended).
 */
export function deployEventOf(state: DeployState, status: DeployEventStatus, now: number, cause?: string): DeployEvent {
  const why = cause ?? state.failure?.cause ?? (state.abandoned ? `execution ended ${state.abandoned.status}${state.abandoned.cause ? `: ${state.abandoned.cause}` : ''}` : undefined);
  const compensationErrors = state.compensation?.errors ?? [];
  // A cause belongs to an outcome that is not what was asked for.
  const failing = status === 'failed' || status === 'rolled-back' || status === 'needs-attention' || status === 'aborted';
  return {
    version: DEPLOY_EVENT_VERSION,
    app: state.app,
    environment: state.env,
    deployId: state.deployId,
    release: state.release,
    mode: state.mode ?? 'deploy',
    actor: truncate(state.actor, 200),
    status,
    strategy: state.strategy,
    startedAt: new Date(state.startedAt).toISOString(),
    ...(status !== 'started' ? { endedAt: new Date(now).toISOString() } : {}),
    ...(why && failing ? { cause: truncate(why, MAX_CAUSE_CHARS) } : {}),
    ...(state.failure && failing ? { failedPhase: state.failure.phase } : {}),
    ...(state.previous ? { previousRelease: state.previous.release } : {}),
    ...(compensationErrors.length > 0 ? { compensationErrors: boundedList(compensationErrors) } : {}),
    ...(state.warnings.length > 0 ? { warnings: boundedList(state.warnings) } : {}),
    // Only once the migration may have changed data: before it, there is nothing to restore.
    ...(failing && state.migration?.runnerId && restoreInstructions(state) ? { restore: truncate(restoreInstructions(state) ?? '', MAX_CAUSE_CHARS) } : {}),
  };
}

/** How each status reads in a subject line. */
const STATUS_WORDS: Record<DeployEventStatus, string> = {
  started: 'started',
  succeeded: 'succeeded',
  failed: 'failed',
  'rolled-back': 'failed and was rolled back',
  'needs-attention': 'NEEDS ATTENTION',
  aborted: 'aborted',
  unchanged: 'unchanged (already serving)',
};

/** Printable ASCII only (SNS refuses control characters and line breaks in a Subject). */
function printableAscii(text: string): string {
  return text.replace(/[^\x20-\x7e]/g, '?');
}

/** `text` cut to `max` characters, marked with `...` (a Subject is ASCII) when cut. */
function fit(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, Math.max(0, max - 3))}...`;
}

/**
 * The SNS Subject: `herd <app>/<env>: release <release> <status>`, printable ASCII, under 100
 * characters. The status is always whole; when the rest is too long, the environment's part
 * and the release's are cut, each keeping at least half of the room left.
 */
export function deploySubject(event: DeployEvent): string {
  const status = STATUS_WORDS[event.status];
  const where = printableAscii(`herd ${event.app}/${event.environment}`);
  const what = printableAscii(event.mode === 'bake' ? `bake of release ${event.release}` : event.mode === 'restart' ? `restart of release ${event.release}` : `release ${event.release}`);
  const room = MAX_SUBJECT_CHARS - status.length - ': '.length - ' '.length;
  const whereFit = fit(where, Math.max(room - what.length, Math.ceil(room / 2)));
  return `${whereFit}: ${fit(what, room - whereFit.length)} ${status}`;
}

/** The SNS message: the subject, the facts one per line, then the event as JSON (for scripts and chat integrations). */
export function deployMessage(event: DeployEvent): string {
  const lines = [deploySubject(event), ''];
  const fact = (label: string, value: string | undefined) => {
    if (value !== undefined) lines.push(`${label.padEnd(10)}${value}`);
  };
  fact('deploy', `${event.deployId} (${event.mode === 'bake' ? 'bake only' : event.mode === 'restart' ? 'restart: fresh instances, same release' : event.strategy})`);
  fact('actor', event.actor);
  fact('started', event.startedAt);
  fact('ended', event.endedAt);
  fact('previous', event.previousRelease);
  fact('cause', event.failedPhase && event.cause ? `${event.failedPhase}: ${event.cause}` : event.cause);
  fact('restore', event.restore);
  for (const [label, items] of [['not undone', event.compensationErrors], ['warnings', event.warnings]] as const) {
    if (items && items.length > 0) lines.push(`${label}:`, ...items.map((i) => `  - ${i}`));
  }
  lines.push('', `${DEPLOY_EVENT_DETAIL_TYPE} (source ${DEPLOY_EVENT_SOURCE}, version ${event.version}):`, JSON.stringify(event, null, 2));
  return lines.join('\n');
}

/** Publishing an event failed on one channel or both; `failures` says which and why. */
export class DeployNotificationError extends Error {
  override readonly name = 'DeployNotificationError';
  /**
   * `ThrottlingException` or `InternalFailure` when every failure is transient, so the deploy
   * step's `isTransient` treats the whole as one (try again later); absent otherwise.
   */
  readonly code?: string;
  constructor(
    readonly failures: readonly { readonly channel: 'sns' | 'eventBridge'; readonly message: string; readonly transient: boolean; readonly code?: string }[],
  ) {
    super(`deploy notification not delivered: ${failures.map((f) => `${f.channel === 'sns' ? 'SNS' : 'EventBridge'}: ${f.message}`).join('; ')}`);
    const transient = failures.length > 0 && failures.every((f) => f.transient);
    if (transient) this.code = failures.some((f) => /thrott/i.test(f.code ?? '')) ? 'ThrottlingException' : 'InternalFailure';
  }
}

/** PutEvents entry error codes the API reference lists as retryable. */
const RETRYABLE_ENTRY_CODES = new Set(['InternalFailure', 'ThrottlingException']);

/** The PutEvents entry of `event` on the default bus (no `EventBusName`: the account's default). */
export function deployEventEntry(event: DeployEvent): PutEventsRequestEntry {
  return {
    Source: DEPLOY_EVENT_SOURCE,
    DetailType: DEPLOY_EVENT_DETAIL_TYPE,
    Detail: JSON.stringify(event),
    Time: new Date(event.endedAt ?? event.startedAt),
  };
}

/**
 * Publishes `event` to the environment's topic and to the default event bus. Both are
 * attempted; throws `DeployNotificationError` naming every channel that failed, including
 * a PutEvents entry EventBridge refused (it reports those in `FailedEntryCount` without
 * throwing).
 */
export async function publishDeployEvent(clients: Pick<DeployClients, 'sns' | 'eventBridge'>, env: DeployEnvironment, event: DeployEvent): Promise<void> {
  const sns = clients.sns.send(
    new PublishCommand({
      TopicArn: env.notificationTopicArn,
      Subject: deploySubject(event),
      Message: deployMessage(event),
      MessageAttributes: {
        status: { DataType: 'String', StringValue: event.status },
        app: { DataType: 'String', StringValue: event.app },
        environment: { DataType: 'String', StringValue: event.environment },
      },
    }),
  );
  const events = clients.eventBridge.send(new PutEventsCommand({ Entries: [deployEventEntry(event)] })).then((res) => {
    const refused = (res.Entries ?? []).find((e) => e.ErrorCode);
    if ((res.FailedEntryCount ?? 0) > 0 || refused) {
      const code = refused?.ErrorCode ?? 'UnknownError';
      throw Object.assign(new Error(`PutEvents refused the event: ${code}: ${refused?.ErrorMessage ?? 'no message'}`), { entryCode: code });
    }
  });
  const [snsResult, eventsResult] = await Promise.allSettled([sns, events]);
  const failures: DeployNotificationError['failures'][number][] = [];
  for (const [channel, result] of [['sns', snsResult], ['eventBridge', eventsResult]] as const) {
    if (result.status === 'fulfilled') continue;
    const err: unknown = result.reason;
    const entryCode = (err as { entryCode?: string }).entryCode;
    const code = entryCode ?? errorCode(err);
    const transient = entryCode ? RETRYABLE_ENTRY_CODES.has(entryCode) : isTransient(err);
    failures.push({ channel, message: entryCode ? (err as Error).message : describeError(err), transient, ...(code ? { code } : {}) });
  }
  if (failures.length > 0) throw new DeployNotificationError(failures);
}

/** The status a finished deploy's notification says (`rolled-back` when compensation undid changes to servers or release parameters). */
export function outcomeStatus(state: DeployState): DeployEventStatus {
  switch (state.outcome) {
    case 'succeeded':
    case 'unchanged':
    case 'needs-attention':
    case 'aborted':
      return state.outcome;
    default: {
      const undid = (state.compensation?.steps ?? []).some((s) => !['compensate.instances', 'compensate.maintenance', 'compensate.record'].includes(s));
      return undid ? 'rolled-back' : 'failed';
    }
  }
}

/**
 * Publishes a deploy's start or outcome without ever failing the deploy: a notification
 * that cannot be sent is a warning in the deploy's history. With `retryTransient`, a
 * transient failure (throttling) is thrown instead, for the step to run again after a
 * backoff (the deploy step gives up on a notification as a warning, never a rollback).
 * Returns the warning, or undefined when both channels took the event.
 */
export async function notifyDeploy(
  clients: Pick<DeployClients, 'sns' | 'eventBridge'>,
  env: DeployEnvironment,
  state: DeployState,
  status: DeployEventStatus,
  now: number,
  options: { readonly retryTransient?: boolean } = {},
): Promise<string | undefined> {
  try {
    await publishDeployEvent(clients, env, deployEventOf(state, status, now, state.abortedBy ? `aborted by ${state.abortedBy}` : undefined));
    return undefined;
  } catch (err) {
    if (options.retryTransient && isTransient(err)) throw err;
    return notSent(status, describeError(err));
  }
}

/** The warning of a notification that was not sent. */
export function notSent(status: DeployEventStatus | string, why: string): string {
  return `the ${status} notification was not sent: ${why}`.slice(0, MAX_ITEM_CHARS);
}
