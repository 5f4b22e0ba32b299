/**
 * RDS in the fake cloud: the database instances in `cloud.dbInstances` (`available`, or busy
 * in another state until a time: `backing-up` in a backup window, `modifying`…, as
 * `cloud.dbBusy` says) and their manual snapshots (`creating` → `available` after
 * `dbSnapshotSeconds`), tagged, counted against the manual-snapshot quota.
 *
 * Automated backups (`cloud.dbAutomatedBackups`) make an instance restorable to a point in
 * time: DescribeDBInstances reports BackupRetentionPeriod and, while it is above 0,
 * LatestRestorableTime, which trails the present by up to 5 minutes (RDS uploads the
 * transaction logs every 5 minutes), and RestoreDBInstanceToPointInTime refuses a time after it
 * or before the retention window.
 *
 * `registerRds` registers the RDS API handlers on the cloud; `tickDbSnapshots` moves the
 * snapshots one virtual second (FakeCloud.tick calls it after the images, before the pending
 * parameters). Errors carry the SDK's exception names (`DBSnapshotNotFoundFault` for the
 * wire code `DBSnapshotNotFound`).
 */
import * as rds from '@aws-sdk/client-rds';
import type { FakeCloud } from '../fake-cloud';
import type { DbSnapshot } from '../model';
import { fail, tagsFrom, tagList } from './common';

// ---------------------------------------------------------------- processes

/** DB snapshots finish `creating` (one virtual second). */
export function tickDbSnapshots(cloud: FakeCloud, now: number): void {
  const t = cloud.timings;
  for (const s of cloud.dbSnapshots.values()) {
    if (s.status === 'creating' && now - s.createdAt >= t.dbSnapshotSeconds * 1000) s.status = 'available';
  }
}

/** An instance's status now. */
export function dbStatus(cloud: FakeCloud, id: string): string {
  const busy = cloud.dbBusy.get(id);
  return busy && busy.until > cloud.now() ? busy.status : 'available';
}

/** RDS uploads an instance's transaction logs to S3 every 5 minutes (RDS User Guide, "Restoring a DB instance to a specified time"). */
export const LOG_UPLOAD_SECONDS = 300;

/**
 * An instance's restorable window now: none with automated backups off (BackupRetentionPeriod
 * 0) or before its first backup; otherwise from the later of the first backup and the
 * retention period ago, to the last transaction-log upload.
 */
export function restorableWindow(cloud: FakeCloud, id: string): { earliest: number; latest: number; retentionDays: number } | undefined {
  const b = cloud.dbAutomatedBackups.get(id);
  const now = cloud.now();
  if (!b || b.retentionDays === 0 || now < b.since) return undefined;
  const upload = LOG_UPLOAD_SECONDS * 1000;
  const latest = b.since + Math.floor((now - b.since) / upload) * upload;
  return { earliest: Math.max(b.since, now - b.retentionDays * 86_400_000), latest, retentionDays: b.retentionDays };
}

function describeSnapshot(s: DbSnapshot): rds.DBSnapshot {
  return {
    DBSnapshotIdentifier: s.id,
    DBInstanceIdentifier: s.instance,
    Status: s.status,
    SnapshotType: 'manual',
    SnapshotCreateTime: new Date(s.createdAt),
    TagList: tagList(s.tags),
  };
}

// ---------------------------------------------------------------- API

/** Registers the RDS API handlers on `cloud`. */
export function registerRds(cloud: FakeCloud): void {
  // The account's quotas and their use (RDS API reference, DescribeAccountAttributes): the manual snapshots herd counts.
  cloud.on('rds', rds.DescribeAccountAttributesCommand, () => ({
    AccountQuotas: [
      { AccountQuotaName: 'DBInstances', Used: cloud.dbInstances.size, Max: 40 },
      { AccountQuotaName: 'ManualSnapshots', Used: cloud.dbSnapshots.size, Max: cloud.manualSnapshotQuota },
    ],
  }));
  cloud.on('rds', rds.DescribeDBInstancesCommand, (input) => {
    const id = input.DBInstanceIdentifier ?? '';
    if (!cloud.dbInstances.has(id)) fail('DBInstanceNotFoundFault', `DBInstance ${id} not found.`, 404);
    const window = restorableWindow(cloud, id);
    return {
      DBInstances: [{
        DBInstanceIdentifier: id,
        DBInstanceStatus: dbStatus(cloud, id),
        BackupRetentionPeriod: cloud.dbAutomatedBackups.get(id)?.retentionDays ?? 0,
        // Absent with automated backups off, as RDS leaves it.
        ...(window ? { LatestRestorableTime: new Date(window.latest) } : {}),
      }],
    };
  });

  // Only the checks of the restore time (RDS API reference, RestoreDBInstanceToPointInTime:
  // "Must be before the latest restorable time"; within the backup retention period): the new instance is only named.
  cloud.on('rds', rds.RestoreDBInstanceToPointInTimeCommand, (input) => {
    const source = input.SourceDBInstanceIdentifier ?? '';
    if (!cloud.dbInstances.has(source)) fail('DBInstanceNotFoundFault', `DBInstance ${source} not found.`, 404);
    const target = input.TargetDBInstanceIdentifier ?? '';
    if (cloud.dbInstances.has(target)) fail('DBInstanceAlreadyExistsFault', `DB instance ${target} already exists.`);
    if (input.RestoreTime !== undefined && input.UseLatestRestorableTime) fail('InvalidParameterCombination', 'Cannot specify both RestoreTime and UseLatestRestorableTime.');
    const window = restorableWindow(cloud, source);
    if (!window) fail('InvalidDBInstanceStateFault', `Automated backups are not enabled for DB instance ${source}: it cannot be restored to a point in time.`);
    const at = input.UseLatestRestorableTime ? window.latest : input.RestoreTime?.getTime();
    if (at === undefined) fail('InvalidParameterCombination', 'RestoreTime or UseLatestRestorableTime is required.');
    if (at > window.latest || at < window.earliest) {
      fail('InvalidRestoreFault', `Restore time ${new Date(at).toISOString()} is outside the restorable window ${new Date(window.earliest).toISOString()} to ${new Date(window.latest).toISOString()} of ${source}.`);
    }
    cloud.dbInstances.add(target);
    return { DBInstance: { DBInstanceIdentifier: target, DBInstanceStatus: 'creating' } };
  });

  cloud.on('rds', rds.CreateDBSnapshotCommand, (input) => {
    const id = input.DBSnapshotIdentifier ?? '';
    const instance = input.DBInstanceIdentifier ?? '';
    if (!cloud.dbInstances.has(instance)) fail('DBInstanceNotFoundFault', `DBInstance ${instance} not found.`, 404);
    if (!/^[a-zA-Z](?!.*--)[a-zA-Z0-9-]{0,254}$/.test(id) || id.endsWith('-')) fail('InvalidParameterValue', `The parameter DBSnapshotIdentifier is not a valid identifier: ${id}`);
    if (cloud.dbSnapshots.has(id)) fail('DBSnapshotAlreadyExistsFault', `Cannot create the snapshot because a snapshot with the identifier ${id} already exists.`);
    // RDS snapshots an instance only when it is available (or optimizing its storage).
    const status = dbStatus(cloud, instance);
    if (status !== 'available' && status !== 'storage-optimization') fail('InvalidDBInstanceStateFault', `Cannot create a snapshot because the database instance ${instance} is not currently in the available state (it is ${status}).`);
    if (cloud.dbSnapshots.size >= cloud.manualSnapshotQuota) fail('SnapshotQuotaExceededFault', `Cannot create more than ${cloud.manualSnapshotQuota} manual snapshots`, 400);
    const snapshot: DbSnapshot = { id, instance, createdAt: cloud.now(), status: 'creating', tags: tagsFrom(input.Tags) };
    cloud.dbSnapshots.set(id, snapshot);
    return { DBSnapshot: describeSnapshot(snapshot) };
  });

  cloud.on('rds', rds.DescribeDBSnapshotsCommand, (input) => {
    if (input.DBSnapshotIdentifier !== undefined) {
      const s = cloud.dbSnapshots.get(input.DBSnapshotIdentifier);
      if (!s) fail('DBSnapshotNotFoundFault', `DBSnapshot ${input.DBSnapshotIdentifier} not found.`, 404);
      return { DBSnapshots: [describeSnapshot(s)] };
    }
    if (input.MaxRecords !== undefined && (input.MaxRecords < 20 || input.MaxRecords > 100)) fail('InvalidParameterValue', `MaxRecords must be between 20 and 100 (received ${input.MaxRecords})`);
    const all = [...cloud.dbSnapshots.values()]
      .filter((s) => input.DBInstanceIdentifier === undefined || s.instance === input.DBInstanceIdentifier)
      .filter(() => input.SnapshotType === undefined || input.SnapshotType === 'manual');
    const start = input.Marker ? Number(input.Marker) : 0;
    const size = input.MaxRecords ?? 100;
    const next = start + size < all.length ? String(start + size) : undefined;
    return { DBSnapshots: all.slice(start, start + size).map(describeSnapshot), ...(next ? { Marker: next } : {}) };
  });

  cloud.on('rds', rds.DeleteDBSnapshotCommand, (input) => {
    const s = cloud.dbSnapshots.get(input.DBSnapshotIdentifier ?? '');
    if (!s) fail('DBSnapshotNotFoundFault', `DBSnapshot ${input.DBSnapshotIdentifier} not found.`, 404);
    if (s.status !== 'available') fail('InvalidDBSnapshotStateFault', `Cannot delete the snapshot because it is ${s.status}.`);
    cloud.dbSnapshots.delete(s.id);
    return { DBSnapshot: describeSnapshot(s) };
  });
}
