/** `herd history <env>`: past deploys with outcome, duration, phase timings and cause. */
import { InvalidArgumentError, type Command } from 'commander';
import type { CliDeps } from '../deps';
import { resolveEnvironment } from '../environment';
import { durationSeconds, readHistory, type DeployRecord } from '../history';
import { JSON_OPTION, table, writeJson } from '../output';
import { formatDuration } from '../progress';

export function parseLimit(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < 1 || n > 1000) throw new InvalidArgumentError(`must be a whole number from 1 to 1000 (received "${value}")`);
  return n;
}

function outcome(item: DeployRecord): string {
  return item.mode === 'bake' ? `${item.status} (bake only)` : item.status;
}

export function register(program: Command, deps: CliDeps): void {
  program
    .command('history')
    .description('past deploys, newest first: release, strategy, actor, outcome, duration, phase timings, cause')
    .argument('<env>', 'environment (herd.config.ts)')
    .option('--limit <n>', 'how many deploys to show (1–1000)', parseLimit, 20)
    .option(...JSON_OPTION)
    .addHelpText('after', ['', 'Examples:', '  $ herd history production --limit 5', '  $ herd history staging --json | jq \'.[0].phases\''].join('\n'))
    .action(async (env: string, opts: { limit: number; json?: boolean }) => {
      const handle = await resolveEnvironment(deps, env);
      const items = await readHistory(handle.clients, handle.outputs.deployTableName, opts.limit);
      if (opts.json) {
        writeJson(
          deps.out,
          items.map((i) => {
            const { pk: _pk, sk: _sk, ...rest } = i;
            void _pk;
            void _sk;
            const seconds = durationSeconds(i);
            return { ...rest, ...(seconds !== undefined ? { durationSeconds: seconds } : {}) };
          }),
        );
        return;
      }
      if (items.length === 0) {
        deps.out.write(`no deploys recorded on ${env} yet\n`);
        return;
      }
      deps.out.write(
        `${table(
          ['deploy', 'release', 'strategy', 'actor', 'outcome', 'started', 'duration', 'phases', 'cause'],
          items.map((i) => {
            const seconds = durationSeconds(i);
            return [
              i.deployId,
              i.release,
              i.strategy,
              i.actor,
              outcome(i),
              i.startedAt.replace(/\.\d+Z$/, 'Z'),
              seconds === undefined ? 'running' : formatDuration(seconds),
              i.phases.map((p) => `${p.phase} ${formatDuration(p.seconds)}`).join(', '),
              i.error ? `${i.failedPhase ? `${i.failedPhase}: ` : ''}${i.error}` : '',
            ];
          }),
        )}\n`,
      );
    });
}
