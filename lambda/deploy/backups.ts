/**
 * herd's pre-migration database snapshots: tagged with the app, environment, deploy and
 * release (`deployTags`, role `backup`), named `herd-<app>-<env>-<deploy>` (`herd-<env>-<deploy>` before). Manual snapshots count
 * against a quota (100 per region by default: CreateDBSnapshot then fails with
 * SnapshotQuotaExceeded), so each successful deploy deletes this environment's snapshots
 * beyond the newest `deploy.backupRetention`, never the one that guards it. Snapshots
 * without herd's tags (an operator's, AWS Backup's) are never touched.
 *
 * With `deploy.backup` `snapshot`, the snapshot starts when the deploy starts (`lock.snapshot`,
 * after the janitor), so RDS makes it while the bake runs: the state machine runs one step
 * per call, so "in parallel" means started early and checked later. An instance RDS cannot
 * snapshot yet (`backing-up`, `modifying`…) never holds the deploy: the start is tried again
 * just before the migration, and a snapshot that could not start, or failed, is a warning:
 * the restore point (`restore-point.ts`) covers the migration. Its completion is checked at
 * the start of `record` (`record.snapshot`), waiting for it there if it is still `creating`,
 * so the history says whether it exists; the release serves by then, so nothing is undone.
 */
import { CreateDBSnapshotCommand, DeleteDBSnapshotCommand, DescribeDBSnapshotsCommand, type DBSnapshot } from '@aws-sdk/client-rds';
import { TAGS } from '../../lib/names';
import { describeError, isTransient } from './errors';
import { snapshotIdentifier } from './release';
import type { DeployState } from './state';
import { STAGE_DONE, deployTags, waitFor, type AdvanceContext, type Step } from './step';

/**
 * First poll interval of the check, before \`record\`, of the snapshot started alongside the bake:
 * it rarely waits at all (the snapshot had the bake and the migration to finish), and a slower
 * start keeps the worst-case execution within its history budget (\`budget.ts\`).
 */
export const SNAPSHOT_CHECK_SECONDS = 120;

/** Pages of manual snapshots read before giving up (100 per page). */
const MAX_PAGES = 10;

function tagOf(s: DBSnapshot, key: string): string | undefined {
  return s.TagList?.find((t) => t.Key === key)?.Value;
}

/** This environment's herd backups of its database, newest first. */
export async function herdBackups(ctx: AdvanceContext, app: string, env: string): Promise<DBSnapshot[]> {
  const db = ctx.env.database;
  if (!db) return [];
  const found: DBSnapshot[] = [];
  let marker: string | undefined;
  for (let page = 0; page < MAX_PAGES; page++) {
    const res = await ctx.clients.rds.send(new DescribeDBSnapshotsCommand({
      DBInstanceIdentifier: db.instanceIdentifier,
      SnapshotType: 'manual',
      MaxRecords: 100,
      ...(marker ? { Marker: marker } : {}),
    }));
    found.push(...(res.DBSnapshots ?? []).filter((s) => tagOf(s, TAGS.app) === app && tagOf(s, TAGS.environment) === env && tagOf(s, TAGS.role) === 'backup'));
    marker = res.Marker;
    if (!marker) break;
  }
  return found.sort((a, b) => (b.SnapshotCreateTime?.getTime() ?? 0) - (a.SnapshotCreateTime?.getTime() ?? 0));
}

/** The backups retention would delete now: beyond the newest `keep`, never `protect`, never one still being created. */
export async function backupsToDelete(ctx: AdvanceContext, app: string, env: string, keep: number, protect: string | undefined): Promise<string[]> {
  const backups = await herdBackups(ctx, app, env);
  return backups
    .slice(keep)
    .filter((s) => s.DBSnapshotIdentifier && s.DBSnapshotIdentifier !== protect && s.Status === 'available')
    .map((s) => s.DBSnapshotIdentifier ?? '');
}

/** Deletes one backup; idempotent. */
export async function deleteBackup(ctx: AdvanceContext, id: string): Promise<void> {
  try {
    await ctx.clients.rds.send(new DeleteDBSnapshotCommand({ DBSnapshotIdentifier: id }));
  } catch (err) {
    if (!(err instanceof Error && (err.name === 'DBSnapshotNotFoundFault' || err.name === 'DBSnapshotNotFound'))) throw err;
  }
}

/** The deploy takes a manual snapshot alongside the bake: `snapshot` mode, a database, a migration in its plan. */
export function snapshotsEarly(state: DeployState, ctx: AdvanceContext): boolean {
  return ctx.env.deploy.backup === 'snapshot' && ctx.env.database !== undefined && state.mode === undefined && state.plan.includes('migrate');
}

/**
 * Starts this deploy's manual snapshot unless it started already; never throws but for a
 * transient error (tried again): an instance that is not `available` defers it
 * (`snapshotDeferred`), any other refusal is a warning.
 */
async function startSnapshot(state: DeployState, ctx: AdvanceContext): Promise<void> {
  const db = ctx.env.database;
  if (!db || state.backup?.snapshotId) return;
  const id = snapshotIdentifier(state);
  const now = ctx.clock.now();
  try {
    await ctx.clients.rds.send(new CreateDBSnapshotCommand({
      DBInstanceIdentifier: db.instanceIdentifier,
      DBSnapshotIdentifier: id,
      Tags: deployTags(state, 'backup').filter((t) => t.Key !== 'Name'),
    }));
  } catch (err) {
    const name = err instanceof Error ? err.name : '';
    if (name === 'InvalidDBInstanceStateFault' || name === 'InvalidDBInstanceState') {
      // RDS snapshots an instance only when it is available: not now, and never waited for.
      state.backup = { ...state.backup, instance: db.instanceIdentifier, snapshotDeferred: describeError(err).slice(0, 300) };
      return;
    }
    if (isTransient(err)) throw err;
    if (name !== 'DBSnapshotAlreadyExistsFault') {
      const { snapshotDeferred: _, ...rest } = state.backup ?? {};
      state.backup = { ...rest, instance: db.instanceIdentifier, snapshotStatus: 'failed' };
      state.warnings.push(`no manual snapshot ${id} of ${db.instanceIdentifier} (the restore point covers the migration): ${describeError(err)}`.slice(0, 1000));
      return;
    }
  }
  const { snapshotDeferred: _, ...rest } = state.backup ?? {};
  state.backup = { ...rest, instance: db.instanceIdentifier, snapshotId: id, snapshotStartedAt: now, snapshotStatus: 'creating' };
}

/** `lock.snapshot`: the manual snapshot starts as the deploy starts, before the bake. */
const startEarly: Step = async (state, ctx) => {
  if (snapshotsEarly(state, ctx)) await startSnapshot(state, ctx);
  return STAGE_DONE;
};

/**
 * Just before the migration (`migrate.restorePoint` calls it): a snapshot deferred at the
 * start is tried once more; still impossible, the migration goes on with the restore point
 * alone, and the history says so.
 */
export async function startDeferredSnapshot(state: DeployState, ctx: AdvanceContext): Promise<void> {
  if (!snapshotsEarly(state, ctx) || state.backup?.snapshotId || state.backup?.snapshotStatus === 'failed') return;
  await startSnapshot(state, ctx);
  const deferred = state.backup?.snapshotDeferred;
  if (deferred && !state.backup?.snapshotId) {
    const { snapshotDeferred: _, ...rest } = state.backup ?? {};
    state.backup = { ...rest, snapshotStatus: 'not started' };
    state.warnings.push(`no manual snapshot before the migration: RDS could not snapshot the database at the deploy's start nor before the migration (${deferred}); the restore point covers the migration`.slice(0, 1000));
  }
}

/**
 * `record.snapshot`: the manual snapshot started alongside the bake is `available`; one still
 * `creating` is waited for (bounded by the migration timeout; past it, a warning), one that
 * failed is a warning: the release serves, the restore point covers its migration.
 */
const checkSnapshot: Step = async (state, ctx) => {
  const id = state.backup?.snapshotId;
  if (!id || state.backup?.snapshotStatus === 'available' || state.backup?.snapshotStatus === 'failed') return { goto: 'record.retention' };
  let status: string;
  try {
    const res = await ctx.clients.rds.send(new DescribeDBSnapshotsCommand({ DBSnapshotIdentifier: id }));
    status = res.DBSnapshots?.[0]?.Status ?? 'missing';
  } catch (err) {
    if (!(err instanceof Error && (err.name === 'DBSnapshotNotFoundFault' || err.name === 'DBSnapshotNotFound'))) throw err;
    status = 'missing';
  }
  if (status === 'creating') return waitFor(state, ctx, ctx.env.deploy.timeouts.migrateMinutes, `database snapshot ${id} (started alongside the bake)`, SNAPSHOT_CHECK_SECONDS);
  state.backup = { ...state.backup, snapshotStatus: status === 'available' ? 'available' : 'failed' };
  if (status !== 'available') state.warnings.push(`manual snapshot ${id} is ${status}, not available: restore from the restore point instead`);
  return { goto: 'record.retention' };
};

export const BACKUP_STEPS: Record<string, Step> = {
  'lock.snapshot': startEarly,
  'record.snapshot': checkSnapshot,
};
