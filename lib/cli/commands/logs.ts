/**
 * `herd logs <env> [process]`: the app's and herd's logs across the fleet, from the
 * environment's log groups (`/herd/<app>/<env>/<process>`: one per Procfile process of the
 * serving release, `release` for migration runs, `boot` for herd-boot and cloud-init), each
 * line prefixed with its time, instance and process, in time order across groups.
 *
 * Streams are named after the instance (`instance/bake.sh`, section 7: `{instance_id}`, and
 * `{instance_id}-cloud-init` in the boot group), so `--instance` is a stream name prefix: an
 * instance id matches its own streams only (ids have a fixed length), and a group holding no
 * stream of that instance (a worker process on a web instance) answers nothing instead of an
 * error, as an explicit `logStreamNames` list naming a missing stream would.
 */
import { FilterLogEventsCommand, type FilteredLogEvent } from '@aws-sdk/client-cloudwatch-logs';
import { DescribeImagesCommand, DescribeInstancesCommand } from '@aws-sdk/client-ec2';
import type { Command } from 'commander';
import { logGroupName, parameterNames, TAGS } from '../../names';
import type { AwsClients, CliDeps } from '../deps';
import { CliError } from '../errors';
import { fleetsOf, resolveEnvironment, type EnvironmentHandle } from '../environment';
import { readParameter, tagOf } from '../images';

/** Processes that have a log group whatever the Procfile says: migration runs and the boot (herd-boot, cloud-init). */
export const HERD_LOG_PROCESSES = ['release', 'boot'] as const;

/** How far back logs go when `--since` is not given. */
export const DEFAULT_SINCE = '10m';

/**
 * Between two reads of `-f`: the CloudWatch agent ships every 5 seconds by default, and each
 * read costs one FilterLogEvents call per log group against a small per-account, per-Region
 * rate quota every caller shares (adaptive retries absorb throttling, slower).
 */
export const FOLLOW_POLL_MS = 5_000;

/**
 * How far behind the newest event `-f` reads again: the CloudWatch agent ships in batches
 * (every 5 seconds by default), so an event can arrive after a later one was read; eventIds
 * tell the ones already printed.
 */
export const FOLLOW_LOOKBACK_MS = 60_000;

/** Longest `--grep` text (the filter pattern, quotes and escapes included, is at most 1,024 characters). */
export const MAX_GREP_CHARS = 500;

const INSTANCE_ID = /^i-(?:[0-9a-f]{8}|[0-9a-f]{17})$/;
const DURATION = /^(\d+)(s|m|h|d)$/;
const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:\d{2})$/;
const UNIT_MS = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/** One log line: where it comes from and what it says. */
export interface LogLine {
  /** ISO time of the event. */
  readonly time: string;
  readonly timestamp: number;
  readonly instance: string;
  readonly process: string;
  readonly stream: string;
  readonly message: string;
  readonly eventId: string;
}

/** The start time `--since` names (epoch ms): a duration back from `now` (`30s`, `10m`, `2h`, `1d`) or an ISO time in the past. */
export function parseSince(value: string, now: number): number {
  const d = DURATION.exec(value);
  if (d) {
    const n = Number(d[1]);
    if (n < 1) throw new CliError(`--since must be a positive duration (received "${value}"); e.g. 30s, 10m, 2h, 1d`);
    return now - n * UNIT_MS[d[2] as keyof typeof UNIT_MS];
  }
  const t = ISO_TIME.test(value) ? Date.parse(value) : NaN;
  if (Number.isNaN(t)) {
    throw new CliError(`--since must be a duration (30s, 10m, 2h, 1d) or an ISO time (2026-11-05T09:30:00Z) (received "${value}")`);
  }
  if (t > now) throw new CliError(`--since ${value} is in the future (now is ${new Date(now).toISOString()}); give a time in the past`);
  return t;
}

/** `--grep TEXT` as a CloudWatch Logs filter pattern: one quoted term (the exact text, case-sensitive), `\` and `"` escaped. */
export function grepPattern(text: string): string {
  if (text.length === 0) throw new CliError('--grep needs a text to search for (received an empty one)');
  if (text.length > MAX_GREP_CHARS) throw new CliError(`--grep is at most ${MAX_GREP_CHARS} characters (received ${text.length})`);
  if (/[\r\n]/.test(text)) throw new CliError(`--grep must be one line (received ${JSON.stringify(text)}): log events are searched line by line`);
  return `"${text.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

export function validateInstanceId(value: string): string {
  if (!INSTANCE_ID.test(value)) throw new CliError(`--instance must be an EC2 instance id like i-0123456789abcdef0 (received "${value}")`);
  return value;
}

/**
 * The processes with logs on `handle`'s environment: the serving release's Procfile processes
 * (its image's `herd:processes` tag), then `release` and `boot`. Without a serving image (or
 * one baked before the tag existed), the fleets' roles stand for the processes.
 */
export async function logProcesses(handle: EnvironmentHandle): Promise<{ processes: string[]; release?: string }> {
  const names = parameterNames(handle.app, handle.name);
  const [imageId, release] = await Promise.all([readParameter(handle.clients, names.currentImage), readParameter(handle.clients, names.currentRelease)]);
  let procfile: string[] | undefined;
  if (imageId) {
    // By filter: a deregistered image is no error, only no tag.
    const res = await handle.clients.ec2.send(new DescribeImagesCommand({ Filters: [{ Name: 'image-id', Values: [imageId] }] }));
    procfile = res.Images?.[0] ? tagOf(res.Images[0], TAGS.processes)?.split(' ').filter(Boolean) : undefined;
  }
  const processes = [...new Set([...(procfile ?? fleetsOf(handle).map((f) => f.role)), ...HERD_LOG_PROCESSES])];
  return { processes, ...(release ? { release } : {}) };
}

/** Refuses `--instance` naming another environment's (or no herd) instance; an instance EC2 no longer shows (terminated) may still have logs. */
async function checkInstance(handle: EnvironmentHandle, id: string): Promise<void> {
  const res = await handle.clients.ec2.send(new DescribeInstancesCommand({ Filters: [{ Name: 'instance-id', Values: [id] }] }));
  const found = (res.Reservations ?? []).flatMap((r) => r.Instances ?? [])[0];
  if (!found) return;
  const env = found.Tags?.find((t) => t.Key === TAGS.environment)?.Value;
  const app = found.Tags?.find((t) => t.Key === TAGS.app)?.Value;
  if (env !== handle.name || app !== handle.app) {
    const whose = env && app ? `it belongs to ${app}/${env}` : 'it is not one of herd\'s instances (no herd:app and herd:environment tags)';
    throw new CliError(`instance ${id} is not an instance of ${handle.app}/${handle.name}: ${whose}; \`herd status ${handle.name}\` lists its instances`);
  }
}

export interface LogQuery {
  readonly processes: readonly string[];
  readonly startTime: number;
  readonly filterPattern?: string;
  readonly instance?: string;
}

function lineOf(e: FilteredLogEvent, process: string): LogLine {
  const stream = e.logStreamName ?? '';
  const cloudInit = stream.endsWith('-cloud-init');
  const timestamp = e.timestamp ?? 0;
  return {
    time: new Date(timestamp).toISOString(),
    timestamp,
    instance: cloudInit ? stream.slice(0, -'-cloud-init'.length) : stream,
    process: cloudInit ? 'cloud-init' : process,
    stream,
    message: (e.message ?? '').replace(/\n$/, ''),
    eventId: e.eventId ?? '',
  };
}

/** Every event of `query` in the environment's log groups, page after page, in time order across groups. A group not created yet has no events. */
export async function readLogs(clients: Pick<AwsClients, 'logs'>, app: string, env: string, query: LogQuery): Promise<LogLine[]> {
  const perGroup = await Promise.all(
    query.processes.map(async (process) => {
      const lines: LogLine[] = [];
      let nextToken: string | undefined;
      do {
        let res;
        try {
          res = await clients.logs.send(
            new FilterLogEventsCommand({
              logGroupName: logGroupName(app, env, process),
              startTime: query.startTime,
              ...(query.filterPattern ? { filterPattern: query.filterPattern } : {}),
              ...(query.instance ? { logStreamNamePrefix: query.instance } : {}),
              ...(nextToken ? { nextToken } : {}),
            }),
          );
        } catch (err) {
          // The agent creates a process's group when it first ships a line: none yet is no line yet.
          if (err instanceof Error && err.name === 'ResourceNotFoundException') return lines;
          throw err;
        }
        for (const e of res.events ?? []) lines.push(lineOf(e, process));
        nextToken = res.nextToken;
      } while (nextToken);
      return lines;
    }),
  );
  return perGroup.flat().sort((a, b) => a.timestamp - b.timestamp || a.eventId.localeCompare(b.eventId));
}

export function renderLogLine(line: LogLine): string {
  return `${line.time} ${line.instance} ${line.process} | ${line.message}`;
}

export interface LogsOptions {
  readonly follow?: boolean;
  readonly since?: string;
  readonly grep?: string;
  readonly instance?: string;
  readonly json?: boolean;
}

export async function runLogs(deps: CliDeps, env: string, process: string | undefined, opts: LogsOptions): Promise<void> {
  // Every option is checked before any AWS call.
  const startTime = parseSince(opts.since ?? DEFAULT_SINCE, deps.now());
  const filterPattern = opts.grep !== undefined ? grepPattern(opts.grep) : undefined;
  const instance = opts.instance !== undefined ? validateInstanceId(opts.instance) : undefined;
  const handle = await resolveEnvironment(deps, env);
  const { processes, release } = await logProcesses(handle);
  if (process !== undefined && !processes.includes(process)) {
    throw new CliError(`unknown process "${process}" on ${env}; processes with logs${release ? ` (release ${release})` : ''}: ${processes.join(', ')}`);
  }
  if (instance) await checkInstance(handle, instance);
  const query = { processes: process ? [process] : processes, filterPattern, instance };
  const write = (line: LogLine) => deps.out.write(opts.json ? `${JSON.stringify(line)}\n` : `${renderLogLine(line)}\n`);

  const first = await readLogs(handle.clients, handle.app, env, { ...query, startTime });
  first.forEach(write);
  if (!opts.follow) return;
  await follow(deps, handle, query, first, startTime, write);
}

/**
 * `-f`: reads again every `FOLLOW_POLL_MS` from a little before the newest event seen
 * (`FOLLOW_LOOKBACK_MS`), printing the events not printed yet (by eventId), until Ctrl-C.
 *
 * Polling FilterLogEvents, not StartLiveTail: Live Tail is an event-stream API whose sessions
 * end after three hours and whose updates are sampled down to 500 events a second (CloudWatch
 * Logs API reference, StartLiveTail); neither moto nor herd's fake cloud serve event streams,
 * so it could not be tested against either; and the same paginated call serves both modes.
 */
async function follow(deps: CliDeps, handle: EnvironmentHandle, query: Omit<LogQuery, 'startTime'>, first: readonly LogLine[], since: number, write: (line: LogLine) => void): Promise<void> {
  let stopped = false;
  const unsubscribe = deps.onInterrupt(() => {
    stopped = true;
  });
  const seen = new Map(first.map((l) => [l.eventId, l.timestamp]));
  let newest = first.at(-1)?.timestamp ?? since;
  try {
    for (;;) {
      await deps.sleep(FOLLOW_POLL_MS);
      if (stopped) break;
      const from = Math.max(since, newest - FOLLOW_LOOKBACK_MS);
      const lines = await readLogs(handle.clients, handle.app, handle.name, { ...query, startTime: from });
      for (const line of lines) {
        if (seen.has(line.eventId)) continue;
        seen.set(line.eventId, line.timestamp);
        write(line);
        newest = Math.max(newest, line.timestamp);
      }
      // Only what a later read can return again needs remembering.
      const floor = Math.max(since, newest - FOLLOW_LOOKBACK_MS);
      for (const [id, t] of seen) if (t < floor) seen.delete(id);
    }
  } finally {
    unsubscribe();
  }
}

export function register(program: Command, deps: CliDeps): void {
  program
    .command('logs')
    .description("the app's and herd's logs across the fleet, each line prefixed with time, instance and process (-f to follow)")
    .argument('<env>', 'environment (herd.config.ts)')
    .argument('[process]', "a Procfile process of the serving release, release (migrations) or boot (herd-boot, cloud-init); default: all")
    .option('-f, --follow', 'keep reading new lines until Ctrl-C')
    .option('--since <when>', `how far back: 30s, 10m, 2h, 1d or an ISO time (default ${DEFAULT_SINCE})`)
    .option('--grep <text>', 'only lines containing this exact text (case-sensitive)')
    .option('--instance <id>', 'only the lines of this instance (i-…)')
    .option('--json', 'one JSON object per line: time, timestamp, instance, process, stream, message, eventId')
    .addHelpText(
      'after',
      [
        '',
        'Examples:',
        '  $ herd logs production web --since 1h --grep "Traceback"',
        '  $ herd logs staging -f',
        '  $ herd logs staging boot --instance i-0123456789abcdef0 --since 2026-11-05T09:30:00Z',
      ].join('\n'),
    )
    .action(async (env: string, process: string | undefined, opts: LogsOptions) => {
      await runLogs(deps, env, process, opts);
    });
}
