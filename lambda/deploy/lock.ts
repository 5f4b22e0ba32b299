/**
 * The deploy table: one lock item per environment and one history item per deploy.
 *
 * Keys: partition key `pk` (S), sort key `sk` (S).
 * - lock: `pk = LOCK`, `sk = LOCK`, with `deployId`, `actor`, `release`, `since` (ISO time);
 * - history: `pk = DEPLOY`, `sk = <startedAt ISO>#<deployId>` (a Query on `pk = DEPLOY`,
 *   newest first, lists the history).
 * - operator actions: `pk = ACTION`, `sk = <ISO time>#<verb>`, written by the CLI (`lib/cli/audit.ts`).
 */
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { DeleteCommand, GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import type { DeployClients } from './clients';
import { DeployLockedError, LockNotHeldError } from './errors';
import { restoreInstructions, restorePointRecord } from './restore-point';
import type { DeployOutcome, DeployState, Phase } from './state';
import type { Role } from '../../lib/config/types';

export const LOCK_KEY = { pk: 'LOCK', sk: 'LOCK' } as const;

export interface LockItem {
  readonly deployId: string;
  readonly actor: string;
  readonly release: string;
  /** ISO time the lock was taken. */
  readonly since: string;
  /** `bake` for an image-only run (`herd bake`), which changes no fleet; absent for a deploy. */
  readonly mode?: 'bake' | 'restart';
  /**
   * The deploy failed and its compensation did not finish: what is half done. The lock stays
   * held until `herd repair` finishes the compensation (or an operator breaks it).
   */
  readonly needsAttention?: string;
  /** Name of the execution carrying the deploy now, when it is not the deploy's own (a reaper's resume, a repair). */
  readonly execution?: string;
  /** Who asked to stop the deploy (`herd abort`, written before its execution is stopped). */
  readonly abortedBy?: string;
}

function isConditionFailed(err: unknown): boolean {
  return err instanceof ConditionalCheckFailedException || (err instanceof Error && err.name === 'ConditionalCheckFailedException');
}

function isLockItem(value: unknown): value is LockItem {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  return (
    typeof v.deployId === 'string' &&
    typeof v.actor === 'string' &&
    typeof v.since === 'string' &&
    typeof v.release === 'string' &&
    (v.mode === undefined || v.mode === 'bake' || v.mode === 'restart') &&
    (v.needsAttention === undefined || typeof v.needsAttention === 'string') &&
    (v.execution === undefined || typeof v.execution === 'string') &&
    (v.abortedBy === undefined || typeof v.abortedBy === 'string')
  );
}

/** The message a refused deploy shows. */
export function lockedMessage(env: string, holder: LockItem): string {
  return (
    `environment ${env} is locked by deploy ${holder.deployId} (${holder.actor}, release ${holder.release}) since ${holder.since}; ` +
    `if that deploy is no longer running, break the lock with \`herd unlock ${env} --deploy ${holder.deployId}\``
  );
}

/** Reads the lock; undefined when the environment is free. */
export async function readLock(clients: Pick<DeployClients, 'dynamodb'>, tableName: string): Promise<LockItem | undefined> {
  const res = await clients.dynamodb.send(new GetCommand({ TableName: tableName, Key: LOCK_KEY, ConsistentRead: true }));
  return isLockItem(res.Item) ? res.Item : undefined;
}

/**
 * Takes the lock for `state`'s deploy. Idempotent: the deploy that holds it may take it again.
 * Throws `DeployLockedError` naming the holder when another deploy holds it.
 */
export async function acquireLock(clients: Pick<DeployClients, 'dynamodb'>, tableName: string, state: DeployState): Promise<void> {
  const item: LockItem = {
    deployId: state.deployId,
    actor: state.actor,
    release: state.release,
    since: new Date(state.startedAt).toISOString(),
    ...(state.mode ? { mode: state.mode } : {}),
  };
  try {
    await clients.dynamodb.send(
      new PutCommand({
        TableName: tableName,
        Item: { ...LOCK_KEY, ...item },
        ConditionExpression: 'attribute_not_exists(pk) OR deployId = :deployId',
        ExpressionAttributeValues: { ':deployId': state.deployId },
      }),
    );
  } catch (err) {
    if (!isConditionFailed(err)) throw err;
    const holder = await readLock(clients, tableName);
    // Released between the two calls: the caller repeats the step.
    if (!holder) throw Object.assign(new Error('lock released while reading it'), { name: 'ThrottlingException', $metadata: {} });
    throw new DeployLockedError(lockedMessage(state.env, holder));
  }
}

/** Sends a write conditioned on `deployId` holding the lock; false when it does not (nothing changed). */
async function whileHeld(clients: Pick<DeployClients, 'dynamodb'>, command: DeleteCommand | PutCommand): Promise<boolean> {
  try {
    await clients.dynamodb.send(command as PutCommand);
    return true;
  } catch (err) {
    if (isConditionFailed(err)) return false;
    throw err;
  }
}

const heldBy = (deployId: string) => ({ ConditionExpression: 'deployId = :deployId', ExpressionAttributeValues: { ':deployId': deployId } });

/** Deletes the lock if `deployId` holds it; false when it does not (nothing changed). */
async function deleteLockHeldBy(clients: Pick<DeployClients, 'dynamodb'>, tableName: string, deployId: string): Promise<boolean> {
  return whileHeld(clients, new DeleteCommand({ TableName: tableName, Key: LOCK_KEY, ...heldBy(deployId) }));
}

/**
 * Sets fields of the lock (what needs attention, the execution carrying the deploy) if
 * `deployId` still holds it; false when it does not (nothing changed).
 */
export async function updateLock(
  clients: Pick<DeployClients, 'dynamodb'>,
  tableName: string,
  deployId: string,
  fields: Pick<LockItem, 'needsAttention' | 'execution' | 'abortedBy'>,
): Promise<boolean> {
  const holder = await readLock(clients, tableName);
  if (holder?.deployId !== deployId) return false;
  // A field given as undefined is removed (the reason of a deploy being repaired).
  const item = Object.fromEntries(Object.entries({ ...LOCK_KEY, ...holder, ...fields }).filter(([, v]) => v !== undefined));
  return whileHeld(clients, new PutCommand({ TableName: tableName, Item: item, ...heldBy(deployId) }));
}

/** Releases the lock if `deployId` holds it; a no-op otherwise (idempotent). */
export async function releaseLock(clients: Pick<DeployClients, 'dynamodb'>, tableName: string, deployId: string): Promise<void> {
  await deleteLockHeldBy(clients, tableName, deployId);
}

/**
 * Breaks a stale lock (`herd unlock <env> --deploy <id>`): deletes it only if `deployId`
 * still holds it, so an operator never breaks a newer deploy's lock by mistake.
 */
export async function breakLock(
  clients: Pick<DeployClients, 'dynamodb'>,
  tableName: string,
  env: string,
  deployId: string,
): Promise<LockItem> {
  const holder = await readLock(clients, tableName);
  if (!holder) throw new LockNotHeldError(`environment ${env} is not locked`);
  if (holder.deployId !== deployId) {
    throw new LockNotHeldError(`environment ${env} is locked by deploy ${holder.deployId}, not ${deployId}; nothing was changed`);
  }
  if (!(await deleteLockHeldBy(clients, tableName, deployId))) {
    throw new LockNotHeldError(`environment ${env}'s lock changed while breaking it; nothing was changed`);
  }
  return holder;
}

export interface PhaseRecord {
  readonly phase: Phase;
  readonly startedAt: string;
  readonly endedAt: string;
  readonly seconds: number;
}

/** Status of a deploy in its history item: `running`, or its outcome (`DeployOutcome`). */
export type HistoryStatus = 'running' | DeployOutcome;

/** History item of one deploy. */
export interface HistoryItem {
  readonly pk: 'DEPLOY';
  readonly sk: string;
  readonly deployId: string;
  readonly release: string;
  readonly strategy: string;
  readonly migrationOrder: string;
  readonly actor: string;
  /** `bake` for an image-only run (`herd bake`), `restart` for `herd restart`; absent for a deploy. */
  readonly mode?: 'bake' | 'restart';
  /** `herd restart`: the roles restarted. */
  readonly roles?: readonly Role[];
  readonly status: HistoryStatus;
  readonly startedAt: string;
  readonly endedAt?: string;
  readonly imageId?: string;
  readonly reusedImage?: boolean;
  /** Layered bake: the base image the release's builder booted from, and whether it existed (false: this deploy baked it). Absent when no bake used a base. */
  readonly baseImageId?: string;
  readonly reusedBase?: boolean;
  readonly previousRelease?: string;
  readonly phases: readonly PhaseRecord[];
  readonly maintenanceWindowSeconds?: number;
  readonly error?: string;
  readonly failedPhase?: string;
  /** Why the release was judged unhealthy: instances, target-health reason, boot log tail (`diagnose.ts`). */
  readonly diagnosis?: DeployState['diagnosis'];
  /** Compensation steps that failed for good (the deploy then needs attention). */
  readonly compensationErrors?: readonly string[];
  /** What each role's group launches at the end, when a deploy needs attention (e.g. `web: release r1 (previous)`). */
  readonly serving?: Readonly<Record<string, string>>;
  /** Who stopped the deploy (`herd abort`). */
  readonly abortedBy?: string;
  /** The environment as the deploy found it: each group's capacity, version and suspended processes, and whose page was up. */
  readonly before?: DeployState['before'];
  readonly deregisteredImages?: readonly string[];
  /**
   * The database snapshot this deploy took before its migration (`snapshot-wait`: just before
   * it; `snapshot`: alongside the bake, absent if it failed): what to restore if its data goes wrong.
   */
  readonly backupSnapshot?: string;
  /** The point in time to restore to, just before the migration, and the window RDS gives (`restore-point.ts`). */
  readonly restorePoint?: ReturnType<typeof restorePointRecord>;
  /** How to restore the data as it was before the migration: the command, and from when until when it works. */
  readonly restore?: string;
  /** herd's older pre-migration snapshots this deploy deleted (`deploy.backupRetention`). */
  readonly deletedBackups?: readonly string[];
  readonly warnings?: readonly string[];
  /** Builders and runners left by an earlier deploy that this one's janitor terminated. */
  readonly leftoversTerminated?: number;
}

export function historyKey(state: DeployState): { pk: 'DEPLOY'; sk: string } {
  return { pk: 'DEPLOY', sk: `${new Date(state.startedAt).toISOString()}#${state.deployId}` };
}

/** Builds the history item of `state` as of `now`. */
export function historyItem(state: DeployState, now: number, status: HistoryItem['status']): HistoryItem {
  const iso = (ms: number) => new Date(ms).toISOString();
  const phases = state.timings.map((t) => {
    const end = t.endedAt ?? now;
    return { phase: t.phase, startedAt: iso(t.startedAt), endedAt: iso(end), seconds: Math.round((end - t.startedAt) / 1000) };
  });
  const m = state.maintenance;
  return {
    ...historyKey(state),
    deployId: state.deployId,
    release: state.release,
    strategy: state.strategy,
    migrationOrder: state.migrationOrder,
    actor: state.actor,
    ...(state.mode ? { mode: state.mode } : {}),
    ...(state.roles ? { roles: state.roles } : {}),
    status,
    startedAt: iso(state.startedAt),
    ...(status !== 'running' ? { endedAt: iso(now) } : {}),
    ...(state.image ? { imageId: state.image.imageId, reusedImage: state.image.reused } : {}),
    ...(state.base?.imageId ? { baseImageId: state.base.imageId, reusedBase: state.base.reused === true } : {}),
    ...(state.previous ? { previousRelease: state.previous.release } : {}),
    phases,
    ...(m?.onAt !== undefined && !m.wasOnBefore ? { maintenanceWindowSeconds: Math.round(((m.offAt ?? now) - m.onAt) / 1000) } : {}),
    ...(state.failure ? { error: state.failure.cause, failedPhase: state.failure.phase } : {}),
    ...(state.diagnosis ? { diagnosis: state.diagnosis } : {}),
    ...(state.compensation && state.compensation.errors.length > 0 ? { compensationErrors: state.compensation.errors } : {}),
    ...(state.retention && state.retention.deregistered.length > 0 ? { deregisteredImages: state.retention.deregistered } : {}),
    ...(state.migration?.snapshotId ? { backupSnapshot: state.migration.snapshotId } : {}),
    ...(!state.migration?.snapshotId && state.backup?.snapshotId && state.backup.snapshotStatus !== 'failed' ? { backupSnapshot: state.backup.snapshotId } : {}),
    ...(state.backup?.restorePoint ? { restorePoint: restorePointRecord(state.backup.restorePoint) } : {}),
    ...(restoreInstructions(state) ? { restore: restoreInstructions(state) } : {}),
    ...(state.backups && state.backups.deleted.length > 0 ? { deletedBackups: state.backups.deleted } : {}),
    ...(state.warnings.length > 0 ? { warnings: state.warnings } : {}),
    ...(state.leftoversTerminated !== undefined ? { leftoversTerminated: state.leftoversTerminated } : {}),
    ...(state.abortedBy ? { abortedBy: state.abortedBy } : {}),
    ...(state.before ? { before: state.before } : {}),
  };
}

/** Writes (overwrites) the history item: idempotent. */
export async function writeHistory(clients: Pick<DeployClients, 'dynamodb'>, tableName: string, item: HistoryItem): Promise<void> {
  await clients.dynamodb.send(new PutCommand({ TableName: tableName, Item: { ...item } }));
}
