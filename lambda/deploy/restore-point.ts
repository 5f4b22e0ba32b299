/**
 * Point-in-time recovery as the backup before a migration (`deploy.backup` `pitr` or
 * `snapshot`): nothing is copied and nothing waits. Automated backups must be on (checked at
 * pre-flight, and again just before the migration runner starts), and the deploy records the
 * time just before the migration: the point an operator restores to if the migration (or the
 * release) damages the data.
 *
 * What RDS allows (RDS API reference, RestoreDBInstanceToPointInTime and DBInstance;
 * https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/USER_PIT.html): a restore to any
 * time from the start of the backup retention period (BackupRetentionPeriod days back) up to
 * the instance's LatestRestorableTime, which trails the present by up to 5 minutes (RDS
 * uploads the transaction logs every 5 minutes); LatestRestorableTime is absent while
 * automated backups are off, or before the first one completed. So the point recorded here
 * becomes restorable only once LatestRestorableTime passes it (about 5 minutes later), and
 * stays restorable for the retention period; a restore creates a new instance, it never
 * overwrites the old one.
 */
import { DescribeDBInstancesCommand } from '@aws-sdk/client-rds';
import { PITR_BACKUP_MODES } from '../../lib/config/types';
import { startDeferredSnapshot } from './backups';
import { DeployFailure } from './errors';
import type { DeployState } from './state';
import { waitFor, type AdvanceContext, type Step } from './step';

/** First poll interval while waiting for a new instance's first automated backup (minutes of work for RDS). */
export const FIRST_BACKUP_POLL_SECONDS = 60;

/** Up to this long after a time, RDS's LatestRestorableTime reaches it (the transaction-log upload interval). */
export const RESTORABLE_LAG_SECONDS = 300;

/** Where a deploy can restore its database to: the point before its migration, and the window RDS gives. */
export interface RestorePoint {
  /** The database instance. */
  readonly instance: string;
  /** The moment just before the migration runner was launched (epoch ms): the point to restore to. */
  readonly at: number;
  /** LatestRestorableTime as RDS reported it then (epoch ms): restores to later times were not possible yet. */
  readonly latestRestorableTime: number;
  /** BackupRetentionPeriod then: the point stays restorable for as many days. */
  readonly retentionDays: number;
}

/** The deploy relies on point-in-time recovery: a PITR mode, a database, and a migration in its plan. */
export function reliesOnPitr(ctx: AdvanceContext, plan: readonly string[] | undefined): boolean {
  return ctx.env.database !== undefined && PITR_BACKUP_MODES.includes(ctx.env.deploy.backup) && (plan ?? []).includes('migrate');
}

/** The instance's automated-backup settings as RDS reports them. */
export async function automatedBackups(ctx: AdvanceContext, instance: string): Promise<{ retentionDays: number; latestRestorableTime?: number; status: string }> {
  const res = await ctx.clients.rds.send(new DescribeDBInstancesCommand({ DBInstanceIdentifier: instance }));
  const db = res.DBInstances?.[0];
  return {
    retentionDays: db?.BackupRetentionPeriod ?? 0,
    ...(db?.LatestRestorableTime ? { latestRestorableTime: db.LatestRestorableTime.getTime() } : {}),
    status: db?.DBInstanceStatus ?? 'missing',
  };
}

/** Why a deploy relying on point-in-time recovery cannot go on with automated backups off. */
export function backupsOffMessage(ctx: AdvanceContext, instance: string): string {
  return (
    `automated backups of database ${instance} are off (BackupRetentionPeriod 0), and deploy.backup "${ctx.env.deploy.backup}" relies on them ` +
    `to restore what the migration changes: turn them on again by deploying the environment's stack (\`npx cdk deploy ${ctx.env.stackName ?? `herd-${ctx.env.env}`}\`, ` +
    `it sets database.backupRetentionDays), or choose deploy.backup "snapshot-wait" for this deploy's configuration`
  );
}

/** Pre-flight: the message of the problem, when the deploy relies on point-in-time recovery and automated backups are off. */
export async function backupProblem(ctx: AdvanceContext, plan: readonly string[] | undefined): Promise<string | undefined> {
  const db = ctx.env.database;
  if (!db || !reliesOnPitr(ctx, plan)) return undefined;
  const { retentionDays } = await automatedBackups(ctx, db.instanceIdentifier);
  return retentionDays > 0 ? undefined : backupsOffMessage(ctx, db.instanceIdentifier);
}

const iso = (ms: number) => new Date(ms).toISOString();

/** What the history records of a restore point: ISO times, and the window they make. */
export function restorePointRecord(p: RestorePoint): {
  instance: string; restoreTo: string; latestRestorableTimeAtCheck: string; restorableFrom: string; restorableUntil: string; retentionDays: number;
} {
  return {
    instance: p.instance,
    restoreTo: iso(p.at),
    latestRestorableTimeAtCheck: iso(p.latestRestorableTime),
    // LatestRestorableTime reaches a time at most one log upload after it.
    restorableFrom: iso(p.at + RESTORABLE_LAG_SECONDS * 1000),
    restorableUntil: iso(p.at + p.retentionDays * 86_400_000),
    retentionDays: p.retentionDays,
  };
}

/**
 * How to restore the data as it was before this deploy's migration, in one line (history,
 * notifications); undefined when the deploy recorded neither a restore point nor a snapshot.
 */
export function restoreInstructions(state: DeployState): string | undefined {
  const point = state.backup?.restorePoint;
  const snapshot = state.migration?.snapshotId ?? (state.backup?.snapshotStatus !== 'failed' ? state.backup?.snapshotId : undefined);
  const parts: string[] = [];
  if (point) {
    const r = restorePointRecord(point);
    parts.push(
      `restore to ${r.restoreTo} (just before the migration) with \`aws rds restore-db-instance-to-point-in-time --source-db-instance-identifier ${point.instance} ` +
      `--target-db-instance-identifier ${point.instance}-restored --restore-time ${r.restoreTo}\`: RDS can restore to it once its latest restorable time ` +
      `(${r.latestRestorableTimeAtCheck} when checked; it trails the present by up to 5 minutes) passes it, by ${r.restorableFrom}, until ${r.restorableUntil} ` +
      `(${point.retentionDays} days of automated backups); the restore makes a new instance (give it the database's --db-subnet-group-name and --vpc-security-group-ids: RDS otherwise uses the defaults)`,
    );
  }
  if (snapshot) {
    const instance = point?.instance ?? state.backup?.instance ?? 'the-database';
    const started = state.backup?.snapshotStartedAt;
    const what = state.migration?.snapshotId ? 'taken just before the migration' : `the database as it was at ${started ? iso(started) : 'the deploy\'s start'}, before the migration`;
    parts.push(
      `${point ? 'or restore' : 'restore'} from snapshot ${snapshot} (${what}) with \`aws rds restore-db-instance-from-db-snapshot ` +
      `--db-snapshot-identifier ${snapshot} --db-instance-identifier ${instance}-restored\``,
    );
  }
  return parts.length > 0 ? parts.join('; ') : undefined;
}

/**
 * Just before the migration runner starts: automated backups still on (else the deploy
 * fails before the migration runs), a first backup done (else wait for it: no point in time
 * is restorable before it), then the restore point recorded. Idempotent: a retried step keeps
 * the point recorded first. With `snapshot`, a manual snapshot the deploy's start could not
 * begin is tried once more first (`startDeferredSnapshot`).
 */
const recordRestorePoint: Step = async (state, ctx) => {
  const db = ctx.env.database;
  if (!db || state.backup?.restorePoint) return { goto: 'migrate.launchRunner' };
  await startDeferredSnapshot(state, ctx);
  const found = await automatedBackups(ctx, db.instanceIdentifier);
  if (found.retentionDays === 0) throw new DeployFailure(`${backupsOffMessage(ctx, db.instanceIdentifier)}; they were turned off after the pre-flight check, and the migration did not run`);
  if (found.latestRestorableTime === undefined) {
    return waitFor(state, ctx, ctx.env.deploy.timeouts.migrateMinutes, `database ${db.instanceIdentifier}'s first automated backup (no point in time is restorable before it; it is ${found.status})`, FIRST_BACKUP_POLL_SECONDS);
  }
  state.backup = {
    ...state.backup,
    instance: db.instanceIdentifier,
    restorePoint: { instance: db.instanceIdentifier, at: ctx.clock.now(), latestRestorableTime: found.latestRestorableTime, retentionDays: found.retentionDays },
  };
  return { goto: 'migrate.launchRunner' };
};

export const RESTORE_POINT_STEPS: Record<string, Step> = {
  'migrate.restorePoint': recordRestorePoint,
};
