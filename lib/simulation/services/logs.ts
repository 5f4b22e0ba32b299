/**
 * CloudWatch Logs in the fake cloud: the boot log the CloudWatch agent ships from each fleet
 * instance (`/var/log/herd/<app>/boot.log` to log group `/herd/<app>/<env>/boot`, stream
 * `<instance-id>`: `instance/bake.sh`, section 7). An instance's lines are written when it
 * comes into service: herd-boot's own, then the app's (a release's `bootLog`, or a crash for
 * a `neverHealthy` release).
 *
 * `GetLogEvents` as the API reference describes it: a log stream of a log group (by name or
 * identifier), the newest events first unless `startFromHead`, at most `limit` (1 to 10,000,
 * default 10,000) in chronological order; a missing group or stream is
 * `ResourceNotFoundException`.
 *
 * `FilterLogEvents` as its API reference describes it: one log group (`logGroupName` or
 * `logGroupIdentifier`, exactly one), optionally `logStreamNames` (1 to 100) or
 * `logStreamNamePrefix` (not both: InvalidParameterException), `startTime`/`endTime` in
 * milliseconds (both inclusive: events before the start or after the end are not returned),
 * `limit` 1 to 10,000, a `filterPattern` of at most 1,024 characters. Events come sorted by
 * timestamp, then ingestion time, each with its stream name and `eventId`. A page may be
 * partial or empty while a `nextToken` says there is more, so the fake answers at most
 * `LOG_PAGE_EVENTS` events a page: a caller that does not page misses events. The fake knows
 * the filter patterns herd sends (empty, quoted terms and bare terms, all of which must
 * appear, case-sensitive) and throws on any other syntax rather than guess.
 */
import * as cwl from '@aws-sdk/client-cloudwatch-logs';
import { logGroupName } from '../../names';
import type { FakeCloud } from '../fake-cloud';
import { fail } from './common';
import { releaseOfInstance } from './ec2';

/** One log event as CloudWatch Logs stores it. */
export interface LogEvent {
  readonly timestamp: number;
  readonly message: string;
  readonly ingestionTime: number;
  /** FilterLogEvents' `eventId` (assigned by `appendLogEvents`; else derived from the event's place in its stream). */
  readonly eventId?: string;
}

/** Events a FilterLogEvents page of the fake holds at most (AWS: up to 1 MB or 10,000, often fewer). */
export const LOG_PAGE_EVENTS = 3;

/** Appends `events` to stream `stream` of log group `group` (both created if new), as the CloudWatch agent ships them. */
export function appendLogEvents(cloud: FakeCloud, group: string, stream: string, events: readonly { timestamp: number; message: string }[]): void {
  const streams = cloud.logGroups.get(group) ?? new Map<string, LogEvent[]>();
  cloud.logGroups.set(group, streams);
  const list = streams.get(stream) ?? [];
  streams.set(stream, list);
  for (const e of events) {
    cloud.seq += 1;
    list.push({ timestamp: e.timestamp, message: e.message, ingestionTime: Math.max(e.timestamp, cloud.now()), eventId: String(cloud.seq).padStart(56, '0') });
  }
}

/**
 * Whether `message` matches `pattern`: every term (a bare word, or a double-quoted phrase in
 * which `\"` and `\\` are escapes) appears in it, case-sensitive. Other syntax (`?term`,
 * `-term`, JSON, space-delimited and regular-expression patterns) throws: the fake does not
 * model it.
 */
export function matchesFilterPattern(pattern: string, message: string): boolean {
  const terms: string[] = [];
  let i = 0;
  while (i < pattern.length) {
    const c = pattern[i] ?? '';
    if (c === ' ') {
      i += 1;
    } else if (c === '"') {
      let term = '';
      i += 1;
      for (;;) {
        if (i >= pattern.length) fail('InvalidParameterException', 'Invalid filter pattern: unterminated quoted term');
        const d = pattern[i] ?? '';
        if (d === '\\') {
          const next = pattern[i + 1];
          if (next !== '"' && next !== '\\') throw new Error(`the fake cloud does not model the escape \\${next ?? ''} in filter pattern ${pattern}`);
          term += next;
          i += 2;
        } else if (d === '"') {
          i += 1;
          break;
        } else {
          term += d;
          i += 1;
        }
      }
      terms.push(term);
    } else {
      const end = pattern.indexOf(' ', i);
      const term = pattern.slice(i, end < 0 ? pattern.length : end);
      if (/^[?\-{[%]/.test(term) || term.includes('"')) throw new Error(`the fake cloud does not model filter pattern ${JSON.stringify(pattern)} (only terms and quoted terms)`);
      terms.push(term);
      i += term.length;
    }
  }
  return terms.every((t) => message.includes(t));
}

function invalid(message: string): never {
  fail('InvalidParameterException', message);
}

/** What the app of a `neverHealthy` release prints at boot when the release does not say. */
const CRASH_LINES = [
  'web: [INFO] Starting gunicorn 22.0.0',
  'web: [INFO] Listening at: http://0.0.0.0:8000',
  'web: [ERROR] Exception in worker process',
  'web: Traceback (most recent call last):',
  'web:   File "/srv/app/current/app/wsgi.py", line 4, in <module>',
  "web: KeyError: 'DATABASE_URL'",
  'web: [ERROR] Worker failed to boot.',
  'nginx: upstream prematurely closed connection while reading response header from upstream (502)',
];

/** Appends the boot log lines of fleet instance `instanceId` (it just came into service). */
export function writeBootLog(cloud: FakeCloud, instanceId: string, role: string): void {
  const i = cloud.instances.get(instanceId);
  if (!i) return;
  const release = releaseOfInstance(cloud, i);
  const behaviour = cloud.behaviour(release);
  const app = behaviour.bootLog ?? (behaviour.neverHealthy ? CRASH_LINES : [`${role}: started`]);
  const lines = [
    `herd-boot: configuring ${cloud.app}/${cloud.env} ${role} on ${instanceId}`,
    `herd-boot: release ${release ?? 'unknown'}: rendered /etc/herd/${cloud.app}.env from /herd/${cloud.app}/${cloud.env}/`,
    `herd-boot: starting ${role}`,
    ...app,
  ];
  const group = logGroupName(cloud.app, cloud.env, 'boot');
  const now = cloud.now();
  appendLogEvents(cloud, group, instanceId, lines.map((message, n) => ({ timestamp: now + n, message })));
}

/** Registers the CloudWatch Logs API handlers on `cloud`. */
export function registerLogs(cloud: FakeCloud): void {
  cloud.on('logs', cwl.GetLogEventsCommand, (input) => {
    if (input.logGroupName !== undefined && input.logGroupIdentifier !== undefined) {
      fail('InvalidParameterException', 'LogGroupName and LogGroupIdentifier are mutually exclusive parameters');
    }
    const name = input.logGroupName ?? (input.logGroupIdentifier ?? '').replace(/^arn:[^:]+:logs:[^:]*:[^:]*:log-group:/, '').replace(/:\*$/, '');
    if (!input.logStreamName) fail('InvalidParameterException', '1 validation error detected: Value null at \'logStreamName\' failed to satisfy constraint: Member must not be null');
    const limit = input.limit ?? 10_000;
    if (!Number.isInteger(limit) || limit < 1 || limit > 10_000) fail('InvalidParameterException', `1 validation error detected: Value '${limit}' at 'limit' failed to satisfy constraint: Member must have value between 1 and 10000`);
    const streams = cloud.logGroups.get(name);
    if (!streams) fail('ResourceNotFoundException', 'The specified log group does not exist.');
    const all = streams.get(input.logStreamName);
    if (!all) fail('ResourceNotFoundException', 'The specified log stream does not exist.');
    const inRange = all.filter(
      (e) => (input.startTime === undefined || e.timestamp >= input.startTime) && (input.endTime === undefined || e.timestamp < input.endTime),
    );
    // A forward token names the position after the events already returned; at the end of the
    // stream the same token comes back (GetLogEvents: "If you have reached the end of the
    // stream, it returns the same token you passed in").
    const from = input.nextToken === undefined ? undefined : /^f\/(\d{56})$/.exec(input.nextToken)?.[1];
    if (input.nextToken !== undefined && from === undefined) fail('InvalidParameterException', 'The specified nextToken is invalid.');
    const start = from === undefined ? 0 : Math.min(Number(from), inRange.length);
    const events = from !== undefined ? inRange.slice(start, start + limit) : input.startFromHead ? inRange.slice(0, limit) : inRange.slice(-limit);
    const after = from !== undefined ? start + events.length : input.startFromHead ? events.length : inRange.length;
    const token = (dir: 'f' | 'b', at: number) => `${dir}/${String(at).padStart(56, '0')}`;
    return { events: events.map((e) => ({ ...e })), nextForwardToken: token('f', after), nextBackwardToken: token('b', from !== undefined ? start : inRange.length - events.length) };
  });

  cloud.on('logs', cwl.FilterLogEventsCommand, (input) => {
    if ((input.logGroupName === undefined) === (input.logGroupIdentifier === undefined)) {
      invalid('Exactly one of LogGroupName and LogGroupIdentifier must be specified');
    }
    const name = input.logGroupName ?? (input.logGroupIdentifier ?? '').replace(/^arn:[^:]+:logs:[^:]*:[^:]*:log-group:/, '').replace(/:\*$/, '');
    if (input.logStreamNames !== undefined && input.logStreamNamePrefix !== undefined) {
      invalid('Cannot specify both LogStreamNames and LogStreamNamePrefix');
    }
    const names = input.logStreamNames;
    if (names !== undefined && (names.length < 1 || names.length > 100)) {
      invalid(`1 validation error detected: Value '[${names.join(', ')}]' at 'logStreamNames' failed to satisfy constraint: Member must have length less than or equal to 100 and greater than or equal to 1`);
    }
    const limit = input.limit ?? 10_000;
    if (!Number.isInteger(limit) || limit < 1 || limit > 10_000) invalid(`1 validation error detected: Value '${limit}' at 'limit' failed to satisfy constraint: Member must have value between 1 and 10000`);
    for (const [key, t] of [['startTime', input.startTime], ['endTime', input.endTime]] as const) {
      if (t !== undefined && (!Number.isInteger(t) || t < 0)) invalid(`1 validation error detected: Value '${t}' at '${key}' failed to satisfy constraint: Member must have value greater than or equal to 0`);
    }
    const pattern = input.filterPattern ?? '';
    if (pattern.length > 1024) invalid("1 validation error detected: Value at 'filterPattern' failed to satisfy constraint: Member must have length less than or equal to 1024");
    const streams = cloud.logGroups.get(name);
    if (!streams) fail('ResourceNotFoundException', 'The specified log group does not exist.');
    for (const s of names ?? []) if (!streams.has(s)) fail('ResourceNotFoundException', 'The specified log stream does not exist.');
    const chosen = [...streams.entries()].filter(([s]) => (names ? names.includes(s) : s.startsWith(input.logStreamNamePrefix ?? '')));
    const all = chosen
      .flatMap(([stream, events]) => events.map((e, n) => ({ ...e, logStreamName: stream, eventId: e.eventId ?? `${stream}/${String(n).padStart(20, '0')}` })))
      .filter((e) => (input.startTime === undefined || e.timestamp >= input.startTime) && (input.endTime === undefined || e.timestamp <= input.endTime))
      .filter((e) => matchesFilterPattern(pattern, e.message))
      .sort((a, b) => a.timestamp - b.timestamp || a.ingestionTime - b.ingestionTime || a.eventId.localeCompare(b.eventId));
    // The token names the query it continues: a token from another query is refused.
    const query = JSON.stringify([name, names, input.logStreamNamePrefix, input.startTime, input.endTime, pattern]);
    let offset = 0;
    if (input.nextToken !== undefined) {
      const decoded = /^(\d+):(.*)$/s.exec(Buffer.from(input.nextToken, 'base64').toString('utf8'));
      if (!decoded || decoded[2] !== query) return invalid('The specified nextToken is invalid.');
      offset = Number(decoded[1]);
    }
    const page = all.slice(offset, offset + Math.min(limit, LOG_PAGE_EVENTS));
    const next = offset + page.length;
    return {
      events: page.map((e) => ({ logStreamName: e.logStreamName, timestamp: e.timestamp, message: e.message, ingestionTime: e.ingestionTime, eventId: e.eventId })),
      searchedLogStreams: chosen.map(([s]) => ({ logStreamName: s, searchedCompletely: next >= all.length })),
      ...(next < all.length ? { nextToken: Buffer.from(`${next}:${query}`).toString('base64') } : {}),
    };
  });
}
