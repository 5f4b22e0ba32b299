/**
 * `herd history <env>`: past deploys (outcome, duration, phase timings, cause) and operator
 * actions (maintenance, autoscaling, unlock…: who, what changed), merged newest first.
 */
import { InvalidArgumentError, type Command } from 'commander';
import type { CliDeps } from '../deps';
import { resolveEnvironment } from '../environment';
import { durationSeconds, readHistoryEntries, type DeployRecord, type HistoryEntry } from '../history';
import { JSON_OPTION, table, writeJson } from '../output';
import { formatDuration } from '../progress';

export function parseLimit(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < 1 || n > 1000) throw new InvalidArgumentError(`must be a whole number from 1 to 1000 (received "${value}")`);
  return n;
}

function outcome(item: DeployRecord): string {
  if (item.mode === 'restart') return `${item.status} (restart${Array.isArray(item.roles) ? ` of ${item.roles.join(', ')}` : ''}: fresh instances, same release)`;
  return item.mode === 'bake' ? `${item.status} (bake only)` : item.status;
}

/** An entry as `--json` prints it: `kind` first, the item without its table keys, a deploy's duration. */
function jsonOf(entry: HistoryEntry): Record<string, unknown> {
  const item = entry.kind === 'deploy' ? entry.deploy : entry.action;
  const { pk: _pk, sk: _sk, ...rest } = item;
  void _pk;
  void _sk;
  const seconds = entry.kind === 'deploy' ? durationSeconds(entry.deploy) : undefined;
  return { kind: entry.kind, ...rest, ...(seconds !== undefined ? { durationSeconds: seconds } : {}) };
}

/** Whether the bake reused a base image (layered bake) or baked one. */
function baseOf(item: DeployRecord): string {
  if (typeof item.baseImageId !== 'string') return '';
  return item.reusedBase ? `; base image ${item.baseImageId} reused` : `; base image ${item.baseImageId} baked`;
}

/** A table row: deploys fill every column; an action names its verb, actor, time and what it changed. */
function rowOf(entry: HistoryEntry): string[] {
  const when = entry.at.replace(/\.\d+Z$/, 'Z');
  if (entry.kind === 'action') {
    const a = entry.action;
    return ['action', when, a.verb, '', '', a.actor, 'done', '', '', a.detail];
  }
  const i = entry.deploy;
  const seconds = durationSeconds(i);
  return [
    'deploy',
    when,
    i.deployId,
    i.release,
    i.strategy,
    i.actor,
    outcome(i),
    seconds === undefined ? 'running' : formatDuration(seconds),
    i.phases.map((p) => `${p.phase} ${formatDuration(p.seconds)}`).join(', ') + baseOf(i),
    [
      i.error ? `${i.failedPhase ? `${i.failedPhase}: ` : ''}${i.error}` : '',
      // A failed deploy's migration may have changed data: how to get it back.
      i.status !== 'succeeded' && i.status !== 'running' && i.restore ? `to get the data back: ${i.restore}` : '',
    ].filter(Boolean).join('; '),
  ];
}

export function register(program: Command, deps: CliDeps): void {
  program
    .command('history')
    .description('past deploys and operator actions, newest first: who, what, outcome, duration, phase timings, cause or what changed')
    .argument('<env>', 'environment (herd.config.ts)')
    .option('--limit <n>', 'how many entries (deploys and operator actions) to show (1–1000)', parseLimit, 20)
    .option(...JSON_OPTION)
    .addHelpText(
      'after',
      [
        '',
        'Deploys (kind "deploy") are listed by when they started; operator actions (kind "action":',
        'maintenance on|off, autoscaling suspend|resume, unlock, abort, repair) by when they were done.',
        '',
        'Examples:',
        '  $ herd history production --limit 5',
        '  $ herd history staging --json | jq \'[.[] | select(.kind == "deploy")][0].phases\'',
        '  $ herd history production --json | jq \'.[] | select(.kind == "action") | [.at, .actor, .verb, .detail]\'',
      ].join('\n'),
    )
    .action(async (env: string, opts: { limit: number; json?: boolean }) => {
      const handle = await resolveEnvironment(deps, env);
      const entries = await readHistoryEntries(handle.clients, handle.outputs.deployTableName, opts.limit);
      if (opts.json) {
        writeJson(deps.out, entries.map(jsonOf));
        return;
      }
      if (entries.length === 0) {
        deps.out.write(`no deploys or operator actions recorded on ${env} yet\n`);
        return;
      }
      deps.out.write(`${table(['kind', 'when', 'deploy / action', 'release', 'strategy', 'actor', 'outcome', 'duration', 'phases', 'cause / what changed'], entries.map(rowOf))}\n`);
    });
}
