/** `herd deploy <env> <release|path>`: upload when given a path, start the deploy step, watch it. */
import { Option, type Command } from 'commander';
import type { DeployStrategy, MigrationOrder } from '../../config/types';
import { ensureArtifact, prepareRelease } from '../artifact';
import type { CliDeps } from '../deps';
import { resolveEnvironment } from '../environment';
import { exitWith } from '../errors';
import { currentRelease } from '../images';
import { requireRelease } from '../release-catalog';
import { MIGRATE_CHOICES, refuseWhenLocked, refuseWhenNotReady, startDeploy } from '../start';

export function strategyOption(): Option {
  return new Option('--strategy <strategy>', 'rolling (instance refresh, no downtime) or full (maintenance page, new fleet); default: the environment\'s').choices(['rolling', 'full']);
}

export function migrateOption(): Option {
  return new Option('--migrate <when>', 'when the Procfile\'s release: command runs; default: the environment\'s').choices([...MIGRATE_CHOICES]);
}

export function register(program: Command, deps: CliDeps): void {
  program
    .command('deploy')
    .description('deploy a release (an app directory, a .tar.gz or a release id) and show live progress until it serves')
    .argument('<env>', 'environment (herd.config.ts)')
    .argument('<release|path>', 'app directory or .tar.gz (packed, uploaded to the artifacts bucket) or a release id already uploaded')
    .addOption(strategyOption())
    .addOption(migrateOption())
    .option('--label <label>', 'prefix of the release id computed from a path (e.g. v42)')
    .option('--detach', 'return once the deploy has started (exit code 3)')
    .option('--force', 'deploy even if the release serves already (replaces every instance)')
    .option('--ignore-alarms', 'start even if an alarm that rolls deploys back is in ALARM (recorded in the history)')
    .addHelpText(
      'after',
      [
        '',
        'Examples:',
        '  $ herd deploy staging ./examples/mootube --label v42',
        '  $ herd deploy production v42-3f9c0a1b2c3d --strategy full --migrate before',
        '',
        'Ctrl-C detaches (the deploy keeps running). Exit code: 0 the release serves, 1 the deploy',
        'failed and rolled back, 2 refused or bad input (nothing changed), 3 detached.',
      ].join('\n'),
    )
    .action(async (env: string, target: string, opts: { strategy?: DeployStrategy; migrate?: MigrationOrder; label?: string; detach?: boolean; force?: boolean; ignoreAlarms?: boolean }) => {
      const handle = await resolveEnvironment(deps, env);
      // Packs (printing what) and checks the app contract and the size before anything goes up.
      const prepared = await prepareRelease(target, opts.label, { out: deps.out, maxArtifactMiB: handle.config.deploy.maxArtifactMiB });
      try {
        // Refuse before uploading anything when another deploy runs, or the deploy step's pre-flight would.
        await refuseWhenLocked(handle);
        if (!opts.force && (await currentRelease(handle.clients, handle.app, env)) === prepared.release) {
          deps.out.write(`release ${prepared.release} already serves on ${env}: nothing to do (deploy with --force to replace every instance)\n`);
          return;
        }
        if (prepared.tarball === undefined) {
          // A release id must exist (a kept image or an uploaded artifact): the same refusal as `herd rollback`.
          const found = await requireRelease(handle, prepared.release);
          await refuseWhenNotReady(handle, { release: prepared.release, ...(opts.ignoreAlarms ? { ignoreAlarms: true } : {}) });
          deps.out.write(
            found.image
              ? `release ${prepared.release}: image ${found.image.imageId} kept (no bake)\n`
              : `release ${prepared.release}: artifact s3://${handle.outputs.artifactsBucket}/${prepared.key} already uploaded\n`,
          );
        } else {
          await refuseWhenNotReady(handle, { release: prepared.release, uploading: true, ...(opts.ignoreAlarms ? { ignoreAlarms: true } : {}) });
          // Shows its progress and says when the artifact is up.
          const uploaded = await ensureArtifact(deps, handle.clients, handle.outputs.artifactsBucket, prepared);
          if (!uploaded) deps.out.write(`release ${prepared.release}: artifact s3://${handle.outputs.artifactsBucket}/${prepared.key} already uploaded\n`);
        }
      } finally {
        prepared.cleanup();
      }
      exitWith(
        await startDeploy(deps, handle, {
          release: prepared.release,
          ...(opts.strategy ? { strategy: opts.strategy } : {}),
          ...(opts.migrate ? { migrationOrder: opts.migrate } : {}),
          ...(opts.force ? { force: true } : {}),
          ...(opts.ignoreAlarms ? { ignoreAlarms: true } : {}),
          detach: opts.detach === true,
        }),
      );
    });
}
