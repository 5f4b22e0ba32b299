/**
 * Compensation of a failed restart (`mode: 'restart'`). A restart refreshes a group to the
 * launch-template version it already uses, so a rollback (RollbackInstanceRefresh "replaces
 * the instances that have been deployed so far" with the previous configuration, the same one)
 * would launch instances that load the same settings again. Instead:
 * - `compensate.restart`: the instances the restart launched that do not serve (not in service
 *   and healthy, or, for web, not a healthy target) are terminated without replacement while the
 *   group holds more than its desired count (the refresh launched them above it: launch before
 *   terminate), then the refresh is cancelled, in the same step, so Auto Scaling's scale-in
 *   back to the desired count never picks an instance that still serves;
 * - `compensate.waitRestart`: waits until each restarted group serves its desired count, healthy.
 * Old instances the restart had not replaced yet keep serving throughout; the deploy ends failed.
 */
import { CancelInstanceRefreshCommand, TerminateInstanceInAutoScalingGroupCommand } from '@aws-sdk/client-auto-scaling';
import { DescribeInstancesCommand } from '@aws-sdk/client-ec2';
import type { Role } from '../../lib/config/types';
import { describeGroups, describeRefresh, healthyTargets, refreshRoles } from './rollout';
import { STAGE_DONE, fleetOf, waitFor, type Step } from './step';

const ACTIVE = new Set(['Pending', 'InProgress', 'Baking']);

const stopRestart: Step = async (state, ctx) => {
  const comp = state.compensation;
  if (!comp) return STAGE_DONE;
  const roles = refreshRoles(state, ctx);
  const groups = await describeGroups(ctx, roles);
  const healthy = await healthyTargets(ctx);
  for (const role of roles) {
    const group = groups.get(role);
    const groupName = fleetOf(ctx.env, role).autoScalingGroupName;
    const members = (group?.Instances ?? []).filter((i) => i.InstanceId && !(i.LifecycleState ?? '').startsWith('Terminat'));
    const ids = members.map((i) => i.InstanceId ?? '');
    const launched = new Map<string, number>();
    if (ids.length > 0) {
      const res = await ctx.clients.ec2.send(new DescribeInstancesCommand({ Filters: [{ Name: 'instance-id', Values: ids }] }));
      for (const i of (res.Reservations ?? []).flatMap((r) => r.Instances ?? [])) if (i.InstanceId && i.LaunchTime) launched.set(i.InstanceId, i.LaunchTime.getTime());
    }
    const serves = (i: (typeof members)[number]) => i.LifecycleState === 'InService' && i.HealthStatus === 'Healthy' && (role !== 'web' || healthy.has(i.InstanceId ?? ''));
    // Launched by this restart and not serving: they carry the settings that failed.
    const failing = members.filter((i) => (launched.get(i.InstanceId ?? '') ?? 0) >= state.startedAt && !serves(i));
    let count = members.length;
    const desired = group?.DesiredCapacity ?? 0;
    for (const i of failing) {
      if (count - 1 < desired) {
        state.warnings.push(`${groupName}: instance ${i.InstanceId}, launched by the restart, was kept: terminating it would have the group launch another with the same settings`);
        continue;
      }
      await ctx.clients.autoScaling.send(new TerminateInstanceInAutoScalingGroupCommand({ InstanceId: i.InstanceId, ShouldDecrementDesiredCapacity: false }));
      count -= 1;
    }
    const id = state.refreshes[role];
    if (id && ACTIVE.has((await describeRefresh(ctx, groupName, id))?.Status ?? '')) {
      await ctx.clients.autoScaling.send(new CancelInstanceRefreshCommand({ AutoScalingGroupName: groupName })).catch((e: unknown) => {
        if (!(e instanceof Error && e.name === 'ActiveInstanceRefreshNotFoundFault')) throw e;
      });
    }
    if (id) comp.refreshes[role] = id;
  }
  return STAGE_DONE;
};

const waitRestart: Step = async (state, ctx) => {
  const roles = refreshRoles(state, ctx);
  const groups = await describeGroups(ctx, roles);
  const healthy = await healthyTargets(ctx);
  const waiting: string[] = [];
  for (const role of roles as Role[]) {
    const g = groups.get(role);
    const desired = g?.DesiredCapacity ?? 0;
    const active = (g?.Instances ?? []).filter((i) => !(i.LifecycleState ?? '').startsWith('Terminat'));
    const serving = active.filter((i) => i.LifecycleState === 'InService' && i.HealthStatus === 'Healthy' && (role !== 'web' || healthy.has(i.InstanceId ?? ''))).length;
    if (serving < desired || active.length !== serving) waiting.push(`${fleetOf(ctx.env, role).autoScalingGroupName} ${serving}/${desired} serving, ${active.length - serving} other`);
  }
  if (waiting.length === 0) return STAGE_DONE;
  return waitFor(state, ctx, ctx.env.deploy.timeouts.rolloutMinutes, `the groups to serve with the instances from before the restart (${waiting.join('; ')})`, 15);
};

export const RESTART_COMPENSATION_STEPS: Record<string, Step> = {
  'compensate.restart': stopRestart,
  'compensate.waitRestart': waitRestart,
};
