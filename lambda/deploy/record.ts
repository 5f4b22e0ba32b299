/**
 * Record: image retention, the history item, the lock released.
 *
 * Retention keeps, among the images this environment baked (`herd:app` + `herd:environment`):
 * the `amiRetention` newest, the one this deploy serves and the one it replaced, the
 * current-image parameter's, every image a launch template's group/default/latest version
 * names, and every image an instance still runs (which protects images promoted to another
 * environment). The rest are deregistered with their snapshots.
 */
import {
  DeleteSnapshotCommand,
  DeregisterImageCommand,
  DescribeImagesCommand,
  DescribeInstancesCommand,
  DescribeLaunchTemplateVersionsCommand,
} from '@aws-sdk/client-ec2';
import { GetParameterCommand } from '@aws-sdk/client-ssm';
import { TAGS, parameterNames } from '../../lib/names';
import type { Role } from '../../lib/config/types';
import { describeError, isTransient } from './errors';
import { historyItem, releaseLock, writeHistory } from './lock';
import { describeGroups } from './rollout';
import { STAGE_DONE, fleetOf, rolesOf, type AdvanceContext, type Step } from './step';

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
        { Name: 'state', Values: ['available'] },
      ],
    }),
  );
  const images = [...(res.Images ?? [])].sort((a, b) => (b.CreationDate ?? '').localeCompare(a.CreationDate ?? ''));
  const keep = new Set<string>(protect.filter(Boolean));
  for (const image of images.slice(0, ctx.env.amiRetention)) if (image.ImageId) keep.add(image.ImageId);

  try {
    const p = await ctx.clients.ssm.send(new GetParameterCommand({ Name: parameterNames(app, env).currentImage }));
    if (p.Parameter?.Value) keep.add(p.Parameter.Value);
  } catch (err) {
    if (!(err instanceof Error && err.name === 'ParameterNotFound')) throw err;
  }

  const roles = rolesOf(ctx.env);
  const groups = await describeGroups(ctx, roles);
  for (const role of roles) {
    const fleet = fleetOf(ctx.env, role);
    const inUse = groups.get(role as Role)?.LaunchTemplate?.Version;
    const versions = [...new Set(['$Latest', '$Default', ...(inUse ? [inUse] : [])])];
    const lt = await ctx.clients.ec2.send(new DescribeLaunchTemplateVersionsCommand({ LaunchTemplateId: fleet.launchTemplateId, Versions: versions }));
    for (const v of lt.LaunchTemplateVersions ?? []) if (v.LaunchTemplateData?.ImageId) keep.add(v.LaunchTemplateData.ImageId);
  }

  const candidates = images.filter((i) => i.ImageId && !keep.has(i.ImageId));
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

  return candidates
    .filter((i) => !keep.has(i.ImageId ?? ''))
    .map((i) => ({
      imageId: i.ImageId ?? '',
      snapshotIds: (i.BlockDeviceMappings ?? []).map((b) => b.Ebs?.SnapshotId ?? '').filter(Boolean),
    }));
}

/** Deregisters one image and deletes its snapshots; both idempotent. */
export async function deregisterImage(ctx: AdvanceContext, imageId: string, snapshotIds: readonly string[]): Promise<void> {
  try {
    await ctx.clients.ec2.send(new DeregisterImageCommand({ ImageId: imageId }));
  } catch (err) {
    if (!(err instanceof Error && /^InvalidAMIID\./.test(err.name))) throw err;
  }
  for (const snapshotId of snapshotIds) {
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
  if (r.done) return { goto: 'record.history' };
  try {
    if (!r.pending) {
      // Saved before any deletion: a retried deletion must still know the snapshots of an image already deregistered.
      r.pending = await imagesToDeregister(ctx, state.app, state.env, [state.image?.imageId ?? '', state.previous?.imageId ?? '']);
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
  return { goto: 'record.history' };
};

const history: Step = async (state, ctx) => {
  await writeHistory(ctx.clients, ctx.env.tableName, historyItem(state, ctx.clock.now(), 'succeeded'));
  return { goto: 'record.unlock' };
};

const unlock: Step = async (state, ctx) => {
  await releaseLock(ctx.clients, ctx.env.tableName, state.deployId);
  return STAGE_DONE;
};

export const RECORD_STEPS: Record<string, Step> = {
  'record.retention': retention,
  'record.history': history,
  'record.unlock': unlock,
};
