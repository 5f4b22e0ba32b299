/**
 * The backup before a migration off the critical path (`deploy.backup`): the manual snapshot
 * started alongside the bake never holds the deploy (an instance RDS cannot snapshot yet, a
 * full quota), the restore point, and the fake RDS's point-in-time model those rely on.
 */
import { DescribeDBInstancesCommand, RestoreDBInstanceToPointInTimeCommand } from '@aws-sdk/client-rds';
import { preflight } from '../../lambda/deploy/preflight';
import { restoreInstructions } from '../../lambda/deploy/restore-point';
import { deployEventOf, deployMessage } from '../../lambda/deploy/notify';
import { runSimulatedDeploy } from '../../lib/simulation/run';
import { LOG_UPLOAD_SECONDS } from '../../lib/simulation/services/rds';
import { createWorld, type WorldSpec } from '../../lib/simulation/world';
import { TAGS } from '../../lib/names';

const base: WorldSpec = { web: 2, worker: 1, serving: 'r1', database: true, deploy: { backup: 'snapshot' } };

async function deploy(spec: WorldSpec) {
  const world = createWorld(spec);
  const run = await runSimulatedDeploy(world, { release: 'r2', actor: 'alice', deployId: 'deploy-backup' });
  const steps = new Set(run.states.map((s) => s.step));
  const snapshots = [...world.cloud.dbSnapshots.values()].filter((s) => s.tags[TAGS.deploy] === 'deploy-backup');
  return { world, run, state: run.result.state, steps, snapshots };
}

describe('deploy.backup snapshot: the snapshot alongside the bake never holds the deploy', () => {
  test('the database backing up when the deploy starts: the snapshot starts before the migration instead, and nothing waits for it', async () => {
    // Backing up for 3 minutes: past the deploy's start, over before the bake (on the base image) ends.
    const { state, steps, snapshots, run } = await deploy({ ...base, databaseBusy: { status: 'backing-up', seconds: 180 } });
    expect(state?.outcome).toBe('succeeded');
    expect([...steps].filter((s) => ['migrate.waitDatabase', 'migrate.waitSnapshot'].includes(s))).toEqual([]);
    expect(snapshots).toHaveLength(1);
    expect(snapshots[0]?.createdAt).toBeGreaterThanOrEqual(run.imageAvailableAt ?? Infinity);
    expect(state?.backup).toMatchObject({ snapshotId: snapshots[0]?.id, snapshotStatus: 'available' });
    expect(state?.backup?.restorePoint).toBeDefined();
  });

  test('the database busy for the whole deploy: no snapshot, a warning, and the restore point alone', async () => {
    const { state, snapshots } = await deploy({ ...base, databaseBusy: { status: 'backing-up', seconds: 3600 } });
    expect(state?.outcome).toBe('succeeded');
    expect(snapshots).toEqual([]);
    expect(state?.warnings).toEqual(expect.arrayContaining([expect.stringMatching(/^no manual snapshot before the migration: RDS could not snapshot the database .*backing-up.*the restore point covers the migration$/)]));
    expect(restoreInstructions(state!)).toMatch(/^restore to \S+ \(just before the migration\)/);
    expect(restoreInstructions(state!)).not.toMatch(/snapshot/);
  });

  test('the manual-snapshot quota full: a warning, the deploy goes on', async () => {
    const { state, snapshots } = await deploy({ ...base, snapshotQuota: 2, backups: [20, 10] });
    expect(state?.outcome).toBe('succeeded');
    expect(snapshots).toEqual([]);
    expect(state?.warnings).toEqual(expect.arrayContaining([expect.stringMatching(/^no manual snapshot herd-shop-staging-deploy-backup of herd-staging-db \(the restore point covers the migration\): .*manual snapshots/)]));
    expect(state?.backup?.restorePoint).toBeDefined();
  });

  test('a deploy without migration takes neither a snapshot nor a restore point', async () => {
    const world = createWorld({ ...base, deploy: { backup: 'snapshot', migrationOrder: 'none' } });
    const run = await runSimulatedDeploy(world, { release: 'r2', actor: 'alice', deployId: 'deploy-backup' });
    expect(run.result.state?.outcome).toBe('succeeded');
    expect(world.cloud.dbSnapshots.size).toBe(0);
    expect(run.result.state?.backup).toBeUndefined();
  });
});

describe('the failure notification names the restore point only once the migration ran', () => {
  test('failed in the migration: the message has a restore line; failed before it: none', async () => {
    const failed = await deploy({ ...base, releases: { r2: { migrationExitCode: 1 } } });
    const event = deployEventOf(failed.state!, 'rolled-back', failed.world.clock.now());
    expect(event.restore).toMatch(/^restore to .* or restore from snapshot herd-shop-staging-deploy-backup /);
    expect(deployMessage(event)).toMatch(/\nrestore {3}restore to /);
    const early = await deploy({ ...base, releases: { r2: { bakeExitCode: 1 } } });
    expect(early.state?.outcome).toBe('failed');
    expect(deployEventOf(early.state!, 'failed', early.world.clock.now()).restore).toBeUndefined();
  });
});

describe('pre-flight: automated backups', () => {
  test('checked by the deploy step (which passes its plan), not by the CLI (whose operators may not read the database)', async () => {
    const world = createWorld({ ...base, databaseBackupRetentionDays: 0 });
    const ctx = { clients: world.cloud.clients(), env: world.env, clock: world.clock };
    const fromStep = await preflight(ctx, { app: 'shop', release: 'r2', plan: ['lock', 'bake', 'launchTemplate', 'migrate', 'refresh', 'verify', 'record'] });
    expect(fromStep.problems.map((p) => p.check)).toEqual(['backups']);
    const withoutMigration = await preflight(ctx, { app: 'shop', release: 'r2', plan: ['lock', 'bake', 'launchTemplate', 'refresh', 'verify', 'record'] });
    expect(withoutMigration.problems).toEqual([]);
    const calls = world.cloud.calls.length;
    expect((await preflight(ctx, { app: 'shop', release: 'r2' })).problems).toEqual([]);
    expect(world.cloud.calls.slice(calls).map((c) => c.api)).not.toContain('rds:DescribeDBInstances');
  });
});

describe('fake RDS: point-in-time recovery as strict as RDS', () => {
  const describe1 = async (world: ReturnType<typeof createWorld>) =>
    (await world.cloud.clients().rds.send(new DescribeDBInstancesCommand({ DBInstanceIdentifier: world.env.database?.instanceIdentifier }))).DBInstances?.[0];
  const restore = (world: ReturnType<typeof createWorld>, at: Date | 'latest', target = 'restored') =>
    world.cloud.clients().rds.send(new RestoreDBInstanceToPointInTimeCommand({
      SourceDBInstanceIdentifier: world.env.database?.instanceIdentifier,
      TargetDBInstanceIdentifier: target,
      ...(at === 'latest' ? { UseLatestRestorableTime: true } : { RestoreTime: at }),
    }));

  test('automated backups off: BackupRetentionPeriod 0, no LatestRestorableTime, no point-in-time restore', async () => {
    const world = createWorld({ ...base, databaseBackupRetentionDays: 0 });
    const db = await describe1(world);
    expect(db?.BackupRetentionPeriod).toBe(0);
    expect(db?.LatestRestorableTime).toBeUndefined();
    await expect(restore(world, 'latest')).rejects.toMatchObject({ name: 'InvalidDBInstanceStateFault' });
  });

  test('LatestRestorableTime trails the present by up to 5 minutes; a time after it, or before the retention, is refused', async () => {
    const world = createWorld(base);
    const db = await describe1(world);
    expect(db?.BackupRetentionPeriod).toBe(7);
    const now = world.cloud.now();
    const latest = db?.LatestRestorableTime?.getTime() ?? 0;
    expect(latest).toBeLessThanOrEqual(now);
    expect(now - latest).toBeLessThan(LOG_UPLOAD_SECONDS * 1000);
    await expect(restore(world, new Date(now))).rejects.toMatchObject({ name: 'InvalidRestoreFault' });
    await expect(restore(world, new Date(now - 2 * 86_400_000))).rejects.toMatchObject({ name: 'InvalidRestoreFault' });
    await expect(restore(world, new Date(latest))).resolves.toBeDefined();
    // Once the next upload passed it, the present of then is restorable.
    world.cloud.advance(LOG_UPLOAD_SECONDS);
    await expect(restore(world, new Date(now), 'restored-later')).resolves.toBeDefined();
  });
});
