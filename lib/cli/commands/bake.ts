/** `herd bake <env> <release|path>`: prepare a release's image ahead of a deploy (no server changes). */
import type { Command } from 'commander';
import { ensureArtifact, prepareRelease } from '../artifact';
import type { CliDeps } from '../deps';
import { resolveEnvironment } from '../environment';
import { CliError, EXIT, exitWith } from '../errors';
import { releaseImages } from '../images';
import { refuseWhenLocked, startDeploy } from '../start';

export function register(program: Command, deps: CliDeps): void {
  program
    .command('bake')
    .description('bake a release\'s image ahead of a deploy (lock, bake, record; no server changes), with live progress')
    .argument('<env>', 'environment whose deploy step bakes (and whose artifacts bucket receives the upload)')
    .argument('<release|path>', 'app directory or .tar.gz (uploaded), or a release id already uploaded')
    .option('--label <label>', 'prefix of the release id computed from a path (e.g. v42)')
    .option('--base', 'bake a new base image (Amazon Linux and herd/provision) even if one exists, e.g. to pick up newer packages herd/provision installs; then the release on it')
    .option('--detach', 'return once the bake has started (exit code 3)')
    .addHelpText(
      'after',
      [
        '',
        'Examples:',
        '  $ herd bake production ./examples/mootube --label v42',
        '  $ herd deploy production v42-3f9c0a1b2c3d    # later: no bake, straight to the rollout',
        '  $ herd bake production ./examples/mootube --base    # a fresh base image (herd/provision run again), then the release',
      ].join('\n'),
    )
    .action(async (env: string, target: string, opts: { label?: string; base?: boolean; detach?: boolean }) => {
      const handle = await resolveEnvironment(deps, env);
      // Packs (printing what) and checks the app contract and the size before anything goes up.
      const prepared = await prepareRelease(target, opts.label, { out: deps.out, maxArtifactMiB: handle.config.deploy.maxArtifactMiB });
      try {
        const [image] = await releaseImages(handle.clients, handle.app, prepared.release);
        if (image && opts.base) {
          throw new CliError(
            `release ${prepared.release} already has image ${image.ImageId ?? '?'}: --base bakes a new base image only when a release is baked; ` +
              'give a release that has no image yet (a new build of the app)',
            EXIT.usage,
          );
        }
        if (image) {
          deps.out.write(`release ${prepared.release} already has image ${image.ImageId ?? '?'}; nothing to bake (deploy it with \`herd deploy ${env} ${prepared.release}\`)\n`);
          return;
        }
        await refuseWhenLocked(handle);
        // Shows its progress and says when the artifact is up.
        await ensureArtifact(deps, handle.clients, handle.outputs.artifactsBucket, prepared);
      } finally {
        prepared.cleanup();
      }
      exitWith(await startDeploy(deps, handle, { release: prepared.release, mode: 'bake', ...(opts.base ? { rebuildBase: true } : {}), detach: opts.detach === true }));
    });
}
