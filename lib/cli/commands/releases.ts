/**
 * `herd releases <env>` (the releases `deploy <id>` and `rollback <id>` accept: images kept and
 * artifacts uploaded, `release-catalog.ts`; who runs what) and `herd releases prune <env> [--yes]`.
 */
import type { Command } from 'commander';
import { readLock, lockedMessage } from '../../../lambda/deploy/lock';
import { deregisterImage, imagesToDeregister } from '../../../lambda/deploy/record';
import { TAGS } from '../../names';
import type { CliDeps } from '../deps';
import { resolveEnvironment } from '../environment';
import { CliError } from '../errors';
import { baseImages, currentRelease, releaseImages, tagOf } from '../images';
import { listReleases } from '../release-catalog';
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

/** One release `deploy <id>` and `rollback <id>` accept. */
export interface ReleaseRow {
  readonly release: string;
  /** Its newest kept image (absent: only the artifact, baked on its next deploy). */
  readonly imageId?: string;
  /** Whether its artifact is in the artifacts bucket. */
  readonly artifact: boolean;
  readonly servingOn: string[];
}

export function register(program: Command, deps: CliDeps): void {
  const releases = program
    .command('releases')
    .description('the releases deploy and rollback accept (images kept, artifacts uploaded) and which environment runs which; `prune` applies retention')
    .argument('<env>', 'environment whose account and region to look in (herd.config.ts)')
    .option(...JSON_OPTION)
    .addHelpText('after', ['', 'Examples:', '  $ herd releases production', '  $ herd releases prune staging          # dry run', '  $ herd releases prune staging --yes'].join('\n'))
    .action(async (env: string, opts: { json?: boolean }) => {
      const handle = await resolveEnvironment(deps, env);
      const serving = new Map<string, string | undefined>();
      for (const e of handle.herdConfig.environments) {
        const clients = e.name === handle.name ? handle.clients : deps.clients(e.region, e.name);
        serving.set(e.name, await currentRelease(clients, handle.app, e.name));
      }
      const [images, known, bases] = await Promise.all([releaseImages(handle.clients, handle.app), listReleases(handle), baseImages(handle.clients, handle.app)]);
      const servingOn = (release: string) => [...serving].filter(([, r]) => r === release).map(([name]) => name);
      const rows: ReleaseImage[] = images.map((i) => {
        const release = tagOf(i, TAGS.release) ?? '?';
        const bakedBy = tagOf(i, TAGS.environment);
        return {
          release,
          imageId: i.ImageId ?? '',
          ...(i.CreationDate ? { created: i.CreationDate } : {}),
          ...(bakedBy ? { bakedBy } : {}),
          servingOn: servingOn(release),
        };
      });
      const releaseRows: ReleaseRow[] = known.map((k) => ({ release: k.release, ...(k.image ? { imageId: k.image.imageId } : {}), artifact: k.artifact, servingOn: servingOn(k.release) }));
      const environments = Object.fromEntries([...serving].map(([name, r]) => [name, r ?? null]));
      // Base images (layered bake): what each was baked from, and the release images baked on it.
      const baseRows = bases.map((b) => ({
        imageId: b.ImageId ?? '',
        ...(b.CreationDate ? { created: b.CreationDate } : {}),
        ...(tagOf(b, TAGS.environment) ? { bakedBy: tagOf(b, TAGS.environment) } : {}),
        amazonLinux: tagOf(b, TAGS.baseSource) ?? '?',
        provision: tagOf(b, TAGS.provision) ?? '?',
        releases: images.filter((i) => tagOf(i, TAGS.baseImage) === b.ImageId).map((i) => tagOf(i, TAGS.release) ?? '?'),
      }));
      if (opts.json) {
        writeJson(deps.out, { releases: releaseRows, images: rows, bases: baseRows, environments });
        return;
      }
      deps.out.write(`serving: ${[...serving].map(([name, r]) => `${name} ${r ?? '(not deployed)'}`).join(', ')}\n`);
      if (known.length === 0) {
        deps.out.write(`no release of ${handle.app} yet (no image, no artifact): deploy one with \`herd deploy ${env} <app directory or .tar.gz>\`\n`);
        return;
      }
      deps.out.write(
        `${table(
          ['release', 'image', 'created', 'baked by', 'artifact', 'serving on'],
          known.map((k) => [k.release, k.image?.imageId ?? '(none: baked on deploy)', k.image?.created ?? '-', k.image?.bakedBy ?? '-', k.artifact ? 'yes' : 'no', servingOn(k.release).join(', ') || '-']),
        )}\n`,
      );
      if (baseRows.length > 0) {
        deps.out.write(
          `base images (Amazon Linux + herd/provision, reused by every release bake that shares them):\n${table(
            ['base image', 'created', 'baked by', 'amazon linux', 'herd/provision', 'releases on it'],
            baseRows.map((b) => [b.imageId, b.created ?? '-', b.bakedBy ?? '-', b.amazonLinux, b.provision === 'none' ? 'none' : b.provision.slice(0, 12), b.releases.join(', ') || `none (retired at the next deploy of ${b.bakedBy ?? 'its environment'})`]),
          )}\n`,
        );
      }
      deps.out.write(`deploy or roll back to one of them: herd deploy ${env} <release>, herd rollback ${env} <release>\n`);
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
