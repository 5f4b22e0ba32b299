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
  const streams = cloud.logGroups.get(group) ?? new Map<string, LogEvent[]>();
  cloud.logGroups.set(group, streams);
  const events = streams.get(instanceId) ?? [];
  const now = cloud.now();
  lines.forEach((message, n) => events.push({ timestamp: now + n, message, ingestionTime: now + n }));
  streams.set(instanceId, events);
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
}
