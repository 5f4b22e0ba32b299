/**
 * Rollout: `rolling` by instance refresh (web and worker at once, or one after the other), `full` by scaling out a new
 * fleet behind the maintenance page and terminating the old one; then verify.
 *
 * Capacity floors: the stack creates each group with MinSize 0 and no desired capacity
 * (nothing can run before a release exists). A rolling deploy that finds a group with
 * nothing to refresh (desired 0, configured minimum above 0: the first release, or a group
 * scaled to zero) points it at the new launch-template version and sets MinSize, MaxSize
 * and DesiredCapacity to the configured floor, then waits for that many new instances in
 * service and healthy. After a refresh, a group whose MinSize/MaxSize differ from the
 * configuration (or whose desired count is below the minimum) is moved to it the same way.
 * Every successful rollout thus leaves MinSize at the configured minimum; compensation puts
 * a group's previous capacity and version back (`state.floors`).
 */
import {
  DescribeAutoScalingGroupsCommand,
  DescribeInstanceRefreshesCommand,
  ResumeProcessesCommand,
  StartInstanceRefreshCommand,
  SuspendProcessesCommand,
  TerminateInstanceInAutoScalingGroupCommand,
  UpdateAutoScalingGroupCommand,
  type AutoScalingGroup,
  type InstanceRefresh,
} from '@aws-sdk/client-auto-scaling';
import { DescribeInstancesCommand } from '@aws-sdk/client-ec2';
import { DescribeTargetHealthCommand } from '@aws-sdk/client-elastic-load-balancing-v2';
import type { Role } from '../../lib/config/types';
import { DeployFailure, NotVisibleYetError } from './errors';
import { liftOwnPage, maintenanceOn } from './maintenance';
import type { FleetEnvironment } from './environment';
import type { DeployState, GroupCapacity, GroupSnapshot } from './state';
import { failIfAlarming, watchAlarms } from './alarm-watch';
import { DIAGNOSED_STEP, DIAGNOSE_POLL_SECONDS, watchNewInstances } from './diagnose';
import { VERIFY_MINUTES } from './budget';
import { stagedServing } from './switch';
import { STAGE_DONE, VISIBILITY_GRACE_SECONDS, fleetOf, isVersionNotFound, rolesOf, waitFor, type AdvanceContext, type Step, type StepResult } from './step';

/** Processes suspended while a `full` deploy owns the group's capacity. */
export const FULL_SUSPENDED_PROCESSES = ['AZRebalance', 'AlarmNotification', 'ScheduledActions'];

const ACTIVE_REFRESH = new Set(['Pending', 'InProgress', 'Baking', 'Cancelling', 'RollbackInProgress']);

export async function describeGroups(ctx: AdvanceContext, roles: readonly Role[]): Promise<Map<Role, AutoScalingGroup>> {
  const names = roles.map((r) => fleetOf(ctx.env, r).autoScalingGroupName);
  const res = await ctx.clients.autoScaling.send(new DescribeAutoScalingGroupsCommand({ AutoScalingGroupNames: names }));
  const map = new Map<Role, AutoScalingGroup>();
  for (const role of roles) {
    const group = res.AutoScalingGroups?.find((g) => g.AutoScalingGroupName === fleetOf(ctx.env, role).autoScalingGroupName);
    if (!group) throw new DeployFailure(`Auto Scaling group ${fleetOf(ctx.env, role).autoScalingGroupName} (${role}) not found`);
    map.set(role, group);
  }
  return map;
}

/** A desired count moved within the fleet's configured floor and ceiling. */
export function withinFloor(fleet: FleetEnvironment, desired: number): number {
  return Math.min(Math.max(desired, fleet.minCapacity), fleet.maxCapacity);
}

export function capacityOf(group: AutoScalingGroup | undefined): GroupCapacity {
  return { desired: group?.DesiredCapacity ?? 0, min: group?.MinSize ?? 0, max: group?.MaxSize ?? 0 };
}

async function describeGroup(ctx: AdvanceContext, role: Role): Promise<AutoScalingGroup | undefined> {
  return (await describeGroups(ctx, [role])).get(role);
}

export async function describeRefresh(ctx: AdvanceContext, groupName: string, id: string): Promise<InstanceRefresh | undefined> {
  const res = await ctx.clients.autoScaling.send(new DescribeInstanceRefreshesCommand({ AutoScalingGroupName: groupName, InstanceRefreshIds: [id] }));
  return res.InstanceRefreshes?.[0];
}

/**
 * How a `full` deploy's compensation refreshes a group back to the previous release once its
 * page is down: launch before terminate, never below the capacity serving now. The rolling
 * settings are a rolling deploy's trade-off (a min healthy of 0 % accepts an outage); a full
 * deploy promises the page or a serving fleet, and its fleet was doubled already.
 */
export const FULL_RESTORE_PREFERENCES = { minHealthyPercentage: 100, maxHealthyPercentage: 200 } as const;

/**
 * Starts (or adopts, when a retried call already started it) a refresh of `role`'s group
 * towards launch-template `version`. Fails if someone else's refresh is running. A rolling
 * deploy's refresh follows `deploy.rolling`; a full deploy's (only its compensation starts
 * one) follows `FULL_RESTORE_PREFERENCES`.
 */
export async function startRefresh(
  state: DeployState,
  ctx: AdvanceContext,
  role: Role,
  version: string,
  options: { autoRollback: boolean },
): Promise<string> {
  // Alarms already in ALARM when the deploy started with ignoreAlarms would roll the refresh back at once: not watched.
  const watched = ctx.env.alarmNames.filter((a) => !(state.ignoredAlarms ?? []).includes(a));
  const fleet = fleetOf(ctx.env, role);
  const listed = await ctx.clients.autoScaling.send(
    new DescribeInstanceRefreshesCommand({ AutoScalingGroupName: fleet.autoScalingGroupName, MaxRecords: 10 }),
  );
  const refreshes = listed.InstanceRefreshes ?? [];
  const active = refreshes.find((r) => r.Status && ACTIVE_REFRESH.has(r.Status));
  if (active) {
    if (active.DesiredConfiguration?.LaunchTemplate?.Version === version && active.InstanceRefreshId) return active.InstanceRefreshId;
    throw new DeployFailure(
      `instance refresh ${active.InstanceRefreshId} (${active.Status}) is already running on ${fleet.autoScalingGroupName}; herd did not start it`,
    );
  }
  // A retried call that already started (and finished) this refresh: one started since this deploy
  // began, or, for a compensation, since it failed (an earlier refresh to the same version, by
  // another deploy that ran before this one took the lock, is not this one's).
  const since = state.compensation && state.failure ? state.failure.at : state.startedAt;
  const recent = refreshes.find(
    (r) =>
      r.Status === 'Successful' &&
      r.DesiredConfiguration?.LaunchTemplate?.Version === version &&
      r.StartTime !== undefined &&
      r.StartTime.getTime() >= since,
  );
  if (recent?.InstanceRefreshId) return recent.InstanceRefreshId;
  const rolling = state.strategy === 'full' ? { ...ctx.env.deploy.rolling, ...FULL_RESTORE_PREFERENCES, checkpointPercentages: [] } : ctx.env.deploy.rolling;
  const res = await withNewVersion(state, ctx, () => ctx.clients.autoScaling.send(
    new StartInstanceRefreshCommand({
      AutoScalingGroupName: fleet.autoScalingGroupName,
      Strategy: 'Rolling',
      DesiredConfiguration: { LaunchTemplate: { LaunchTemplateId: fleet.launchTemplateId, Version: version } },
      Preferences: {
        MinHealthyPercentage: rolling.minHealthyPercentage,
        MaxHealthyPercentage: rolling.maxHealthyPercentage,
        InstanceWarmup: rolling.instanceWarmupSeconds,
        // A restart replaces every instance, though each already runs this version.
        SkipMatching: state.mode !== 'restart',
        AutoRollback: options.autoRollback,
        ...(options.autoRollback && watched.length > 0 ? { AlarmSpecification: { Alarms: watched } } : {}),
        ...(rolling.checkpointPercentages.length > 0
          ? { CheckpointPercentages: [...rolling.checkpointPercentages], CheckpointDelay: rolling.checkpointDelaySeconds }
          : {}),
        ScaleInProtectedInstances: 'Refresh',
        StandbyInstances: 'Terminate',
      },
    }),
  ));
  if (!res.InstanceRefreshId) throw new DeployFailure(`StartInstanceRefresh returned no id for ${fleet.autoScalingGroupName}`);
  return res.InstanceRefreshId;
}

/**
 * An Auto Scaling call that names this deploy's new launch-template versions: EC2 may not
 * show a version created seconds ago yet, which is "not visible yet" (retried), not a failure.
 */
async function withNewVersion<T>(state: DeployState, ctx: AdvanceContext, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    const createdAt = state.next?.createdAt;
    if (isVersionNotFound(err) && createdAt !== undefined && ctx.clock.now() - createdAt < VISIBILITY_GRACE_SECONDS * 1000) {
      throw new NotVisibleYetError(`the launch-template versions this deploy created are not visible to Auto Scaling yet (${(err as Error).message})`);
    }
    throw err;
  }
}

/** The roles the rolling rollout refreshes, in order: every role, or those a restart names. */
export function refreshRoles(state: DeployState, ctx: AdvanceContext): Role[] {
  return rolesOf(ctx.env).filter((r) => !state.roles || state.roles.includes(r));
}

/** A role of the batch the rolling rollout works on, with the launch-template version it moves to. */
interface BatchRole {
  readonly role: Role;
  readonly version: string;
}

/**
 * The roles the rolling rollout works on now: every role from `state.roleIndex` on when they
 * roll in parallel (`state.parallelRoles`), else the one it is at; those a restart found
 * empty (`state.skipped`) left out. Each step below does its work for every role of the batch
 * and moves on once all of them are through it.
 */
export function rolloutBatch(state: DeployState, ctx: AdvanceContext): BatchRole[] {
  const roles = refreshRoles(state, ctx);
  const batch = state.parallelRoles ? roles.slice(state.roleIndex) : roles.slice(state.roleIndex, state.roleIndex + 1);
  return batch
    .filter((role) => !(state.skipped ?? []).includes(role))
    .map((role) => {
      const version = state.next?.versions[role];
      if (!version) throw new DeployFailure(`no launch-template version for ${role}`);
      return { role, version };
    });
}

/** Moves the rolling rollout past the current batch: to the next role (one after the other), or ends the stage. */
function nextBatch(state: DeployState, ctx: AdvanceContext): StepResult {
  const roles = refreshRoles(state, ctx);
  state.roleIndex = state.parallelRoles ? roles.length : state.roleIndex + 1;
  return state.roleIndex < roles.length ? { goto: 'refresh.start' } : STAGE_DONE;
}

/** A wait's next poll, sooner while new instances are failing (a failed target shows for about 40 s). */
function diagnosing(health: 'watching' | 'quiet', result: StepResult): StepResult {
  return health === 'watching' && 'poll' in result ? { poll: Math.min(result.poll, DIAGNOSE_POLL_SECONDS) } : result;
}

/**
 * Starts the refresh of every role of the batch (or adopts it, when a retried call already
 * started it). Instance refreshes of two groups are independent of each other: Auto Scaling
 * refuses a second refresh on the same group only ("An instance refresh is already in
 * progress", StartInstanceRefresh InstanceRefreshInProgress), so web and worker roll at once.
 */
const refreshStart: Step = async (state, ctx) => {
  const batch = rolloutBatch(state, ctx);
  if (batch.length === 0) return nextBatch(state, ctx);
  for (const { role, version } of batch) {
    if (state.floors?.[role]) continue;
    if (!state.refreshes[role]) {
      const group = await describeGroup(ctx, role);
      if (state.mode === 'restart' && (group?.DesiredCapacity ?? 0) === 0) {
        state.warnings.push(`${fleetOf(ctx.env, role).autoScalingGroupName} runs no instance: nothing to restart there`);
        state.skipped = [...(state.skipped ?? []), role];
        continue;
      }
      if ((group?.DesiredCapacity ?? 0) === 0 && fleetOf(ctx.env, role).minCapacity > 0) {
        // Nothing runs (first release, or a group scaled to zero): a refresh would replace nothing.
        state.floors = { ...state.floors, [role]: capacityOf(group) };
        continue;
      }
    }
    state.refreshes[role] = await startRefresh(state, ctx, role, version, { autoRollback: true });
  }
  return { goto: 'refresh.wait' };
};

/**
 * Waits for every refresh of the batch. One that ends otherwise than `Successful` fails the
 * deploy at once, while the others may still run: compensation rolls back every group this
 * deploy refreshed, running or finished (`compensate.refresh`), so the previous release keeps
 * serving on all of them.
 */
const refreshWait: Step = async (state, ctx) => {
  const batch = rolloutBatch(state, ctx);
  const running: BatchRole[] = [];
  for (const current of batch) {
    const { role } = current;
    const id = state.refreshes[role];
    if (!id || state.refreshed.includes(role)) continue;
    const groupName = fleetOf(ctx.env, role).autoScalingGroupName;
    const refresh = await describeRefresh(ctx, groupName, id);
    const status = refresh?.Status ?? 'missing';
    if (status === 'Successful') state.refreshed.push(role);
    else if (status === 'Pending' || status === 'InProgress' || status === 'Baking') running.push(current);
    else throw new DeployFailure(`instance refresh ${id} of ${groupName} ended ${status}${refresh?.StatusReason ? `: ${refresh.StatusReason}` : ''}`);
  }
  if (running.length === 0) return { goto: 'refresh.checkFloor' };
  let health: 'watching' | 'quiet' = 'quiet';
  for (const { role, version } of running) {
    const seen = await watchNewInstances(state, ctx, role, version);
    if (seen === 'stop') return { goto: DIAGNOSED_STEP };
    if (seen === 'watching') health = 'watching';
  }
  const what = running.map(({ role }) => `instance refresh ${state.refreshes[role]} of ${fleetOf(ctx.env, role).autoScalingGroupName}`).join(' and ');
  return diagnosing(health, waitFor(state, ctx, ctx.env.deploy.timeouts.rolloutMinutes, what, 15));
};

/** After the refreshes: is each group at its configured floor and ceiling? Records its capacity before moving it. */
const refreshCheckFloor: Step = async (state, ctx) => {
  const batch = rolloutBatch(state, ctx);
  let move = false;
  for (const { role } of batch) {
    if (state.floors?.[role]) {
      move = true;
      continue;
    }
    const fleet = fleetOf(ctx.env, role);
    const now = capacityOf(await describeGroup(ctx, role));
    if (now.min === fleet.minCapacity && now.max === fleet.maxCapacity && now.desired === withinFloor(fleet, now.desired)) continue;
    state.floors = { ...state.floors, [role]: now };
    move = true;
  }
  return move ? { goto: 'refresh.floor' } : nextBatch(state, ctx);
};

/** Points each group of the batch to move at the new version with the configured MinSize/MaxSize and desired raised to the minimum. */
const refreshFloor: Step = async (state, ctx) => {
  const batch = rolloutBatch(state, ctx).filter(({ role }) => state.floors?.[role]);
  if (batch.length === 0) return nextBatch(state, ctx);
  for (const { role, version } of batch) {
    const before = state.floors?.[role] as GroupCapacity;
    const fleet = fleetOf(ctx.env, role);
    await withNewVersion(state, ctx, () => ctx.clients.autoScaling.send(
      new UpdateAutoScalingGroupCommand({
        AutoScalingGroupName: fleet.autoScalingGroupName,
        LaunchTemplate: { LaunchTemplateId: fleet.launchTemplateId, Version: version },
        MinSize: fleet.minCapacity,
        MaxSize: fleet.maxCapacity,
        DesiredCapacity: withinFloor(fleet, before.desired),
      }),
    ));
  }
  return { goto: 'refresh.waitFloor' };
};

/** Waits until each moved group's floor count of new-version instances is in service and healthy (in the target group, for web). */
const refreshWaitFloor: Step = async (state, ctx) => {
  const batch = rolloutBatch(state, ctx).filter(({ role }) => state.floors?.[role]);
  if (batch.length === 0) return nextBatch(state, ctx);
  const groups = await describeGroups(ctx, batch.map(({ role }) => role));
  const healthy = batch.some(({ role }) => role === 'web') ? await healthyTargets(ctx) : undefined;
  const waiting: BatchRole[] = [];
  const shown: string[] = [];
  for (const current of batch) {
    const { role, version } = current;
    const fleet = fleetOf(ctx.env, role);
    const want = withinFloor(fleet, state.floors?.[role]?.desired ?? 0);
    const ready = (groups.get(role)?.Instances ?? []).filter(
      (i) =>
        i.LaunchTemplate?.Version === version &&
        i.LifecycleState === 'InService' &&
        i.HealthStatus === 'Healthy' &&
        (role !== 'web' || healthy?.has(i.InstanceId ?? '')),
    ).length;
    if (ready >= want) continue;
    waiting.push(current);
    shown.push(`${want} ${role} instance(s) of launch-template version ${version} in service and healthy in ${fleet.autoScalingGroupName} (${ready}/${want})`);
  }
  if (waiting.length === 0) return nextBatch(state, ctx);
  let health: 'watching' | 'quiet' = 'quiet';
  for (const { role, version } of waiting) {
    const seen = await watchNewInstances(state, ctx, role, version);
    if (seen === 'stop') return { goto: DIAGNOSED_STEP };
    if (seen === 'watching') health = 'watching';
  }
  return diagnosing(health, waitFor(state, ctx, ctx.env.deploy.timeouts.rolloutMinutes, shown.join(' and '), 10));
};

const maintenanceOnStep: Step = async (state, ctx) => {
  if (!state.maintenance) {
    const before = await maintenanceOn(ctx.clients, ctx.env, state.deployId);
    const wasOnBefore = before.on && before.owner !== state.deployId;
    state.maintenance = { wasOnBefore, ...(wasOnBefore ? {} : { onAt: ctx.clock.now() }) };
  }
  return STAGE_DONE;
};

/**
 * Whether the web group serves at its desired capacity: as many instances in service and
 * healthy in the target group as it wants, none still launching. A scale-in after
 * `replace.restore` (an operator scaled out meanwhile) may have terminated a serving
 * instance and kept one that is still booting.
 */
async function webSettled(ctx: AdvanceContext): Promise<{ settled: boolean; shown: string }> {
  const g = (await describeGroups(ctx, ['web'])).get('web');
  const healthy = await healthyTargets(ctx);
  const active = (g?.Instances ?? []).filter((i) => !(i.LifecycleState ?? '').startsWith('Terminating') && i.LifecycleState !== 'Terminated');
  const ready = active.filter((i) => i.LifecycleState === 'InService' && i.HealthStatus === 'Healthy' && healthy.has(i.InstanceId ?? '')).length;
  const desired = g?.DesiredCapacity ?? 0;
  return { settled: ready >= desired && active.length === ready, shown: `${ready}/${desired} healthy, ${active.length - ready} launching` };
}

/**
 * Lifts the page this deploy put up, once the web fleet serves at its desired capacity (a
 * `full` deploy); a page an operator took over meanwhile stays up (`liftOwnPage`).
 */
const maintenanceOffStep: Step = async (state, ctx) => {
  if (state.maintenance && !state.maintenance.wasOnBefore && state.maintenance.offAt === undefined) {
    if (state.strategy === 'full') {
      // Switched to the staging group: the new fleet serves from there until `settle.*`.
      const web = state.full?.switch?.switched ? await stagedServing(state, ctx) : await webSettled(ctx);
      if (!web.settled) return waitFor(state, ctx, ctx.env.deploy.timeouts.rolloutMinutes, `the web fleet to serve at its desired capacity before the page comes down (${web.shown})`, 10);
    }
    const found = await liftOwnPage(ctx.clients, ctx.env, state.deployId);
    // A window of seconds (`switch.ts`): the rule this deploy created may not be listed yet
    // (the ELB API is eventually consistent); lifting nothing would leave the page up.
    const onAt = state.maintenance.onAt;
    if (!found.on && !found.foreignRuleArn && onAt !== undefined && ctx.clock.now() - onAt < VISIBILITY_GRACE_SECONDS * 1000) {
      return waitFor(state, ctx, VISIBILITY_GRACE_SECONDS / 60, 'the maintenance rule this deploy created to be listed', 5);
    }
    if (found.on && found.owner !== state.deployId) state.warnings.push(`the maintenance page stays up: ${found.owner === 'manual' ? 'an operator took it over' : `it belongs to ${found.owner ?? 'someone else'}`} during the deploy`);
    state.maintenance.offAt = ctx.clock.now();
  }
  return STAGE_DONE;
};

const replaceRecord: Step = async (state, ctx) => {
  await recordGroups(state, ctx);
  return { goto: 'replace.scaleOut' };
};

/**
 * Records each group's capacity, the processes herd will suspend and the instances of the
 * previous release (`state.full.groups`), once: what compensation puts back.
 */
export async function recordGroups(state: DeployState, ctx: AdvanceContext): Promise<void> {
  if (!state.full?.groups) {
    const groups = await describeGroups(ctx, rolesOf(ctx.env));
    const snapshot: Partial<Record<Role, GroupSnapshot>> = {};
    for (const [role, g] of groups) {
      const next = state.next?.versions[role];
      snapshot[role] = {
        ...capacityOf(g),
        // A group below its floor (first release) comes up at the configured minimum.
        target: withinFloor(fleetOf(ctx.env, role), g.DesiredCapacity ?? 0),
        // An operator's suspended processes are theirs: herd suspends (and later resumes) only the others.
        suspendedByHerd: FULL_SUSPENDED_PROCESSES.filter((p) => !(g.SuspendedProcesses ?? []).some((s) => s.ProcessName === p)),
        oldInstanceIds: (g.Instances ?? [])
          .filter((i) => i.LaunchTemplate?.Version !== next && !(i.LifecycleState ?? '').startsWith('Terminating'))
          .map((i) => i.InstanceId ?? '')
          .filter(Boolean),
      };
    }
    state.full = { ...state.full, groups: snapshot };
  }
}

/**
 * Points each group at the new version with the doubled capacity, then suspends the processes
 * that would fight the replacement. An operator may have suspended one of them since
 * `replace.record`: it is theirs, so it is read again here and left out of what herd resumes.
 * The group is updated before the suspension so that a retried call can tell the two apart:
 * a group already on the new version means this step ran before, and the processes suspended
 * now may be herd's own.
 */
const replaceScaleOut: Step = async (state, ctx) => {
  await scaleOutGroups(state, ctx, rolesOf(ctx.env));
  return { goto: 'replace.waitNew' };
};

/** `replaceScaleOut` for `roles`: each group on the new version with its target added to its old instances, herd's processes suspended. */
export async function scaleOutGroups(state: DeployState, ctx: AdvanceContext, roles: readonly Role[]): Promise<void> {
  const groups = await describeGroups(ctx, roles);
  for (const role of roles) {
    const g = state.full?.groups?.[role];
    const version = state.next?.versions[role];
    if (!g || !version) throw new DeployFailure(`no recorded capacity or version for ${role}`);
    const fleet = fleetOf(ctx.env, role);
    const desired = (g.target ?? g.desired) + g.oldInstanceIds.length;
    const found = groups.get(role);
    if (found && found.LaunchTemplate?.Version !== version) {
      const suspendedNow = new Set((found.SuspendedProcesses ?? []).map((p) => p.ProcessName));
      g.suspendedByHerd = (g.suspendedByHerd ?? FULL_SUSPENDED_PROCESSES).filter((p) => !suspendedNow.has(p));
    }
    await withNewVersion(state, ctx, () => ctx.clients.autoScaling.send(
      new UpdateAutoScalingGroupCommand({
        AutoScalingGroupName: fleet.autoScalingGroupName,
        LaunchTemplate: { LaunchTemplateId: fleet.launchTemplateId, Version: version },
        MaxSize: Math.max(g.max, desired),
        DesiredCapacity: desired,
      }),
    ));
    const suspend = g.suspendedByHerd ?? FULL_SUSPENDED_PROCESSES;
    if (suspend.length > 0) {
      await ctx.clients.autoScaling.send(new SuspendProcessesCommand({ AutoScalingGroupName: fleet.autoScalingGroupName, ScalingProcesses: [...suspend] }));
    }
  }
  state.full = { ...state.full, scaledOut: true };
}

export async function healthyTargets(ctx: AdvanceContext, targetGroupArn = ctx.env.loadBalancer.targetGroupArn): Promise<Set<string>> {
  const res = await ctx.clients.elbv2.send(new DescribeTargetHealthCommand({ TargetGroupArn: targetGroupArn }));
  return new Set(
    (res.TargetHealthDescriptions ?? []).filter((t) => t.TargetHealth?.State === 'healthy').map((t) => t.Target?.Id ?? ''),
  );
}

const replaceWaitNew: Step = async (state, ctx) => {
  const roles = rolesOf(ctx.env);
  const groups = await describeGroups(ctx, roles);
  const healthy = await healthyTargets(ctx);
  const missing: string[] = [];
  for (const role of roles) {
    const g = groups.get(role);
    const snapshot = state.full?.groups?.[role];
    const want = snapshot?.target ?? snapshot?.desired ?? 0;
    const version = state.next?.versions[role];
    const ready = (g?.Instances ?? []).filter(
      (i) =>
        i.LaunchTemplate?.Version === version &&
        i.LifecycleState === 'InService' &&
        i.HealthStatus === 'Healthy' &&
        (role !== 'web' || healthy.has(i.InstanceId ?? '')),
    ).length;
    if (ready < want) missing.push(`${role} ${ready}/${want}`);
  }
  if (missing.length === 0) {
    // The new fleet is up behind the page: what the bypass sees of it counts.
    await failIfAlarming(state, ctx, 'while the new fleet served behind the maintenance page');
    return { goto: 'replace.terminateOld' };
  }
  const version = state.next?.versions.web;
  const health = version ? await watchNewInstances(state, ctx, 'web', version) : 'quiet';
  if (health === 'stop') return { goto: DIAGNOSED_STEP };
  return diagnosing(health, waitFor(state, ctx, ctx.env.deploy.timeouts.rolloutMinutes, `the new fleet to be healthy (${missing.join(', ')})`, 10));
};

const replaceTerminateOld: Step = async (state, ctx) => {
  const roles = rolesOf(ctx.env);
  const groups = await describeGroups(ctx, roles);
  for (const role of roles) {
    const old = new Set(state.full?.groups?.[role]?.oldInstanceIds ?? []);
    for (const i of groups.get(role)?.Instances ?? []) {
      if (!i.InstanceId || !old.has(i.InstanceId) || (i.LifecycleState ?? '').startsWith('Terminating')) continue;
      await ctx.clients.autoScaling.send(
        new TerminateInstanceInAutoScalingGroupCommand({ InstanceId: i.InstanceId, ShouldDecrementDesiredCapacity: true }),
      );
    }
  }
  state.full = { ...state.full, oldTerminated: true };
  return { goto: 'replace.restore' };
};

/**
 * Sets min/max/desired (and the version, if given) and resumes the processes a `full` deploy
 * suspended itself (`resume`); processes an operator had suspended before stay suspended.
 */
export async function restoreGroup(ctx: AdvanceContext, role: Role, g: GroupCapacity, resume: readonly string[], version?: string): Promise<void> {
  const fleet = fleetOf(ctx.env, role);
  await ctx.clients.autoScaling.send(
    new UpdateAutoScalingGroupCommand({
      AutoScalingGroupName: fleet.autoScalingGroupName,
      ...(version ? { LaunchTemplate: { LaunchTemplateId: fleet.launchTemplateId, Version: version } } : {}),
      MinSize: g.min,
      MaxSize: g.max,
      DesiredCapacity: g.desired,
    }),
  );
  if (resume.length > 0) {
    await ctx.clients.autoScaling.send(new ResumeProcessesCommand({ AutoScalingGroupName: fleet.autoScalingGroupName, ScalingProcesses: [...resume] }));
  }
}

/** The new fleet serves: the configured floor and ceiling, desired at the target the new fleet was brought up to. */
const replaceRestore: Step = async (state, ctx) => {
  for (const role of rolesOf(ctx.env)) {
    const g = state.full?.groups?.[role];
    const fleet = fleetOf(ctx.env, role);
    if (g) await restoreGroup(ctx, role, { min: fleet.minCapacity, max: fleet.maxCapacity, desired: withinFloor(fleet, g.target ?? g.desired) }, g.suspendedByHerd ?? FULL_SUSPENDED_PROCESSES);
  }
  state.full = { ...state.full, restored: true };
  return STAGE_DONE;
};

const hold: Step = async (state, ctx) => {
  const minutes = ctx.env.deploy.holdMaintenanceMinutes;
  if (minutes <= 0 || !state.maintenance || state.maintenance.wasOnBefore) return STAGE_DONE;
  const now = ctx.clock.now();
  await failIfAlarming(state, ctx, 'during the hold behind the maintenance page');
  state.maintenance.holdUntil ??= now + minutes * 60_000;
  if (now >= state.maintenance.holdUntil) return STAGE_DONE;
  return { poll: Math.min(60, Math.ceil((state.maintenance.holdUntil - now) / 1000)) };
};

const verify: Step = async (state, ctx) => {
  const imageId = state.image?.imageId;
  const roles = rolesOf(ctx.env);
  const groups = await describeGroups(ctx, roles);
  const healthy = [...(await healthyTargets(ctx))];
  const problems: string[] = [];
  const desired = groups.get('web')?.DesiredCapacity ?? 0;
  if (healthy.length < desired) problems.push(`${healthy.length} of ${desired} web targets healthy`);
  if (healthy.length > 0) {
    // By filter: one id EC2 does not show yet must not fail the verification.
    const res = await ctx.clients.ec2.send(new DescribeInstancesCommand({ Filters: [{ Name: 'instance-id', Values: healthy }] }));
    const stale = (res.Reservations ?? []).flatMap((r) => r.Instances ?? []).filter((i) => i.ImageId !== imageId);
    if (stale.length > 0) problems.push(`${stale.length} healthy web targets run another image than ${imageId}`);
  }
  for (const role of roles) {
    const version = state.next?.versions[role];
    const behind = (groups.get(role)?.Instances ?? []).filter((i) => i.LifecycleState === 'InService' && i.LaunchTemplate?.Version !== version);
    if (behind.length > 0) problems.push(`${behind.length} in-service ${role} instances not on launch-template version ${version}`);
  }
  if (problems.length === 0) return { goto: 'verify.watch' };
  return waitFor(state, ctx, VERIFY_MINUTES, `verification (${problems.join('; ')})`, 10);
};

export const ROLLOUT_STEPS: Record<string, Step> = {
  'refresh.start': refreshStart,
  'refresh.wait': refreshWait,
  'refresh.checkFloor': refreshCheckFloor,
  'refresh.floor': refreshFloor,
  'refresh.waitFloor': refreshWaitFloor,
  'verify.watch': watchAlarms,
  'maintenance.on': maintenanceOnStep,
  'maintenance.off': maintenanceOffStep,
  'replace.record': replaceRecord,
  'replace.scaleOut': replaceScaleOut,
  'replace.waitNew': replaceWaitNew,
  'replace.terminateOld': replaceTerminateOld,
  'replace.restore': replaceRestore,
  'hold.wait': hold,
  'verify.targets': verify,
};
