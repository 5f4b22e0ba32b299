/**
 * Record: image retention, the history item, the lock released.
 *
 * Retention keeps, among the images this environment baked (`herd:app` + `herd:environment`):
 * the `amiRetention` newest, the one this deploy serves and the one it replaced, and every
 * image something of the app may still launch, in this environment or in a peer it was
 * promoted to (bake reuses an image of the same app and release from any environment):
 * - this environment's and every peer's current-image parameter (`peerEnvironments`);
 * - the `$Latest`, `$Default` and in-use version of every launch template of the app: this
 *   environment's fleets', every launch template tagged `herd:app=<app>`, and the one of
 *   every Auto Scaling group tagged so (in use = the group's version);
 * - every image an instance still runs.
 * Base images (layered bake, `base-image.ts`) do not count towards `amiRetention`: one is
 * kept while a release image of the app that stays (in any environment: a promotion's, or a
 * peer's that reused it) was baked on it (`herd:base-image`), while an instance runs it (a
 * builder baking on it), and when this deploy used it; otherwise it is retired. A base
 * another environment's bake found but has not booted yet may go: that bake then bakes the
 * base again (`bake.launch`).
 * The rest are deregistered with their snapshots. Every lookup is filtered (tags, ids,
 * names) and bounded; an error fails the selection (a transient one is retried).
 */
import { DescribeAutoScalingGroupsCommand, type AutoScalingGroup } from '@aws-sdk/client-auto-scaling';
import {
  DeleteSnapshotCommand,
  DeregisterImageCommand,
  DescribeImagesCommand,
  DescribeInstancesCommand,
  DescribeLaunchTemplateVersionsCommand,
  DescribeLaunchTemplatesCommand,
  type Image,
} from '@aws-sdk/client-ec2';
import { GetParameterCommand } from '@aws-sdk/client-ssm';
import { TAGS, parameterNames } from '../../lib/names';
import { backupsToDelete, deleteBackup } from './backups';
import { describeError, isTransient } from './errors';
import { historyItem, releaseLock, writeHistory } from './lock';
import { notifyDeploy } from './notify';
import { describeGroups } from './rollout';
import { STAGE_DONE, fleetOf, rolesOf, type AdvanceContext, type Step } from './step';

/** Pages read of one tag-filtered listing (launch templates, groups of the app) before retention gives up. */
export const RETENTION_MAX_PAGES = 10;

/** Reads a paginated listing, at most `RETENTION_MAX_PAGES` pages. */
async function allPages<T>(what: string, page: (token: string | undefined) => Promise<{ items: T[]; next: string | undefined }>): Promise<T[]> {
  const items: T[] = [];
  let token: string | undefined;
  for (let n = 0; n < RETENTION_MAX_PAGES; n++) {
    const res = await page(token);
    items.push(...res.items);
    token = res.next;
    if (!token) return items;
  }
  throw new Error(`more than ${RETENTION_MAX_PAGES} pages of ${what}: retention cannot tell which images are in use`);
}

/** The current-image parameter's value, or undefined when it does not exist. */
async function currentImageOf(ctx: AdvanceContext, app: string, env: string): Promise<string | undefined> {
  try {
    const p = await ctx.clients.ssm.send(new GetParameterCommand({ Name: parameterNames(app, env).currentImage }));
    return p.Parameter?.Value;
  } catch (err) {
    if (err instanceof Error && err.name === 'ParameterNotFound') return undefined;
    throw err;
  }
}

/** Launch template and version of a group (plain, or in a mixed instances policy). */
function launchTemplateOf(group: AutoScalingGroup): { id?: string; version?: string } {
  const lt = group.LaunchTemplate ?? group.MixedInstancesPolicy?.LaunchTemplate?.LaunchTemplateSpecification;
  return { ...(lt?.LaunchTemplateId ? { id: lt.LaunchTemplateId } : {}), ...(lt?.Version ? { version: lt.Version } : {}) };
}

/**
 * Every launch-template version of the app that may launch an instance: by launch template
 * id, `$Latest`, `$Default` and the versions groups use.
 */
async function launchTemplateVersionsInUse(ctx: AdvanceContext, app: string): Promise<Map<string, Set<string>>> {
  const versions = new Map<string, Set<string>>();
  const use = (id: string | undefined, version?: string) => {
    if (!id) return;
    let set = versions.get(id);
    if (!set) versions.set(id, (set = new Set(['$Latest', '$Default'])));
    if (version) set.add(version);
  };

  // This environment's fleets, by name and id: they count even if a tag is missing.
  const roles = rolesOf(ctx.env);
  const own = await describeGroups(ctx, roles);
  for (const role of roles) use(fleetOf(ctx.env, role).launchTemplateId, own.get(role)?.LaunchTemplate?.Version);

  // Every environment of the app: its groups (the version each uses) and its launch templates.
  const appTag = { Name: `tag:${TAGS.app}`, Values: [app] };
  const groups = await allPages('Auto Scaling groups', async (NextToken) => {
    const res = await ctx.clients.autoScaling.send(new DescribeAutoScalingGroupsCommand({ Filters: [appTag], MaxRecords: 100, ...(NextToken ? { NextToken } : {}) }));
    return { items: res.AutoScalingGroups ?? [], next: res.NextToken };
  });
  for (const g of groups) {
    const lt = launchTemplateOf(g);
    use(lt.id, lt.version);
  }
  const templates = await allPages('launch templates', async (NextToken) => {
    const res = await ctx.clients.ec2.send(new DescribeLaunchTemplatesCommand({ Filters: [appTag], MaxResults: 200, ...(NextToken ? { NextToken } : {}) }));
    return { items: res.LaunchTemplates ?? [], next: res.NextToken };
  });
  for (const t of templates) use(t.LaunchTemplateId);
  return versions;
}

/** Images (with their snapshots) retention would deregister now. */
export async function imagesToDeregister(
  ctx: AdvanceContext,
  app: string,
  env: string,
  protect: readonly string[],
): Promise<{ imageId: string; snapshotIds: string[] }[]> {
  const res = await ctx.clients.ec2.send(
    new DescribeImagesCommand({
      Owners: ['self'],
      Filters: [
        { Name: `tag:${TAGS.app}`, Values: [app] },
        { Name: `tag:${TAGS.environment}`, Values: [env] },
        { Name: 'state', Values: ['available', 'pending', 'failed'] },
      ],
    }),
  );
  const all = [...(res.Images ?? [])].sort((a, b) => (b.CreationDate ?? '').localeCompare(a.CreationDate ?? ''));
  // Images a dead bake left: failed, or still pending long after any bake's image deadline.
  const staleBefore = ctx.clock.now() - (ctx.env.deploy.timeouts.imageMinutes + 60) * 60_000;
  const abandoned = all.filter((i) => i.State === 'failed' || (i.State === 'pending' && Date.parse(i.CreationDate ?? '') < staleBefore));
  const isBase = (i: Image) => i.Tags?.some((t) => t.Key === TAGS.role && t.Value === 'base') === true;
  const images = all.filter((i) => i.State === 'available' && !isBase(i));
  const bases = all.filter((i) => i.State === 'available' && isBase(i));
  const keep = new Set<string>(protect.filter(Boolean));
  for (const image of images.slice(0, ctx.env.amiRetention)) if (image.ImageId) keep.add(image.ImageId);

  // This environment's current image, and every peer's: a release baked here may serve there.
  for (const e of [env, ...ctx.env.peerEnvironments.filter((p) => p !== env)]) {
    const image = await currentImageOf(ctx, app, e);
    if (image) keep.add(image);
  }

  for (const [launchTemplateId, versions] of await launchTemplateVersionsInUse(ctx, app)) {
    const lt = await ctx.clients.ec2.send(new DescribeLaunchTemplateVersionsCommand({ LaunchTemplateId: launchTemplateId, Versions: [...versions] }));
    for (const v of lt.LaunchTemplateVersions ?? []) if (v.LaunchTemplateData?.ImageId) keep.add(v.LaunchTemplateData.ImageId);
  }

  const candidates = [...images, ...abandoned, ...bases].filter((i) => i.ImageId && !keep.has(i.ImageId));
  if (candidates.length === 0) return [];
  const used = await ctx.clients.ec2.send(
    new DescribeInstancesCommand({
      Filters: [
        { Name: 'image-id', Values: candidates.map((i) => i.ImageId ?? '') },
        { Name: 'instance-state-name', Values: ['pending', 'running', 'stopping', 'stopped', 'shutting-down'] },
      ],
    }),
  );
  for (const r of used.Reservations ?? []) for (const i of r.Instances ?? []) if (i.ImageId) keep.add(i.ImageId);

  const going = candidates.filter((i) => !keep.has(i.ImageId ?? ''));
  if (going.some((i) => isBase(i) && i.State === 'available')) {
    // The bases the app's release images that stay were baked on, in every environment.
    const leaving = new Set(going.map((i) => i.ImageId));
    const ofApp = await ctx.clients.ec2.send(
      new DescribeImagesCommand({ Owners: ['self'], Filters: [{ Name: `tag:${TAGS.app}`, Values: [app] }, { Name: 'state', Values: ['available', 'pending'] }] }),
    );
    for (const i of ofApp.Images ?? []) {
      const base = i.Tags?.find((t) => t.Key === TAGS.baseImage)?.Value;
      if (base && !isBase(i) && !leaving.has(i.ImageId)) keep.add(base);
    }
  }

  return going
    .filter((i) => !keep.has(i.ImageId ?? ''))
    // Release images first: a base goes after the images baked on it.
    .sort((a, b) => Number(isBase(a)) - Number(isBase(b)))
    .map((i) => ({
      imageId: i.ImageId ?? '',
      snapshotIds: (i.BlockDeviceMappings ?? []).map((b) => b.Ebs?.SnapshotId ?? '').filter(Boolean),
    }));
}

/**
 * Deregisters one image and deletes its snapshots; both idempotent. DeregisterImage deletes
 * the snapshots itself (`DeleteAssociatedSnapshots`); a snapshot it reports it could not
 * delete, or one a service without that option left, is deleted here. Right after a
 * deregistration EC2 may still answer `InvalidSnapshot.InUse`: that error is transient, the
 * step runs again after a backoff, and a snapshot is never left behind.
 */
export async function deregisterImage(ctx: AdvanceContext, imageId: string, snapshotIds: readonly string[]): Promise<void> {
  let deleted = new Set<string>();
  try {
    const res = await ctx.clients.ec2.send(new DeregisterImageCommand({ ImageId: imageId, DeleteAssociatedSnapshots: true }));
    deleted = new Set((res.DeleteSnapshotResults ?? []).filter((r) => r.ReturnCode === 'success' || r.ReturnCode === 'skipped').map((r) => r.SnapshotId ?? ''));
  } catch (err) {
    if (!(err instanceof Error && /^InvalidAMIID\./.test(err.name))) throw err;
  }
  for (const snapshotId of snapshotIds) {
    if (deleted.has(snapshotId)) continue;
    try {
      await ctx.clients.ec2.send(new DeleteSnapshotCommand({ SnapshotId: snapshotId }));
    } catch (err) {
      if (!(err instanceof Error && err.name === 'InvalidSnapshot.NotFound')) throw err;
    }
  }
}

const retention: Step = async (state, ctx) => {
  const r = state.retention ?? { deregistered: [] };
  state.retention = r;
  if (r.done) return { goto: 'record.backups' };
  try {
    if (!r.pending) {
      // Saved before any deletion: a retried deletion must still know the snapshots of an image already deregistered.
      r.pending = await imagesToDeregister(ctx, state.app, state.env, [state.image?.imageId ?? '', state.previous?.imageId ?? '', state.base?.imageId ?? '']);
      return { poll: 0 };
    }
    const next = r.pending[0];
    if (next) {
      await deregisterImage(ctx, next.imageId, next.snapshotIds);
      r.pending = r.pending.slice(1);
      r.deregistered.push(next.imageId);
      return { poll: 0 };
    }
  } catch (err) {
    if (isTransient(err)) throw err;
    // Retention never fails a deploy whose release already serves.
    state.warnings.push(`retention stopped: ${describeError(err)}`);
  }
  delete r.pending;
  r.done = true;
  return { goto: 'record.backups' };
};

/** herd's pre-migration snapshots beyond `deploy.backupRetention` (never this deploy's) go, one per call. */
const backups: Step = async (state, ctx) => {
  const b = state.backups ?? { deleted: [] };
  state.backups = b;
  if (b.done || !ctx.env.database) return { goto: 'record.history' };
  try {
    if (!b.pending) {
      b.pending = await backupsToDelete(ctx, state.app, state.env, ctx.env.deploy.backupRetention ?? 3, state.migration?.snapshotId ?? state.backup?.snapshotId);
      return { poll: 0 };
    }
    const next = b.pending[0];
    if (next) {
      await deleteBackup(ctx, next);
      b.pending = b.pending.slice(1);
      b.deleted.push(next);
      return { poll: 0 };
    }
  } catch (err) {
    if (isTransient(err)) throw err;
    // The release serves: a backup that could not be deleted is a warning, deleted next time.
    state.warnings.push(`backup retention stopped: ${describeError(err)}`);
  }
  delete b.pending;
  b.done = true;
  return { goto: 'record.history' };
};

const history: Step = async (state, ctx) => {
  await writeHistory(ctx.clients, ctx.env.tableName, historyItem(state, ctx.clock.now(), 'succeeded'));
  return { goto: 'record.notify' };
};

/** Tells the team the release serves; a notification that cannot be sent is a warning, written to the history. */
const notify: Step = async (state, ctx) => {
  const unsent = await notifyDeploy(ctx.clients, ctx.env, { ...state, outcome: 'succeeded' }, 'succeeded', ctx.clock.now(), { retryTransient: true });
  if (unsent) {
    state.warnings.push(unsent);
    await writeHistory(ctx.clients, ctx.env.tableName, historyItem(state, ctx.clock.now(), 'succeeded'));
  }
  return { goto: 'record.unlock' };
};

const unlock: Step = async (state, ctx) => {
  await releaseLock(ctx.clients, ctx.env.tableName, state.deployId);
  return STAGE_DONE;
};

/**
 * After `record.unlock` failed for good (the release serves, the lock is still held): the
 * history item is written again so it carries the warning that says how to break the lock.
 */
const note: Step = async (state, ctx) => {
  await writeHistory(ctx.clients, ctx.env.tableName, historyItem(state, ctx.clock.now(), 'succeeded'));
  return STAGE_DONE;
};

export const RECORD_STEPS: Record<string, Step> = {
  'record.retention': retention,
  'record.backups': backups,
  'record.history': history,
  'record.notify': notify,
  'record.unlock': unlock,
  'record.note': note,
};
