/**
 * `herd promote <from-env> <to-env>`: deploy the release serving `<from-env>` (its
 * `current-release` and `current-image` parameters) to `<to-env>` with the same image, no
 * bake: the deploy step reuses an image of the app tagged with the release
 * (`lambda/deploy/bake.ts`), and retention in either environment keeps the image a peer
 * serves (`imagesToDeregister`, `peerEnvironments`). Refused, nothing changed, when nothing
 * serves on `<from-env>`, when the two environments cannot share an image (`promotion.ts`),
 * or when the image is not found where `<to-env>` looks. Recorded in `herd history <to-env>`
 * as an operator action ("promoted from <from-env>") beside the deploy.
 */
import type { Command } from 'commander';
import type { DeployStrategy, MigrationOrder } from '../../config/types';
import { NO_RELEASE, TAGS, parameterNames } from '../../names';
import { auditAction } from '../audit';
import type { CliDeps } from '../deps';
import { configuredEnvironment, resolveEnvironment } from '../environment';
import { CliError, exitWith } from '../errors';
import { currentRelease, readParameter } from '../images';
import { cannotShareMessage, imageSharingProblems } from '../promotion';
import { findRelease } from '../release-catalog';
import { refuseWhenLocked, refuseWhenNotReady, startDeploy } from '../start';
import { migrateOption, strategyOption } from './deploy';

export function register(program: Command, deps: CliDeps): void {
  program
    .command('promote')
    .description('deploy the release serving in one environment to another with the same image (no bake), with live progress')
    .argument('<from-env>', 'environment whose serving release is promoted (herd.config.ts)')
    .argument('<to-env>', 'environment to deploy it to (same app, account, region and CPU architecture)')
    .addOption(strategyOption())
    .addOption(migrateOption())
    .option('--detach', 'return once the deploy has started (exit code 3)')
    .option('--ignore-alarms', 'start even if an alarm that rolls deploys back is in ALARM (recorded in the history)')
    .addHelpText(
      'after',
      [
        '',
        'Examples:',
        '  $ herd promote staging production',
        '  $ herd promote staging production --strategy full --migrate before',
        '',
        'Exit code: 0 the release serves, 1 the deploy failed and rolled back, 2 refused or bad',
        'input (nothing changed), 3 detached.',
      ].join('\n'),
    )
    .action(async (from: string, to: string, opts: { strategy?: DeployStrategy; migrate?: MigrationOrder; detach?: boolean; ignoreAlarms?: boolean }) => {
      const config = deps.config();
      const fromConfig = configuredEnvironment(config, from);
      const toConfig = configuredEnvironment(config, to);
      if (from === to) throw new CliError(`cannot promote ${from} to itself; to redeploy its release use \`herd deploy ${from} <release> --force\``);
      const problems = imageSharingProblems(fromConfig, toConfig);
      if (problems.length > 0) throw new CliError(cannotShareMessage(from, to, problems));
      // The sandbox simulates each environment apart: no image is shared between them.
      if (deps.sandbox) {
        throw new CliError(`promote is not modelled in the sandbox (each environment is simulated apart, so ${to} cannot use ${from}'s image); deploy the same app to ${to} instead: herd deploy ${to} <path> --sandbox; nothing was changed`);
      }

      const fromClients = deps.clients(fromConfig.region, from);
      const names = parameterNames(config.app, from);
      const release = await readParameter(fromClients, names.currentRelease);
      if (release === undefined || release === NO_RELEASE) {
        throw new CliError(`nothing serves on ${from} (its current-release is ${release ?? 'missing'}): nothing to promote; deploy a release there first (\`herd deploy ${from} <release|path>\`), or deploy one on ${to} directly`);
      }
      const served = await readParameter(fromClients, names.currentImage);

      const handle = await resolveEnvironment(deps, to);
      await refuseWhenLocked(handle);
      if ((await currentRelease(handle.clients, handle.app, to)) === release) {
        deps.out.write(`release ${release} already serves on ${to}: nothing to promote (\`herd deploy ${to} ${release} --force\` replaces every instance)\n`);
        return;
      }
      // The image the deploy step will reuse: the newest available one of the app tagged with the release, where `to` looks.
      const image = (await findRelease(handle, release))?.image;
      if (!image) {
        throw new CliError(
          `release ${release} serves on ${from} (image ${served ?? 'unknown'}), but no available image of ${handle.app} tagged ${TAGS.release}=${release} is found where ${to} looks ` +
            `(its account and region): promote between environments that share an account and region, or deploy the release on ${to} from its app directory (\`herd deploy ${to} <path>\`)`,
        );
      }
      await refuseWhenNotReady(handle, { release, ...(opts.ignoreAlarms ? { ignoreAlarms: true } : {}) });
      deps.out.write(`promoting release ${release} from ${from} to ${to} (image ${image.imageId}, no bake)\n`);
      if (served !== undefined && served !== image.imageId) {
        deps.out.write(`note: ${from} serves image ${served}; ${to} reuses ${image.imageId}, the newest image of the same release\n`);
      }
      exitWith(
        await startDeploy(
          deps,
          handle,
          {
            release,
            ...(opts.strategy ? { strategy: opts.strategy } : {}),
            ...(opts.migrate ? { migrationOrder: opts.migrate } : {}),
            ...(opts.ignoreAlarms ? { ignoreAlarms: true } : {}),
            detach: opts.detach === true,
          },
          ({ deployId, actor }) => auditAction(deps, handle, 'promote', actor, `promoted from ${from}: release ${release}, image ${image.imageId}, deploy ${deployId}`),
        ),
      );
    });
}
