/**
 * `herd rollback <env> [release]`: deploy the previous (or named) release from its kept image,
 * no rebake; a release whose image was pruned is baked again from its artifact. Which ids it
 * accepts: `release-catalog.ts`, as `herd deploy` and `herd releases`.
 */
import type { Command } from 'commander';
import type { DeployStrategy, MigrationOrder } from '../../config/types';
import { RELEASE_ID_PATTERN } from '../artifact';
import type { CliDeps } from '../deps';
import { artifactKey, resolveEnvironment } from '../environment';
import { CliError, exitWith } from '../errors';
import { readHistory } from '../history';
import { currentRelease } from '../images';
import { requireRelease } from '../release-catalog';
import { refuseWhenLocked, refuseWhenNotReady, startDeploy } from '../start';
import { migrateOption, strategyOption } from './deploy';

export function register(program: Command, deps: CliDeps): void {
  program
    .command('rollback')
    .description('deploy the previous successful release (or the one named) from its kept image, without rebaking (baked again from its artifact if its image was pruned)')
    .argument('<env>', 'environment (herd.config.ts)')
    .argument('[release]', 'release id to go back to, one `herd releases <env>` lists (default: the last successful deploy before the serving release)')
    .addOption(strategyOption())
    .addOption(migrateOption())
    .option('--detach', 'return once the deploy has started (exit code 3)')
    .addHelpText(
      'after',
      ['', 'Examples:', '  $ herd rollback production', '  $ herd rollback staging v41-0b1c2d3e4f5a --migrate none'].join('\n'),
    )
    .action(async (env: string, named: string | undefined, opts: { strategy?: DeployStrategy; migrate?: MigrationOrder; detach?: boolean }) => {
      const handle = await resolveEnvironment(deps, env);
      if (named !== undefined && !RELEASE_ID_PATTERN.test(named)) throw new CliError(`"${named}" is not a release id (${RELEASE_ID_PATTERN})`);
      await refuseWhenLocked(handle);
      const serving = await currentRelease(handle.clients, handle.app, env);
      let release = named;
      if (!release) {
        const history = await readHistory(handle.clients, handle.outputs.deployTableName, 100);
        const previous = history.find((h) => h.status === 'succeeded' && h.mode !== 'bake' && h.release !== serving);
        if (!previous) throw new CliError(`no earlier successful release of ${env} to roll back to (serving: ${serving ?? 'unknown'}); name one: herd rollback ${env} <release>`);
        release = previous.release;
      }
      if (release === serving) throw new CliError(`release ${release} already serves ${env}; nothing to roll back`);
      const found = await requireRelease(handle, release);
      await refuseWhenNotReady(handle, { release });
      deps.out.write(
        found.image
          ? `rolling ${env} back from ${serving ?? 'unknown'} to ${release} (image ${found.image.imageId}, no rebake)\n`
          : `rolling ${env} back from ${serving ?? 'unknown'} to ${release} (its image was pruned: baked again from its artifact s3://${handle.outputs.artifactsBucket}/${artifactKey(release)})\n`,
      );
      exitWith(
        await startDeploy(deps, handle, {
          release,
          ...(opts.strategy ? { strategy: opts.strategy } : {}),
          ...(opts.migrate ? { migrationOrder: opts.migrate } : {}),
          detach: opts.detach === true,
        }),
      );
    });
}
