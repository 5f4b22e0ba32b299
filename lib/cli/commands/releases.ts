/** `herd releases <env>` (images kept, who runs what) and `herd releases prune <env> [--yes]`. */
import type { Command } from 'commander';
import { readLock, lockedMessage } from '../../../lambda/deploy/lock';
import { deregisterImage, imagesToDeregister } from '../../../lambda/deploy/record';
import { TAGS } from '../../names';
import type { CliDeps } from '../deps';
import { resolveEnvironment } from '../environment';
import { CliError } from '../errors';
import { currentRelease, releaseImages, tagOf } from '../images';
import { JSON_OPTION, table, writeJson } from '../output';

export interface ReleaseImage {
  readonly release: string;
  readonly imageId: string;
  readonly created?: string;
  /** Environment whose deploy step baked it. */
  readonly bakedBy?: string;
  /** Environments whose current-release names it. */
  readonly servingOn: string[];
}

export function register(program: Command, deps: CliDeps): void {
  const releases = program
    .command('releases')
    .description('release images kept (tag herd:app) and which environment runs which; `prune` applies retention')
    .argument('<env>', 'environment whose account and region to look in (herd.config.ts)')
    .option(...JSON_OPTION)
    .addHelpText('after', ['', 'Examples:', '  $ herd releases production', '  $ herd releases prune staging          # dry run', '  $ herd releases prune staging --yes'].join('\n'))
    .action(async (env: string, opts: { json?: boolean }) => {
      const handle = await resolveEnvironment(deps, env);
      const serving = new Map<string, string | undefined>();
      for (const e of handle.herdConfig.environments) {
        const clients = e.region === handle.region ? handle.clients : deps.clients(e.region);
        serving.set(e.name, await currentRelease(clients, handle.app, e.name));
      }
      const images = await releaseImages(handle.clients, handle.app);
      const rows: ReleaseImage[] = images.map((i) => {
        const release = tagOf(i, TAGS.release) ?? '?';
        const bakedBy = tagOf(i, TAGS.environment);
        return {
          release,
          imageId: i.ImageId ?? '',
          ...(i.CreationDate ? { created: i.CreationDate } : {}),
          ...(bakedBy ? { bakedBy } : {}),
          servingOn: [...serving].filter(([, r]) => r === release).map(([name]) => name),
        };
      });
      const environments = Object.fromEntries([...serving].map(([name, r]) => [name, r ?? null]));
      if (opts.json) {
        writeJson(deps.out, { images: rows, environments });
        return;
      }
      deps.out.write(`serving: ${[...serving].map(([name, r]) => `${name} ${r ?? '(not deployed)'}`).join(', ')}\n`);
      deps.out.write(
        rows.length === 0
          ? `no release images of ${handle.app} yet\n`
          : `${table(['release', 'image', 'created', 'baked by', 'serving on'], rows.map((r) => [r.release, r.imageId, r.created ?? '?', r.bakedBy ?? '?', r.servingOn.join(', ') || '-']))}\n`,
      );
    });

  releases
    .command('prune')
    .description('deregister the release images retention would drop (amiRetention newest kept, and every image in use); dry run unless --yes')
    .argument('<env>', 'environment (herd.config.ts)')
    .option('--yes', 'deregister them (with their snapshots)')
    .addHelpText('after', ['', 'Examples:', '  $ herd releases prune staging', '  $ herd releases prune staging --yes'].join('\n'))
    .action(async (env: string, opts: { yes?: boolean }) => {
      const handle = await resolveEnvironment(deps, env);
      if (opts.yes) {
        const holder = await readLock(handle.clients, handle.outputs.deployTableName);
        if (holder) throw new CliError(lockedMessage(env, holder));
      }
      const doomed = await imagesToDeregister(handle.context, handle.app, env, []);
      if (doomed.length === 0) {
        deps.out.write(`nothing to prune on ${env}: every image is kept (amiRetention ${handle.config.amiRetention}, or in use)\n`);
        return;
      }
      const list = doomed.map((d) => `${d.imageId}${d.snapshotIds.length > 0 ? ` (snapshots ${d.snapshotIds.join(', ')})` : ''}`);
      if (!opts.yes) {
        deps.out.write(`would deregister ${doomed.length} image(s) of ${env}:\n${list.map((l) => `  ${l}\n`).join('')}run \`herd releases prune ${env} --yes\` to do it\n`);
        return;
      }
      for (const d of doomed) {
        await deregisterImage(handle.context, d.imageId, d.snapshotIds);
        deps.out.write(`deregistered ${d.imageId}\n`);
      }
      deps.out.write(`pruned ${doomed.length} image(s) of ${env}\n`);
    });
}
