/**
 * Launch template swap (a numbered version per role with the literal AMI id, plus the
 * current-image/current-release parameters) and the migration run (`release:` once, on a
 * short-lived runner launched from the new web launch-template version).
 */
import { DescribeAutoScalingGroupsCommand, UpdateAutoScalingGroupCommand } from '@aws-sdk/client-auto-scaling';
import { CreateLaunchTemplateVersionCommand, DescribeLaunchTemplateVersionsCommand, RunInstancesCommand } from '@aws-sdk/client-ec2';
import { CreateDBSnapshotCommand, DescribeDBInstancesCommand, DescribeDBSnapshotsCommand } from '@aws-sdk/client-rds';
import { GetParameterCommand, PutParameterCommand } from '@aws-sdk/client-ssm';
import type { Role } from '../../lib/config/types';
import { NO_RELEASE, parameterNames } from '../../lib/names';
import { PARAMETER_WAIT_MINUTES } from './budget';
import { DeployFailure, NotVisibleYetError } from './errors';
import { keepRoles } from './role-keeper';
import type { DeployState } from './state';
import {
  STAGE_DONE,
  base64,
  waitFor,
  deployTags,
  findDeployInstances,
  fleetOf,
  instanceState,
  instanceType,
  isVersionNotFound,
  launchInSubnets,
  notYetVisible,
  readReport,
  reportMissing,
  retireDeployInstances,
  rolesOf,
  tail,
  type AdvanceContext,
  type Step,
} from './step';

/** A parameter's value; undefined when it does not exist. */
export async function readParameter(ctx: AdvanceContext, name: string): Promise<string | undefined> {
  try {
    const res = await ctx.clients.ssm.send(new GetParameterCommand({ Name: name }));
    return res.Parameter?.Value;
  } catch (err) {
    if (err instanceof Error && err.name === 'ParameterNotFound') return undefined;
    throw err;
  }
}

/**
 * Writes current-image and current-release. SSM validates the `aws:ec2:image` value
 * asynchronously: callers wait with `releaseParametersVisible` before relying on it.
 */
export async function writeCurrent(ctx: AdvanceContext, state: DeployState, imageId: string, release: string): Promise<void> {
  const names = parameterNames(state.app, state.env);
  if (imageId) {
    await ctx.clients.ssm.send(
      new PutParameterCommand({ Name: names.currentImage, Value: imageId, Type: 'String', DataType: 'aws:ec2:image', Overwrite: true }),
    );
  }
  await ctx.clients.ssm.send(new PutParameterCommand({ Name: names.currentRelease, Value: release, Type: 'String', Overwrite: true }));
}

/** Launch-template versions the groups use now, by role; fails unless each is a number. */
export async function groupVersions(ctx: AdvanceContext): Promise<Partial<Record<Role, string>>> {
  const roles = rolesOf(ctx.env);
  const names = roles.map((r) => fleetOf(ctx.env, r).autoScalingGroupName);
  const res = await ctx.clients.autoScaling.send(new DescribeAutoScalingGroupsCommand({ AutoScalingGroupNames: names }));
  const versions: Partial<Record<Role, string>> = {};
  for (const role of roles) {
    const fleet = fleetOf(ctx.env, role);
    const group = res.AutoScalingGroups?.find((g) => g.AutoScalingGroupName === fleet.autoScalingGroupName);
    if (!group) throw new DeployFailure(`Auto Scaling group ${fleet.autoScalingGroupName} (${role}) not found`);
    const lt = group.LaunchTemplate;
    if (!lt || lt.LaunchTemplateId !== fleet.launchTemplateId) {
      throw new DeployFailure(`Auto Scaling group ${fleet.autoScalingGroupName} does not use launch template ${fleet.launchTemplateId}`);
    }
    if (!lt.Version || !/^\d+$/.test(lt.Version)) {
      throw new DeployFailure(
        `Auto Scaling group ${fleet.autoScalingGroupName} uses launch template version ${lt.Version ?? '(none)'}; herd needs a numbered version (instance-refresh rollback does not support $Latest or $Default)`,
      );
    }
    versions[role] = lt.Version;
  }
  return versions;
}

export { PARAMETER_WAIT_MINUTES } from './budget';

/**
 * True once current-image and current-release read back as `imageId` and `release`
 * (SSM validates an `aws:ec2:image` write asynchronously and drops it if the image is
 * unusable, leaving the old value).
 */
export async function releaseParametersVisible(ctx: AdvanceContext, state: DeployState, imageId: string, release: string): Promise<boolean> {
  const names = parameterNames(state.app, state.env);
  if (imageId && (await readParameter(ctx, names.currentImage)) !== imageId) return false;
  return (await readParameter(ctx, names.currentRelease)) === release;
}

/** What a launch-template version launches, and its description. */
async function describeVersion(ctx: AdvanceContext, launchTemplateId: string, version: string): Promise<{ imageId?: string; description?: string }> {
  try {
    const res = await ctx.clients.ec2.send(new DescribeLaunchTemplateVersionsCommand({ LaunchTemplateId: launchTemplateId, Versions: [version] }));
    const v = res.LaunchTemplateVersions?.[0];
    return { ...(v?.LaunchTemplateData?.ImageId ? { imageId: v.LaunchTemplateData.ImageId } : {}), ...(v?.VersionDescription ? { description: v.VersionDescription } : {}) };
  } catch (err) {
    // A group names this version, so it exists: EC2 has not shown a version created seconds ago yet.
    if (err instanceof Error && err.name === 'InvalidLaunchTemplateId.VersionNotFound') {
      throw new NotVisibleYetError(`launch-template version ${version} of ${launchTemplateId}, which a group uses, is not visible to EC2 yet`);
    }
    throw err;
  }
}

const repairDescription = (version: string, launched: string | undefined, imageId: string, deployId: string) =>
  `herd: version ${version} (which launches ${launched ?? 'no image'}) with the serving image ${imageId} (deploy ${deployId})`.slice(0, 255);
const REPAIRED = /^herd: version (\d+) \(which launches (\S+)\) with the serving image \S+ \(deploy (\S+)\)$/;

/**
 * Records what serves before this deploy: release, image, and each group's version. A
 * group whose version does not launch the serving image (a CloudFormation rollback put
 * back a version it created before an earlier herd deploy, or someone changed the group)
 * is first pointed at a version of the same settings with the serving image: otherwise an
 * instance-refresh rollback, or compensation, would return it to an older release.
 *
 * The step may run again (Auto Scaling may not see a version created a second ago yet, and a
 * throw drops the step's draft): the client token makes the same version, and the warning is
 * derived from the repaired version's description, so a retry neither repairs twice nor loses it.
 */
const readCurrent: Step = async (state, ctx) => {
  if (!state.previous) {
    const names = parameterNames(state.app, state.env);
    const versions = await groupVersions(ctx);
    const imageId = (await readParameter(ctx, names.currentImage)) ?? '';
    const warnings: string[] = [];
    if (/^ami-/.test(imageId)) {
      for (const role of rolesOf(ctx.env)) {
        const fleet = fleetOf(ctx.env, role);
        const version = versions[role];
        if (!version) continue;
        const launches = await describeVersion(ctx, fleet.launchTemplateId, version);
        if (launches.imageId === imageId) {
          // Repaired by an earlier try of this step (the throw that followed dropped its warning).
          const before = launches.description?.match(REPAIRED);
          if (before && before[3] === state.deployId) warnings.push(repairWarning(fleet.autoScalingGroupName, before[1]!, before[2]!, imageId, version));
          continue;
        }
        const res = await ctx.clients.ec2.send(
          new CreateLaunchTemplateVersionCommand({
            LaunchTemplateId: fleet.launchTemplateId,
            SourceVersion: version,
            VersionDescription: repairDescription(version, launches.imageId, imageId, state.deployId),
            ClientToken: `${state.deployId}-${role}-serving`,
            LaunchTemplateData: { ImageId: imageId },
          }),
        );
        const repaired = res.LaunchTemplateVersion?.VersionNumber;
        if (repaired === undefined) throw new DeployFailure(`CreateLaunchTemplateVersion returned no version for ${fleet.launchTemplateId}`);
        try {
          await ctx.clients.autoScaling.send(
            new UpdateAutoScalingGroupCommand({
              AutoScalingGroupName: fleet.autoScalingGroupName,
              LaunchTemplate: { LaunchTemplateId: fleet.launchTemplateId, Version: String(repaired) },
            }),
          );
        } catch (err) {
          if (isVersionNotFound(err)) throw new NotVisibleYetError(`launch-template version ${repaired}, created a moment ago, is not visible to Auto Scaling yet`);
          throw err;
        }
        versions[role] = String(repaired);
        warnings.push(repairWarning(fleet.autoScalingGroupName, version, launches.imageId, imageId, String(repaired)));
      }
    }
    state.warnings.push(...warnings);
    state.previous = { imageId, release: (await readParameter(ctx, names.currentRelease)) ?? NO_RELEASE, versions };
  }
  return { goto: 'launchTemplate.create' };
};

function repairWarning(group: string, version: string, launched: string | undefined, imageId: string, repaired: string): string {
  return (
    `${group} was on launch-template version ${version}, which launches ${launched ?? 'no image'}, not the serving image ${imageId}; ` +
    `it now uses version ${repaired} (the same settings with the serving image)`
  );
}

const createVersions: Step = async (state, ctx) => {
  if (state.mode === 'restart') {
    // The serving versions and image, as recorded: nothing new is created or written.
    if (!state.previous || !/^ami-/.test(state.previous.imageId)) throw new DeployFailure(`no serving image recorded on ${state.env}: nothing to restart`);
    state.image = { imageId: state.previous.imageId, reused: true };
    state.next = { versions: { ...state.previous.versions } };
    return STAGE_DONE;
  }
  const imageId = state.image?.imageId;
  if (!imageId || !state.previous) throw new DeployFailure('no image or previous versions recorded before the launch-template swap');
  const next: Partial<Record<Role, string>> = { ...(state.next?.versions ?? {}) };
  for (const role of rolesOf(ctx.env)) {
    if (next[role]) continue;
    const fleet = fleetOf(ctx.env, role);
    const res = await ctx.clients.ec2.send(
      new CreateLaunchTemplateVersionCommand({
        LaunchTemplateId: fleet.launchTemplateId,
        SourceVersion: state.previous.versions[role],
        VersionDescription: `herd release ${state.release} (deploy ${state.deployId})`.slice(0, 255),
        ClientToken: `${state.deployId}-${role}`,
        LaunchTemplateData: { ImageId: imageId },
      }),
    );
    const version = res.LaunchTemplateVersion?.VersionNumber;
    if (version === undefined) throw new DeployFailure(`CreateLaunchTemplateVersion returned no version for ${fleet.launchTemplateId}`);
    next[role] = String(version);
  }
  state.next = { versions: next, createdAt: state.next?.createdAt ?? ctx.clock.now() };
  state.parametersWritten = true;
  await writeCurrent(ctx, state, imageId, state.release);
  return { goto: 'launchTemplate.waitParameters' };
};

const waitParameters: Step = async (state, ctx) => {
  const imageId = state.image?.imageId ?? '';
  if (await releaseParametersVisible(ctx, state, imageId, state.release)) return STAGE_DONE;
  return waitFor(state, ctx, PARAMETER_WAIT_MINUTES, `current-image to read ${imageId} (SSM validates aws:ec2:image parameters asynchronously)`, 5);
};

/** True unless the image says its Procfile has no `release:` (unknown: the runner decides). */
function hasReleaseProcess(state: DeployState): boolean {
  const processes = state.image?.processes;
  return processes === undefined || processes.includes('release');
}

/** RDS creates a snapshot only from an instance in one of these states (CreateDBSnapshot). */
const SNAPSHOT_READY = new Set(['available', 'storage-optimization']);

/**
 * The identifier of this deploy's pre-migration snapshot: `herd-<app>-<env>-<deploy>`
 * (`backupSnapshotPrefix`; the deploy step's role may create snapshots of no other name).
 */
export function snapshotIdentifier(state: DeployState): string {
  return `herd-${state.app}-${state.env}-${state.deployId}`.toLowerCase().replace(/[^a-z0-9-]/g, '-').replace(/-+/g, '-').replace(/-$/, '');
}

/**
 * The migration's first step: what backs the database up before it (`deploy.backup`):
 * `snapshot-wait` waits for the database and its snapshot, `pitr` and `snapshot` record a
 * restore point (`restore-point.ts`) and wait for nothing, `none` (or no database) runs it.
 */
const startMigration: Step = async (state, ctx) => {
  if (!hasReleaseProcess(state) || state.migration?.done) return STAGE_DONE;
  const backup = ctx.env.database ? ctx.env.deploy.backup : 'none';
  if (backup === 'snapshot-wait') return { goto: 'migrate.waitDatabase' };
  return { goto: backup === 'none' ? 'migrate.launchRunner' : 'migrate.restorePoint' };
};

/**
 * `deploy.backup` `snapshot-wait`: before a snapshot, RDS refuses one unless the instance is
 * `available` (a backup window, a modification or the first backup after creation make it
 * `backing-up`, `modifying`, …): wait for it, bounded by the migration timeout.
 */
const waitDatabase: Step = async (state, ctx) => {
  if (!hasReleaseProcess(state) || state.migration?.done) return STAGE_DONE;
  const db = ctx.env.database;
  if (ctx.env.deploy.backup === 'none' || !db) return { goto: 'migrate.launchRunner' };
  // Point-in-time recovery: nothing to wait for (`restore-point.ts`).
  if (ctx.env.deploy.backup !== 'snapshot-wait') return { goto: 'migrate.restorePoint' };
  const res = await ctx.clients.rds.send(new DescribeDBInstancesCommand({ DBInstanceIdentifier: db.instanceIdentifier }));
  const status = res.DBInstances?.[0]?.DBInstanceStatus ?? 'missing';
  if (SNAPSHOT_READY.has(status)) return { goto: 'migrate.snapshot' };
  if (status === 'missing' || status === 'deleting' || status === 'failed' || status === 'stopped') {
    throw new DeployFailure(`database ${db.instanceIdentifier} is ${status}: no snapshot can be taken before the migration`);
  }
  return waitFor(state, ctx, ctx.env.deploy.timeouts.migrateMinutes, `database ${db.instanceIdentifier} to be available for a snapshot (it is ${status})`, 30);
};

const snapshot: Step = async (state, ctx) => {
  const db = ctx.env.database;
  if (!db) return { goto: 'migrate.launchRunner' };
  const id = snapshotIdentifier(state);
  try {
    await ctx.clients.rds.send(
      new CreateDBSnapshotCommand({
        DBInstanceIdentifier: db.instanceIdentifier,
        DBSnapshotIdentifier: id,
        Tags: deployTags(state, 'backup').filter((t) => t.Key !== 'Name'),
      }),
    );
  } catch (err) {
    const name = err instanceof Error ? err.name : '';
    // The instance left `available` between the two calls: wait again.
    if (name === 'InvalidDBInstanceStateFault' || name === 'InvalidDBInstanceState') return { goto: 'migrate.waitDatabase' };
    if (name === 'SnapshotQuotaExceededFault' || name === 'SnapshotQuotaExceeded') {
      throw new DeployFailure(
        `the account's manual DB snapshot quota is full, so no snapshot can be taken before the migration: delete old manual snapshots, lower deploy.backupRetention, or raise the quota (Service Quotas, RDS "Manual DB instance snapshots")`,
      );
    }
    if (name !== 'DBSnapshotAlreadyExistsFault') throw err;
  }
  state.migration = { ...state.migration, snapshotId: id };
  return { goto: 'migrate.waitSnapshot' };
};

const waitSnapshot: Step = async (state, ctx) => {
  const id = state.migration?.snapshotId;
  if (!id) return { goto: 'migrate.snapshot' };
  const res = await ctx.clients.rds.send(new DescribeDBSnapshotsCommand({ DBSnapshotIdentifier: id }));
  const status = res.DBSnapshots?.[0]?.Status ?? 'missing';
  if (status === 'available') return { goto: 'migrate.launchRunner' };
  if (status !== 'creating') throw new DeployFailure(`database snapshot ${id} is ${status}`);
  return waitFor(state, ctx, ctx.env.deploy.timeouts.migrateMinutes, `database snapshot ${id}`, 30);
};

/** The runner's user data: herd-boot (installed in the image by bake.sh) in the `release` role; the region comes from the metadata service. */
export function runnerUserData(app: string, env: string, logRetentionDays?: number): string {
  const retention = logRetentionDays !== undefined ? ` --log-retention-days ${logRetentionDays}` : '';
  return ['#!/bin/bash', 'set -euo pipefail', `exec /opt/herd/bin/herd-boot --app ${app} --env ${env} --role release${retention}`, ''].join('\n');
}

/** What a `herd run` instance runs: the command, the role whose environment it gets, its time limit. */
export interface RunCommandSpec {
  readonly command: string;
  readonly runAs: 'web' | 'worker';
  readonly timeoutSeconds: number;
  readonly logRetentionDays?: number;
}

/** Minutes a run instance may live beyond its command's timeout (boot, report, flush) before its watchdog powers it off. */
export const RUN_WATCHDOG_GRACE_MINUTES = 15;

/**
 * A `herd run` instance's user data: the migration runner's boot (`runnerUserData`) in the
 * `run` role, the command base64-encoded (no quoting to get wrong). User data is readable by
 * anyone allowed `ec2:DescribeInstanceAttribute`: a command line is not a secret, and the
 * environment it runs with (secrets included) is rendered on the instance, never put here.
 * A watchdog first, as the builder's: whatever happens to the boot (an image whose herd-boot
 * predates the run role, a hang before the command starts) or to the CLI, the instance powers
 * off (and, launched with shutdown behaviour terminate, goes) after the timeout and a grace.
 */
export function runCommandUserData(app: string, env: string, spec: RunCommandSpec): string {
  const retention = spec.logRetentionDays !== undefined ? ` --log-retention-days ${spec.logRetentionDays}` : '';
  const command = Buffer.from(spec.command, 'utf8').toString('base64');
  const watchdogMinutes = Math.ceil(spec.timeoutSeconds / 60) + RUN_WATCHDOG_GRACE_MINUTES;
  return [
    '#!/bin/bash',
    'set -euo pipefail',
    `shutdown -h +${watchdogMinutes} 'herd run watchdog'`,
    `exec /opt/herd/bin/herd-boot --app ${app} --env ${env} --role run --run-as ${spec.runAs} --timeout-seconds ${spec.timeoutSeconds} --command-base64 ${command}${retention}`,
    '',
  ].join('\n');
}

/** A launch from this deploy's new launch-template version, which EC2 may not show yet: "not visible yet", retried. */
async function launchingNewVersion<T>(state: DeployState, ctx: AdvanceContext, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    if (notYetVisible(err, state.next?.createdAt, ctx)) throw new NotVisibleYetError(`launch-template version ${state.next?.versions.web} is not visible to EC2 yet`);
    throw err;
  }
}

const launchRunner: Step = async (state, ctx) => {
  const [existing] = await findDeployInstances(state, ctx, 'release');
  if (existing) {
    state.migration = { ...state.migration, runnerId: existing };
    return { goto: 'migrate.waitRunner' };
  }
  const version = state.next?.versions.web;
  if (!version) throw new DeployFailure('no web launch-template version to launch the migration runner from');
  const launchedAt = ctx.clock.now();
  const id = await launchInSubnets(state, ctx, 'migration runner', (subnetId, attempt) => launchingNewVersion(state, ctx, () => ctx.clients.ec2.send(
    new RunInstancesCommand({
      LaunchTemplate: { LaunchTemplateId: ctx.env.fleets.web.launchTemplateId, Version: version },
      // The runner's own profile, not the web one: only it may write the runner's report.
      IamInstanceProfile: { Arn: ctx.env.instances.runnerInstanceProfileArn },
      InstanceType: instanceType(ctx.env.deploy.builderInstanceType),
      MinCount: 1,
      MaxCount: 1,
      ClientToken: attempt === 0 ? `${state.deployId}-runner` : `${state.deployId}-runner-${attempt}`,
      SubnetId: subnetId,
      InstanceInitiatedShutdownBehavior: 'terminate',
      UserData: base64(runnerUserData(state.app, state.env, ctx.env.logRetentionDays)),
      TagSpecifications: [
        { ResourceType: 'instance', Tags: deployTags(state, 'release') },
        { ResourceType: 'volume', Tags: deployTags(state, 'release') },
      ],
    }),
  )));
  state.migration = { ...state.migration, runnerId: id, runnerLaunchedAt: launchedAt };
  return { goto: 'migrate.waitRunner' };
};

const waitRunner: Step = async (state, ctx) => {
  const id = state.migration?.runnerId;
  if (!id) return { goto: 'migrate.launchRunner' };
  const name = `${parameterNames(state.app, state.env).releaseRunsPrefix}${id}`;
  let report = await readReport(ctx, name);
  const s = report ? 'reported' : await instanceState(ctx, id, state.migration?.runnerLaunchedAt);
  // The runner may have reported and powered off between the two reads: read the report again.
  if (!report && s !== 'pending' && s !== 'running') report = await readReport(ctx, name);
  if (report) {
    if (report.exitCode !== 0) {
      throw new DeployFailure(`migration failed on runner ${id} (exit ${report.exitCode}): ${tail(report.logTail)}`);
    }
    state.migration = { ...state.migration, exitCode: 0 };
    return { goto: 'migrate.terminateRunner' };
  }
  if (s !== 'pending' && s !== 'running') return reportMissing(state, ctx, `migration runner ${id} is ${s} and never reported`);
  return waitFor(state, ctx, ctx.env.deploy.timeouts.migrateMinutes, `migration runner ${id}`, 10);
};

const terminateRunner: Step = async (state, ctx) => {
  const runnerId = state.migration?.runnerId;
  await retireDeployInstances(
    state,
    ctx,
    'release',
    runnerId ? [`${parameterNames(state.app, state.env).releaseRunsPrefix}${runnerId}`] : [],
    runnerId ? [{ id: runnerId, launchedAt: state.migration?.runnerLaunchedAt }] : [],
  );
  state.migration = { ...state.migration, done: true };
  // Then the role keeper, when the environment has one (`role-keeper.ts`).
  return ctx.env.database?.roleKeeperFunctionArn ? { goto: 'migrate.keepRoles' } : STAGE_DONE;
};

export const RELEASE_STEPS: Record<string, Step> = {
  'launchTemplate.read': readCurrent,
  'launchTemplate.create': createVersions,
  'launchTemplate.waitParameters': waitParameters,
  'migrate.start': startMigration,
  'migrate.waitDatabase': waitDatabase,
  'migrate.snapshot': snapshot,
  'migrate.waitSnapshot': waitSnapshot,
  'migrate.launchRunner': launchRunner,
  'migrate.waitRunner': waitRunner,
  'migrate.terminateRunner': terminateRunner,
  'migrate.keepRoles': keepRoles,
};
