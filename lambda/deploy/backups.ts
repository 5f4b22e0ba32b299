/**
 * herd's pre-migration database snapshots: tagged with the app, environment, deploy and
 * release (`deployTags`, role `backup`), named `herd-<app>-<env>-<deploy>` (`herd-<env>-<deploy>` before). Manual snapshots count
 * against a quota (100 per region by default: CreateDBSnapshot then fails with
 * SnapshotQuotaExceeded), so each successful deploy deletes this environment's snapshots
 * beyond the newest `deploy.backupRetention`, never the one that guards it. Snapshots
 * without herd's tags (an operator's, AWS Backup's) are never touched.
 */
import { DeleteDBSnapshotCommand, DescribeDBSnapshotsCommand, type DBSnapshot } from '@aws-sdk/client-rds';
import { TAGS } from '../../lib/names';
import type { AdvanceContext } from './step';

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
