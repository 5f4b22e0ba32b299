/**
 * Compensation: after a failure, undo what the deploy did so the previous release keeps
 * serving. Each compensation step is idempotent. A step that keeps failing is tried again
 * for a long while (`retries.ts`); if it still fails it is recorded, the next steps still
 * run, and the deploy ends `needs-attention`: the lock stays held with what is half done
 * (each role's group and what it launches), until `herd repair` runs the compensation again.
 */
import { SETTLE_POLL_SECONDS } from './switch';
import {
  CancelInstanceRefreshCommand,
  DescribeInstanceRefreshesCommand,
  RollbackInstanceRefreshCommand,
  TerminateInstanceInAutoScalingGroupCommand,
  UpdateAutoScalingGroupCommand,
} from '@aws-sdk/client-auto-scaling';
import { DescribeLaunchTemplateVersionsCommand } from '@aws-sdk/client-ec2';
import type { Role } from '../../lib/config/types';
import { parameterNames } from '../../lib/names';
import { historyItem, releaseLock, updateLock, writeHistory } from './lock';
import { notifyDeploy, outcomeStatus } from './notify';
import { liftOwnPage, maintenanceStatus } from './maintenance';
import { PARAMETER_WAIT_MINUTES, releaseParametersVisible, writeCurrent } from './release';
import { FULL_SUSPENDED_PROCESSES, describeGroups, describeRefresh, restoreGroup, startRefresh } from './rollout';
import { RESTART_COMPENSATION_STEPS } from './restart';
import { activeReady, continueStaged, forwardTo, listenerTarget, unstage } from './switch';
import type { DeployState, GroupCapacity } from './state';
import { STAGE_DONE, VISIBILITY_GRACE_SECONDS, waitFor, fleetOf, retireDeployInstances, rolesOf, type AdvanceContext, type Step } from './step';

/** Compensation steps for what `state` did, in order. */
export function compensationSteps(state: DeployState): string[] {
  const steps: string[] = [];
  const staged = state.full?.switch;
  // A `full` deploy that staged its new fleet (`switch.ts`): the listener back on the old fleet
  // first (one call), or, once the old web instances are being retired, the settle finished.
  if (staged) steps.push(staged.retiring ? 'compensate.settle' : 'compensate.switchBack');
  // Once the groups' capacity is recorded: the scale-out may have happened even if the step
  // that did it never returned (a dead execution); restoring what was recorded is harmless otherwise.
  if (state.full?.scaledOut || staged?.workersStopped || (state.full?.groups && ['replace.scaleOut', 'stage.scaleOut'].includes(state.step))) steps.push('compensate.fleet');
  // The staging group emptied and the hook deleted once the new instances are gone (or serve from the web target group).
  if (staged) steps.push('compensate.unstage');
  // The old workers were stopped before the page went up: the previous release serves once they run again
  // (once the old web instances are retiring, `compensate.refresh` rolls the workers back with the rest).
  if (staged?.workersStopped && !staged.retiring) steps.push('compensate.waitWorkers');
  if (state.floors && Object.keys(state.floors).length > 0) steps.push('compensate.floor', 'compensate.waitFloor');
  // A restart's refresh is stopped, not rolled back: a rollback would launch the same settings again (`restart.ts`).
  if (state.mode === 'restart') steps.push('compensate.restart', 'compensate.waitRefresh', 'compensate.waitRestart');
  // A refresh may also have started in a step that never returned (refresh.start): compensate.refresh looks.
  else if (Object.keys(state.refreshes).length > 0 || state.full?.oldTerminated || state.step === 'refresh.start') steps.push('compensate.refresh', 'compensate.waitRefresh');
  // Whenever the previous values are known: restoring them is harmless if nothing was written.
  if (state.previous && state.mode !== 'restart') steps.push('compensate.parameters', 'compensate.waitParameters');
  steps.push('compensate.instances');
  if (state.strategy === 'full') steps.push('compensate.maintenance');
  steps.push('compensate.record');
  return steps;
}

/** `full`: back to the previous version and capacity, terminating the new instances while the old ones still serve. */
const fleet: Step = async (state, ctx) => {
  const roles = rolesOf(ctx.env);
  const groups = await describeGroups(ctx, roles);
  for (const role of roles) {
    const snapshot = state.full?.groups?.[role];
    const previous = state.previous?.versions[role];
    if (!snapshot || !previous) continue;
    const f = fleetOf(ctx.env, role);
    await ctx.clients.autoScaling.send(
      new UpdateAutoScalingGroupCommand({
        AutoScalingGroupName: f.autoScalingGroupName,
        LaunchTemplate: { LaunchTemplateId: f.launchTemplateId, Version: previous },
        // Staged (`switch.ts`): the new workers started at the configured minimum, with no old
        // worker left; terminating them with a decrement needs the floor out of the way
        // (`restoreGroup` below puts it back).
        ...(state.full?.switch ? { MinSize: 0 } : {}),
      }),
    );
    if (!state.full?.oldTerminated) {
      const old = new Set(snapshot.oldInstanceIds);
      for (const i of groups.get(role)?.Instances ?? []) {
        if (!i.InstanceId || old.has(i.InstanceId) || (i.LifecycleState ?? '').startsWith('Terminating')) continue;
        await ctx.clients.autoScaling.send(
          new TerminateInstanceInAutoScalingGroupCommand({ InstanceId: i.InstanceId, ShouldDecrementDesiredCapacity: true }),
        );
      }
    }
    // Once `replace.restore` resumed them, what is suspended now is someone else's (an operator suspended it since).
    await restoreGroup(ctx, role, snapshot, state.full?.restored ? [] : (snapshot.suspendedByHerd ?? FULL_SUSPENDED_PROCESSES), previous);
  }
  return STAGE_DONE;
};

/**
 * `rolling`: groups this deploy moved to their floor get their capacity back (a group found
 * at zero: desired 0, min 0 and the previous version, so nothing churns on the new release).
 * A group that was also refreshed keeps its version here; `compensate.refresh` rolls it back.
 */
const floor: Step = async (state, ctx) => {
  for (const [role, before] of Object.entries(state.floors ?? {}) as [Role, GroupCapacity][]) {
    const f = fleetOf(ctx.env, role);
    const previous = state.previous?.versions[role];
    const refreshed = state.refreshes[role] !== undefined;
    await ctx.clients.autoScaling.send(
      new UpdateAutoScalingGroupCommand({
        AutoScalingGroupName: f.autoScalingGroupName,
        ...(previous && !refreshed ? { LaunchTemplate: { LaunchTemplateId: f.launchTemplateId, Version: previous } } : {}),
        MinSize: before.min,
        MaxSize: before.max,
        DesiredCapacity: before.desired,
      }),
    );
  }
  return STAGE_DONE;
};

/** Waits until the groups given back their capacity have terminated the instances beyond it. */
const waitFloor: Step = async (state, ctx) => {
  const floors = state.floors ?? {};
  const roles = Object.keys(floors) as Role[];
  if (roles.length === 0) return STAGE_DONE;
  const groups = await describeGroups(ctx, roles);
  const waiting: string[] = [];
  for (const role of roles) {
    const want = floors[role]?.desired ?? 0;
    const count = (groups.get(role)?.Instances ?? []).length;
    if (count > want) waiting.push(`${fleetOf(ctx.env, role).autoScalingGroupName} ${count}/${want}`);
  }
  if (waiting.length === 0) return STAGE_DONE;
  return waitFor(state, ctx, ctx.env.deploy.timeouts.rolloutMinutes, `the instances beyond the previous capacity to terminate (${waiting.join(', ')})`, 15);
};

/** Rolls back running refreshes; refreshes back to the previous version where the new one already landed. */
const refresh: Step = async (state, ctx) => {
  const comp = state.compensation;
  if (!comp) return STAGE_DONE;
  for (const role of rolesOf(ctx.env) as Role[]) {
    if (comp.refreshes[role]) continue;
    const previous = state.previous?.versions[role];
    const groupName = fleetOf(ctx.env, role).autoScalingGroupName;
    const id = state.refreshes[role] ?? (await unrecordedRefresh(state, ctx, role));
    const status = id ? (await describeRefresh(ctx, groupName, id))?.Status : undefined;
    if (id && (status === 'Pending' || status === 'InProgress' || status === 'Baking')) {
      try {
        await ctx.clients.autoScaling.send(new RollbackInstanceRefreshCommand({ AutoScalingGroupName: groupName }));
      } catch (err) {
        if (!(err instanceof Error && (err.name === 'IrreversibleInstanceRefreshFault' || err.name === 'ActiveInstanceRefreshNotFoundFault'))) throw err;
        await ctx.clients.autoScaling.send(new CancelInstanceRefreshCommand({ AutoScalingGroupName: groupName })).catch((e: unknown) => {
          if (!(e instanceof Error && e.name === 'ActiveInstanceRefreshNotFoundFault')) throw e;
        });
      }
      comp.refreshes[role] = id;
    } else if (id && (status === 'RollbackInProgress' || status === 'Cancelling')) {
      comp.refreshes[role] = id;
    } else if (previous && ((id && status !== 'RollbackSuccessful') || (!id && state.full?.oldTerminated))) {
      // The new version landed (or partly): refresh back to the previous one.
      comp.refreshes[role] = await startRefresh(state, ctx, role, previous, { autoRollback: false });
    }
  }
  return STAGE_DONE;
};

/**
 * An instance refresh of `role`'s group towards this deploy's version that the state does
 * not record: a `refresh.start` that started it and never returned.
 */
async function unrecordedRefresh(state: DeployState, ctx: AdvanceContext, role: Role): Promise<string | undefined> {
  const version = state.next?.versions[role];
  if (!version) return undefined;
  const res = await ctx.clients.autoScaling.send(new DescribeInstanceRefreshesCommand({ AutoScalingGroupName: fleetOf(ctx.env, role).autoScalingGroupName, MaxRecords: 10 }));
  const ours = (res.InstanceRefreshes ?? []).find(
    (r) => r.DesiredConfiguration?.LaunchTemplate?.Version === version && r.StartTime !== undefined && r.StartTime.getTime() >= state.startedAt,
  );
  return ours?.InstanceRefreshId;
}

const TERMINAL_REFRESH = new Set(['Successful', 'Failed', 'Cancelled', 'RollbackSuccessful', 'RollbackFailed']);

const waitRefresh: Step = async (state, ctx) => {
  const comp = state.compensation;
  if (!comp) return STAGE_DONE;
  const waiting: string[] = [];
  for (const [role, id] of Object.entries(comp.refreshes) as [Role, string][]) {
    const groupName = fleetOf(ctx.env, role).autoScalingGroupName;
    const r = await describeRefresh(ctx, groupName, id);
    const status = r?.Status ?? 'missing';
    if (!TERMINAL_REFRESH.has(status) && status !== 'missing') {
      waiting.push(`${groupName} ${status}`);
    } else if (status === 'Failed' || status === 'RollbackFailed') {
      const note = `compensate.waitRefresh: instance refresh ${id} of ${groupName} ended ${status}${r?.StatusReason ? `: ${r.StatusReason}` : ''}`;
      if (!comp.errors.includes(note)) comp.errors.push(note);
    }
  }
  if (waiting.length === 0) return STAGE_DONE;
  return waitFor(state, ctx, ctx.env.deploy.timeouts.rolloutMinutes, `the rollback of ${waiting.join(', ')}`, 15);
};

const parameters: Step = async (state, ctx) => {
  if (state.previous) await writeCurrent(ctx, state, state.previous.imageId, state.previous.release);
  return STAGE_DONE;
};

/** Waits until SSM shows the restored parameters (an `aws:ec2:image` write is validated asynchronously). */
const waitParameters: Step = async (state, ctx) => {
  const previous = state.previous;
  if (!previous || (await releaseParametersVisible(ctx, state, previous.imageId, previous.release))) return STAGE_DONE;
  return waitFor(state, ctx, PARAMETER_WAIT_MINUTES, `current-image to read ${previous.imageId} again`, 5);
};

/** Builders and runners of this deploy, found by tag so a retried launch never leaves one behind. */
const instances: Step = async (state, ctx) => {
  const names = parameterNames(state.app, state.env);
  const reports = [
    ...(state.builderId ? [`${names.bakeRunsPrefix}${state.builderId}`] : []),
    ...(state.migration?.runnerId ? [`${names.releaseRunsPrefix}${state.migration.runnerId}`] : []),
  ];
  const known = [
    ...(state.builderId ? [{ id: state.builderId, launchedAt: state.builderLaunchedAt }] : []),
    ...(state.migration?.runnerId ? [{ id: state.migration.runnerId, launchedAt: state.migration.runnerLaunchedAt }] : []),
  ];
  await retireDeployInstances(state, ctx, undefined, reports, known);
  return STAGE_DONE;
};

/** Lifts the page only if this deploy put it up. */
const maintenance: Step = async (state, ctx) => {
  const status = await maintenanceStatus(ctx.clients, ctx.env);
  const onAt = state.maintenance?.onAt;
  if (!status.on && onAt !== undefined && state.maintenance?.offAt === undefined && ctx.clock.now() - onAt < VISIBILITY_GRACE_SECONDS * 1000) {
    // This deploy put the page up seconds ago: the listener may not list the rule yet.
    return waitFor(state, ctx, VISIBILITY_GRACE_SECONDS / 60, `the maintenance rule this deploy created to be listed`, 5);
  }
  if (status.on && status.owner === state.deployId) {
    await liftOwnPage(ctx.clients, ctx.env, state.deployId);
    state.maintenance = { wasOnBefore: false, ...state.maintenance, offAt: ctx.clock.now() };
  } else if (status.on && onAt !== undefined && status.owner !== state.deployId) {
    state.warnings.push(`the maintenance page stays up: ${status.owner === 'manual' ? 'an operator took it over' : `it belongs to ${status.owner ?? 'someone else'}`} during the deploy`);
  }
  return STAGE_DONE;
};

/** What each role's group launches now, against the releases this deploy knows (`web: release r1 (previous)`). */
async function servingByRole(state: DeployState, ctx: AdvanceContext): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const groups = await describeGroups(ctx, rolesOf(ctx.env));
  for (const role of rolesOf(ctx.env)) {
    const g = groups.get(role);
    const version = g?.LaunchTemplate?.Version;
    if (!g || !version) {
      out[role] = 'group not found';
      continue;
    }
    const res = await ctx.clients.ec2.send(new DescribeLaunchTemplateVersionsCommand({ LaunchTemplateId: fleetOf(ctx.env, role).launchTemplateId, Versions: [version] }));
    const image = res.LaunchTemplateVersions?.[0]?.LaunchTemplateData?.ImageId;
    const what =
      image && image === state.previous?.imageId ? `release ${state.previous.release} (previous)`
      : image && image === state.image?.imageId ? `release ${state.release} (this deploy's)`
      : `image ${image ?? 'unknown'}`;
    out[role] = `${what}, launch-template version ${version}, ${g.Instances?.length ?? 0} instance(s), desired ${g.DesiredCapacity}, min ${g.MinSize}, max ${g.MaxSize}`;
  }
  return out;
}

/**
 * The end of compensation. Every step done: the history says failed (or aborted) and the
 * lock is released. A step failed for good: the history says needs-attention with what each
 * group launches, and the lock stays held with the reason.
 */
const record: Step = async (state, ctx) => {
  const now = ctx.clock.now();
  const failed = state.compensation?.errors ?? [];
  if (failed.length > 0) {
    const serving = await servingByRole(state, ctx);
    const page = (await maintenanceStatus(ctx.clients, ctx.env)).on ? 'the maintenance page is up' : 'no maintenance page';
    const reason =
      `deploy ${state.deployId} failed (${state.failure?.cause ?? 'unknown cause'}) and its compensation did not finish: ${failed.join('; ')}. ` +
      `Now: ${Object.entries(serving).map(([role, what]) => `${role} launches ${what}`).join('; ')}; ${page}. ` +
      `Fix the cause, then run \`herd repair ${state.env}\` to compensate again.`;
    const ended: DeployState = { ...state, outcome: 'needs-attention' };
    const unsent = await notifyDeploy(ctx.clients, ctx.env, ended, 'needs-attention', now, { retryTransient: true });
    if (unsent) state.warnings.push(unsent);
    await writeHistory(ctx.clients, ctx.env.tableName, { ...historyItem(state, now, 'needs-attention'), serving });
    await updateLock(ctx.clients, ctx.env.tableName, state.deployId, { needsAttention: reason.slice(0, 2000) });
    return STAGE_DONE;
  }
  const outcome = state.abortedBy ? 'aborted' : 'failed';
  const ended: DeployState = { ...state, outcome };
  const unsent = await notifyDeploy(ctx.clients, ctx.env, ended, outcomeStatus(ended), now, { retryTransient: true });
  if (unsent) state.warnings.push(unsent);
  await writeHistory(ctx.clients, ctx.env.tableName, historyItem(state, now, outcome));
  await releaseLock(ctx.clients, ctx.env.tableName, state.deployId);
  return STAGE_DONE;
};

/** Before the old web instances are retired: the listener and the bypass rules back on the web target group, where they serve. */
const switchBack: Step = async (_state, ctx) => {
  const staging = ctx.env.loadBalancer.stagingTargetGroupArn;
  if (staging) await forwardTo(ctx, ctx.env.loadBalancer.targetGroupArn, staging);
  return STAGE_DONE;
};

/**
 * The old web instances are being retired: the new ones go into the web target group and the
 * listener follows them there once they are healthy; `compensate.refresh` then rolls back.
 */
const settle: Step = async (state, ctx) => {
  const staging = ctx.env.loadBalancer.stagingTargetGroupArn;
  if (!staging || (await listenerTarget(ctx)) !== staging) return STAGE_DONE;
  await continueStaged(state, ctx);
  const { ready, shown } = await activeReady(state, ctx);
  if (!ready) return waitFor(state, ctx, ctx.env.deploy.timeouts.rolloutMinutes, `the new fleet to serve from the web target group before the listener goes back to it (${shown})`, SETTLE_POLL_SECONDS);
  await forwardTo(ctx, ctx.env.loadBalancer.targetGroupArn, staging);
  return STAGE_DONE;
};

/** Waits for the worker group's previous-version instances, relaunched by `compensate.fleet`, to be in service. */
const waitWorkers: Step = async (state, ctx) => {
  const snapshot = state.full?.groups?.worker;
  const previous = state.previous?.versions.worker;
  if (!snapshot || !previous || !ctx.env.fleets.worker) return STAGE_DONE;
  const g = (await describeGroups(ctx, ['worker'])).get('worker');
  const ready = (g?.Instances ?? []).filter((i) => i.LaunchTemplate?.Version === previous && i.LifecycleState === 'InService' && i.HealthStatus === 'Healthy').length;
  const others = (g?.Instances ?? []).filter((i) => i.LaunchTemplate?.Version !== previous).length;
  const want = g?.DesiredCapacity ?? snapshot.desired;
  if (ready >= want && others === 0) return STAGE_DONE;
  return waitFor(state, ctx, ctx.env.deploy.timeouts.rolloutMinutes, `the workers of the previous release to run again (${ready}/${want} in service, ${others} of this deploy's still terminating)`, 10);
};

const unstageStep: Step = async (state, ctx) => {
  if (ctx.env.loadBalancer.stagingTargetGroupArn) await unstage(state, ctx);
  return STAGE_DONE;
};

export const COMPENSATION_STEPS: Record<string, Step> = {
  'compensate.switchBack': switchBack,
  'compensate.settle': settle,
  'compensate.unstage': unstageStep,
  'compensate.waitWorkers': waitWorkers,
  ...RESTART_COMPENSATION_STEPS,
  'compensate.fleet': fleet,
  'compensate.floor': floor,
  'compensate.waitFloor': waitFloor,
  'compensate.refresh': refresh,
  'compensate.waitRefresh': waitRefresh,
  'compensate.parameters': parameters,
  'compensate.waitParameters': waitParameters,
  'compensate.instances': instances,
  'compensate.maintenance': maintenance,
  'compensate.record': record,
};
