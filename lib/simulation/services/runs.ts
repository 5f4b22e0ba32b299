/**
 * A `herd run` instance in the fake cloud (`herd:role` = `run`), as `instance/boot.sh --role
 * run` behaves: once running, its command prints its lines over its duration, which the
 * CloudWatch agent ships to `/herd/<app>/<env>/run` (stream `<instance-id>`) a few seconds
 * late; at the end it reports `{exitCode, logTail, lines}` to `…/run-results/<instance-id>`
 * and powers off after the agent's flush wait. A command longer than the instance's
 * `--timeout-seconds` is stopped: exit 124. What a command does is configured per test
 * (`configureRuns`), by its command line.
 */
import { TAGS, logGroupName, parameterNames } from '../../names';
import type { FakeCloud } from '../fake-cloud';
import type { Instance } from '../model';
import type { LogEvent } from './logs';

/** What one command does on a run instance. */
export interface RunBehaviour {
  /** Its boot never gets to the command (an image whose herd-boot predates the run role): no line, no report. */
  readonly neverStarts?: boolean;
  readonly exitCode?: number;
  /** Lines it prints, spread evenly over its duration. */
  readonly lines?: readonly string[];
  /** How long it runs (virtual seconds). */
  readonly seconds?: number;
  /** Seconds the agent takes to ship each line (default `AGENT_SHIP_SECONDS`); lines not shipped when the instance powers off are lost. */
  readonly shipSeconds?: number;
}

/** Seconds the CloudWatch agent takes to ship a line (its flush interval). */
export const AGENT_SHIP_SECONDS = 5;
/** Seconds `herd-boot` waits after reporting before powering off (`HERD_RUN_FLUSH_SECONDS`). */
export const RUN_FLUSH_SECONDS = 10;

interface RunState {
  /** The behaviour of each command line, and the default. */
  readonly byCommand: Map<string, RunBehaviour>;
  fallback: RunBehaviour;
  /** Per instance: lines already written to the log stream, when it reported. */
  readonly progress: Map<string, { shipped: number; reportedAt?: number }>;
}

const STATES = new WeakMap<FakeCloud, RunState>();

function stateOf(cloud: FakeCloud): RunState {
  let s = STATES.get(cloud);
  if (!s) {
    s = { byCommand: new Map(), fallback: { exitCode: 0, lines: ['done'], seconds: 20 }, progress: new Map() };
    STATES.set(cloud, s);
  }
  return s;
}

/** What commands do on this cloud's run instances: `command` → behaviour, `'*'` for any other. */
export function configureRuns(cloud: FakeCloud, behaviours: Readonly<Record<string, RunBehaviour>>): void {
  const s = stateOf(cloud);
  for (const [command, b] of Object.entries(behaviours)) {
    if (command === '*') s.fallback = b;
    else s.byCommand.set(command, b);
  }
}

/** The command and timeout a run instance's user data carries (`runCommandUserData`), or undefined when it is not a run's. */
export function runCommandOf(i: Instance): { command: string; timeoutSeconds: number } | undefined {
  const b64 = /--command-base64 (\S+)/.exec(i.userData)?.[1];
  const timeout = /--timeout-seconds (\d+)/.exec(i.userData)?.[1];
  if (!b64 || !timeout || !/--role run\b/.test(i.userData)) return undefined;
  return { command: Buffer.from(b64, 'base64').toString('utf8'), timeoutSeconds: Number(timeout) };
}

/** One virtual second of a running run instance: lines shipped, the report, the power-off. */
export function tickRunInstance(cloud: FakeCloud, i: Instance, now: number, powerOff: (i: Instance) => void): void {
  if (i.state !== 'running' || i.tags[TAGS.role] !== 'run') return;
  const s = stateOf(cloud);
  const progress = s.progress.get(i.id) ?? { shipped: 0 };
  s.progress.set(i.id, progress);
  const run = runCommandOf(i);
  if (!run) {
    if (!i.reported) cloud.violations.push(`run instance ${i.id} has no --role run, --command-base64 and --timeout-seconds in its user data`);
    i.reported = true;
    return;
  }
  // The watchdog at the top of the user data (`shutdown -h +N`): a run that never reported powers off.
  const watchdog = /^shutdown -h \+(\d+)/m.exec(i.userData)?.[1];
  if (!i.reported && watchdog !== undefined && now - i.launchedAt >= Number(watchdog) * 60_000) {
    i.reported = true;
    powerOff(i);
    return;
  }
  const b = s.byCommand.get(run.command) ?? s.fallback;
  if (b.neverStarts) return;
  const duration = Math.min(b.seconds ?? 20, run.timeoutSeconds);
  const timedOut = (b.seconds ?? 20) > run.timeoutSeconds;
  const lines = [...(b.lines ?? []), ...(timedOut ? [`herd-boot: the command ran longer than ${run.timeoutSeconds}s and was stopped`] : [])];
  const exitCode = timedOut ? 124 : (b.exitCode ?? 0);
  const elapsed = (now - i.stateAt) / 1000;
  // Line n is printed at n/len of the duration, and shipped AGENT_SHIP_SECONDS later.
  const ship = b.shipSeconds ?? AGENT_SHIP_SECONDS;
  const due = lines.filter((_, n) => ((n + 1) / Math.max(1, lines.length)) * duration + ship <= elapsed).length;
  if (due > progress.shipped) {
    const group = logGroupName(cloud.app, cloud.env, 'run');
    const streams = cloud.logGroups.get(group) ?? new Map<string, LogEvent[]>();
    cloud.logGroups.set(group, streams);
    const events = streams.get(i.id) ?? [];
    for (let n = progress.shipped; n < due; n++) events.push({ timestamp: now - ship * 1000, message: lines[n] ?? '', ingestionTime: now });
    streams.set(i.id, events);
    progress.shipped = due;
  }
  if (!i.reported && elapsed >= duration) {
    const tail = lines.map((l) => `${l}\n`).join('').slice(-3000);
    cloud.writeParameter(`${parameterNames(cloud.app, cloud.env).runResultsPrefix}${i.id}`, JSON.stringify({ exitCode, logTail: tail, lines: lines.length }));
    i.reported = true;
    progress.reportedAt = now;
  }
  if (progress.reportedAt !== undefined && now - progress.reportedAt >= RUN_FLUSH_SECONDS * 1000) powerOff(i);
}
