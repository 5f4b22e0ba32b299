/**
 * EC2 Auto Scaling in the fake cloud: groups keep their desired capacity (launching from
 * their launch template, replacing unhealthy instances, draining from the target group
 * before terminating) and run instance refreshes (min/max healthy, warmup, checkpoints,
 * skip matching, auto-rollback on alarms, cancel, rollback).
 *
 * `registerAutoScaling` registers the Auto Scaling API handlers on the cloud; `tickGroups`
 * moves every group one virtual second (FakeCloud.tick calls it after instances, images,
 * DB snapshots and pending parameters, before the target groups).
 */
import * as asg from '@aws-sdk/client-auto-scaling';
import { TAGS } from '../../names';
import type { FakeCloud } from '../fake-cloud';
import type { Group, GroupInstance, Refresh } from '../model';
import { fail, pad } from './common';
import { resolveVersion, setState } from './ec2';
import { writeBootLog } from './logs';

const SCALING_PROCESSES = new Set([
  'Launch', 'Terminate', 'AddToLoadBalancer', 'AlarmNotification', 'AZRebalance', 'HealthCheck', 'InstanceRefresh',
  'ReplaceUnhealthy', 'ScheduledActions',
]);

const ACTIVE_REFRESH = new Set(['Pending', 'InProgress', 'Cancelling', 'RollbackInProgress', 'Baking']);

// ---------------------------------------------------------------- processes

/** Every group keeps its capacity and runs its instance refresh (one virtual second). */
export function tickGroups(cloud: FakeCloud, now: number): void {
  for (const g of cloud.groups.values()) tickGroup(cloud, g, now);
}

/** In service, healthy (in its target group too, if the group has one) and warmed up for `warmupSeconds`. */
function healthyReady(cloud: FakeCloud, g: Group, gi: GroupInstance, warmupSeconds: number, now: number): boolean {
  if (gi.lifecycle !== 'InService' || gi.health !== 'Healthy') return false;
  if (g.targetGroupArn && cloud.targetGroups.get(g.targetGroupArn)?.get(gi.id)?.state !== 'healthy') return false;
  return now - (gi.inServiceAt ?? now) >= warmupSeconds * 1000;
}

/** Launches one instance of launch template version `version` into the group, if its image can launch. */
function launchInto(cloud: FakeCloud, g: Group, version: string): void {
  const lt = cloud.launchTemplates.get(g.ltId);
  const v = resolveVersion(lt, version);
  const image = v.imageId ?? '';
  const instanceType = v.instanceType ?? 't3.small';
  const launchable = cloud.launchableImage(image, instanceType);
  if (!launchable.ok) {
    // AWS records a failed scaling activity and retries; nothing launches while the image is unusable.
    const key = `${g.name} ${launchable.imageId}`;
    if (!cloud.failedLaunches.has(key)) {
      cloud.failedLaunches.add(key);
      cloud.violations.push(`${g.name} cannot launch: image ${launchable.imageId || image} of its launch template version ${v.number} ${launchable.reason ?? 'is not available'}`);
    }
    return;
  }
  const id = cloud.newInstance({
    // EC2 resolves a `resolve:ssm:` image at launch: the instance runs the AMI the parameter held then.
    imageId: launchable.imageId,
    instanceType,
    tags: { [TAGS.app]: g.tags[TAGS.app] ?? cloud.app, [TAGS.environment]: g.tags[TAGS.environment] ?? cloud.env, [TAGS.role]: g.role, 'aws:autoscaling:groupName': g.name },
    userData: v.userData ?? '',
    shutdownBehavior: 'terminate',
    ltId: g.ltId,
    ltVersion: String(v.number),
    group: g.name,
    ...(v.instanceProfileArn ? { instanceProfileArn: v.instanceProfileArn } : {}),
  });
  g.instances.push({ id, lifecycle: 'Pending', health: 'Healthy', ltVersion: String(v.number), launchedAt: cloud.now() });
}

/** Starts terminating a group instance; its target, if any, drains first (the deregistration delay). */
function startTerminating(cloud: FakeCloud, g: Group, gi: GroupInstance): void {
  if (gi.lifecycle === 'Terminating' || gi.lifecycle === 'Terminated') return;
  gi.lifecycle = 'Terminating';
  gi.terminatingAt = cloud.now();
  const target = g.targetGroupArn ? cloud.targetGroups.get(g.targetGroupArn)?.get(gi.id) : undefined;
  if (target && target.state !== 'draining') {
    target.state = 'draining';
    target.drainingAt = cloud.now();
  }
}

/** The group's Pending (waiting on a hook or not) and InService instances: what counts toward its capacity. */
function activeInstances(g: Group): GroupInstance[] {
  return g.instances.filter((i) => i.lifecycle === 'Pending' || i.lifecycle === 'Pending:Wait' || i.lifecycle === 'InService');
}

/** The instance enters service: registered with the group's target group, health-checked from now. */
function putInService(cloud: FakeCloud, g: Group, gi: GroupInstance, now: number): void {
  gi.lifecycle = 'InService';
  gi.inServiceAt = now;
  if (g.targetGroupArn) cloud.targetGroups.get(g.targetGroupArn)?.set(gi.id, { id: gi.id, state: 'initial', registeredAt: now, passes: 0, fails: 0 });
}

/** The end of a launch hook's wait: CONTINUE puts the instance in service, ABANDON terminates it (the group then launches another). */
function completeLaunch(cloud: FakeCloud, g: Group, gi: GroupInstance, result: 'CONTINUE' | 'ABANDON', now: number): void {
  if (result === 'CONTINUE') putInService(cloud, g, gi, now);
  else startTerminating(cloud, g, gi);
}

/** One second of a group: its instances' lifecycle and health, its active instance refresh, then its desired capacity. */
function tickGroup(cloud: FakeCloud, g: Group, now: number): void {
  const t = cloud.timings;
  for (const gi of g.instances) {
    const ec2i = cloud.instances.get(gi.id);
    if (gi.lifecycle === 'Pending' && ec2i?.state === 'running') {
      writeBootLog(cloud, gi.id, g.role);
      // A launch lifecycle hook holds the instance in Pending:Wait, running but not yet
      // registered with the group's target groups ("How lifecycle hooks work").
      if ((g.launchHooks?.size ?? 0) > 0) {
        gi.lifecycle = 'Pending:Wait';
        gi.waitingSince = now;
      } else {
        putInService(cloud, g, gi, now);
      }
    }
    if (gi.lifecycle === 'Pending:Wait') {
      const hook = [...(g.launchHooks?.values() ?? [])][0];
      if (!hook) putInService(cloud, g, gi, now);
      else if (now - (gi.waitingSince ?? now) >= hook.heartbeatTimeoutSeconds * 1000) completeLaunch(cloud, g, gi, hook.defaultResult, now);
    }
    if ((gi.lifecycle === 'Pending' || gi.lifecycle === 'Pending:Wait' || gi.lifecycle === 'InService') && ec2i && (ec2i.state === 'shutting-down' || ec2i.state === 'terminated')) {
      gi.health = 'Unhealthy';
    }
    if (gi.lifecycle === 'InService' && g.targetGroupArn && now - (gi.inServiceAt ?? now) >= t.healthCheckGracePeriodSeconds * 1000) {
      if (cloud.targetGroups.get(g.targetGroupArn)?.get(gi.id)?.state === 'unhealthy') gi.health = 'Unhealthy';
    }
    if (gi.health === 'Unhealthy' && (gi.lifecycle === 'InService' || gi.lifecycle === 'Pending' || gi.lifecycle === 'Pending:Wait') && !g.suspended.has('ReplaceUnhealthy')) {
      startTerminating(cloud, g, gi);
    }
    if (gi.lifecycle === 'Terminating') {
      const drained = !g.targetGroupArn || now - (gi.terminatingAt ?? now) >= t.deregistrationDelaySeconds * 1000;
      if (drained && ec2i && ec2i.state !== 'shutting-down' && ec2i.state !== 'terminated') setState(cloud, ec2i, 'shutting-down');
      if (ec2i?.state === 'terminated') {
        gi.lifecycle = 'Terminated';
        if (g.targetGroupArn) cloud.targetGroups.get(g.targetGroupArn)?.delete(gi.id);
      }
    }
  }
  g.instances = g.instances.filter((i) => i.lifecycle !== 'Terminated');

  const refresh = g.refreshes.find((r) => ACTIVE_REFRESH.has(r.status));
  if (refresh) tickRefresh(cloud, g, refresh, now);

  const active = activeInstances(g);
  if (active.length < g.desired && !g.suspended.has('Launch')) {
    for (let n = active.length; n < g.desired; n++) launchInto(cloud, g, g.ltVersion);
  } else if (active.length > g.desired && !refresh && !g.suspended.has('Terminate')) {
    const victims = [...active].sort((a, b) => {
      const aOld = a.ltVersion !== g.ltVersion ? 0 : 1;
      const bOld = b.ltVersion !== g.ltVersion ? 0 : 1;
      return aOld - bOld || a.launchedAt - b.launchedAt;
    });
    for (const v of victims.slice(0, active.length - g.desired)) startTerminating(cloud, g, v);
  }
}

/** One second of an instance refresh: cancel, alarms and rollback, checkpoints, replacements within the min/max healthy budget. */
/** Auto Scaling reads a launch template version through EC2: one created seconds ago is not known yet. */
function requireVisibleVersionForGroup(cloud: FakeCloud, ltId: string, version: number): void {
  if (!cloud.visible('launch-template-version', `${ltId}:${version}`)) {
    fail('ValidationError', `The specified launch template version ${version} does not exist for launch template ${ltId}.`);
  }
}

function tickRefresh(cloud: FakeCloud, g: Group, r: Refresh, now: number): void {
  const prefs = r.preferences;
  if (r.status === 'Pending') r.status = 'InProgress';
  if (r.status === 'Cancelling') {
    r.status = 'Cancelled';
    r.reason = 'The instance refresh was cancelled.';
    r.endTime = now;
    return;
  }
  if (r.status === 'InProgress' && prefs.AutoRollback) {
    const firing = (prefs.AlarmSpecification?.Alarms ?? []).find((a) => cloud.alarms.get(a)?.state === 'ALARM');
    if (firing) {
      r.status = 'RollbackInProgress';
      r.rollingBack = true;
      r.reason = `Alarm ${firing} is in ALARM state; rolling back to the previous configuration.`;
    }
  }
  // "InstanceRefresh does not replace instances" while Launch or Terminate is suspended
  // (Auto Scaling guide, "How suspended processes affect other processes"); it waits.
  if (g.suspended.has('Launch') || g.suspended.has('Terminate') || g.suspended.has('InstanceRefresh')) {
    r.reason = `Waiting: the ${['Launch', 'Terminate', 'InstanceRefresh'].filter((p) => g.suspended.has(p)).join(' and ')} process of the group is suspended.`;
    return;
  }
  const target = r.rollingBack ? r.previousVersion : r.desiredVersion;
  const d = g.desired;
  const active = activeInstances(g);
  // Without SkipMatching, every instance launched before the refresh is replaced, even one on
  // the desired version already (RefreshPreferences.SkipMatching: "false" replaces all).
  const isOutdated = (i: GroupInstance) => i.ltVersion !== target || (!prefs.SkipMatching && !r.rollingBack && i.launchedAt < r.startTime);
  const outdated = active.filter(isOutdated);
  // Without a warmup, AWS falls back to the group's health-check grace period.
  const warmup = prefs.InstanceWarmup ?? cloud.timings.healthCheckGracePeriodSeconds;
  // "When the instance's health status changes to healthy and the specified warm-up time passes,
  // the instance is considered updated and is added to the percentage complete"
  // (DescribeInstanceRefreshes, PercentageComplete): a replacement still booting is not done.
  // The warmup is the time a replacement the refresh launched takes to be ready ("it waits for the
  // warm-up period … before it moves on to replacing other instances", InstanceWarmup): an
  // instance that was in service before the refresh counts as healthy as soon as it is.
  const ready = (i: GroupInstance) => healthyReady(cloud, g, i, i.launchedAt >= r.startTime ? warmup : 0, now);
  const updated = active.filter((i) => !outdated.includes(i) && ready(i)).length;
  const unsettled = active.length - outdated.length - updated;
  r.percentage = d === 0 ? 100 : Math.floor((100 * Math.max(0, Math.min(d - outdated.length, updated))) / d);
  // "When all instances are updated, the status changes to Successful" (Auto Scaling guide,
  // "Monitor an instance refresh"), an instance being updated once healthy and warmed up: a group
  // below its desired capacity (replacements that failed their health check and were
  // terminated) is not done.
  if (outdated.length === 0 && unsettled === 0 && updated >= d) {
    r.status = r.rollingBack ? 'RollbackSuccessful' : 'Successful';
    r.percentage = 100;
    r.endTime = now;
    if (!r.rollingBack) g.ltVersion = r.desiredVersion;
    r.reason = r.rollingBack ? r.reason : undefined;
    return;
  }
  if (r.checkpointUntil !== undefined && now < r.checkpointUntil) return;
  const checkpoints = prefs.CheckpointPercentages ?? [];
  const next = checkpoints[r.nextCheckpoint];
  if (!r.rollingBack && next !== undefined && r.percentage >= next) {
    r.nextCheckpoint += 1;
    r.checkpointUntil = now + (prefs.CheckpointDelay ?? 3600) * 1000;
    r.reason = `Waiting for checkpoint at ${next}%`;
    return;
  }
  const minPct = prefs.MinHealthyPercentage ?? 90;
  const maxPct = prefs.MaxHealthyPercentage ?? 100;
  const minHealthy = Math.ceil((d * minPct) / 100);
  const maxCap = maxPct > 100 ? Math.max(d + 1, Math.floor((d * maxPct) / 100)) : d;
  let healthy = active.filter(ready).length;
  // Terminate outdated instances while the healthy count allows it (unhealthy ones first).
  const victims = [...outdated].sort((a, b) => Number(healthyReady(cloud, g, a, 0, now)) - Number(healthyReady(cloud, g, b, 0, now)) || a.launchedAt - b.launchedAt);
  let activeCount = active.length;
  for (const v of victims) {
    const isHealthy = ready(v);
    if (isHealthy && healthy - 1 < minHealthy) break;
    // Launch before terminating (min healthy 100 %): "a new instance must be provisioned first
    // before an existing instance can be terminated", Auto Scaling waiting "for it to be fully
    // ready" (Auto Scaling guide, "Instance maintenance policies"). An outdated instance still
    // booting (Auto Scaling has not found it unhealthy) is left to come into service, not
    // terminated while no replacement is ready.
    if (!isHealthy && minPct >= 100 && v.health === 'Healthy') continue;
    const matchingActive = active.filter((i) => !isOutdated(i) && i.lifecycle !== 'Pending').length;
    if (isHealthy && activeCount - 1 < d && matchingActive === 0 && minPct >= 100) break;
    startTerminating(cloud, g, v);
    activeCount -= 1;
    if (isHealthy) healthy -= 1;
  }
  // The instances just retired may complete a checkpoint's percentage: the refresh pauses there,
  // before it launches the next replacements (it "waits … at each checkpoint" between batches).
  const stillOutdated = activeInstances(g).filter((i) => outdated.includes(i)).length;
  const replacedPct = d === 0 ? 100 : Math.floor((100 * Math.max(0, Math.min(d - stillOutdated, updated))) / d);
  if (!r.rollingBack && next !== undefined && replacedPct >= next && stillOutdated > 0) {
    r.percentage = replacedPct;
    r.nextCheckpoint += 1;
    r.checkpointUntil = now + (prefs.CheckpointDelay ?? 3600) * 1000;
    r.reason = `Waiting for checkpoint at ${next}%`;
    return;
  }
  // Launch replacements within the max healthy budget.
  const matching = activeInstances(g).filter((i) => !isOutdated(i)).length;
  let count = activeInstances(g).length;
  let launches = Math.min(maxCap - count, d - matching);
  while (launches > 0) {
    launchInto(cloud, g, target);
    count += 1;
    launches -= 1;
  }
}

/**
 * The running refresh of group `name` fails (replacements that cannot launch or never become
 * healthy, as AWS may judge): with AutoRollback, Auto Scaling "automatically reverses what was
 * deployed if the instance refresh fails" (Auto Scaling guide, "Undo changes with a manual or
 * auto rollback"); without it, the refresh ends `Failed`. Returns what happened.
 */
export function failRefresh(cloud: FakeCloud, name: string, reason: string): string {
  const g = cloud.groups.get(name);
  const r = g?.refreshes.find((x) => x.status === 'InProgress' || x.status === 'Pending');
  if (!g || !r) return `no running instance refresh on ${name}`;
  if (r.preferences.AutoRollback) {
    r.status = 'RollbackInProgress';
    r.rollingBack = true;
    r.reason = `${reason}; rolling back to the previous configuration.`;
    return `instance refresh ${r.id} of ${name} failed; rolling back`;
  }
  r.status = 'Failed';
  r.reason = reason;
  r.endTime = cloud.now();
  return `instance refresh ${r.id} of ${name} failed`;
}

// ---------------------------------------------------------------- API

/** The group `name`, or Auto Scaling's ValidationError. */
function group(cloud: FakeCloud, name: string | undefined): Group {
  const g = name ? cloud.groups.get(name) : undefined;
  if (!g) fail('ValidationError', `AutoScalingGroup name not found - AutoScalingGroup ${name} not found`);
  return g;
}

/** Registers the Auto Scaling API handlers on `cloud`. */
export function registerAutoScaling(cloud: FakeCloud): void {
  cloud.on('autoScaling', asg.DescribeAutoScalingGroupsCommand, (input) => {
    if (input.MaxRecords !== undefined && (input.MaxRecords < 1 || input.MaxRecords > 100)) fail('ValidationError', `MaxRecords must be between 1 and 100 (received ${input.MaxRecords})`);
    const names = input.AutoScalingGroupNames ?? [...cloud.groups.keys()];
    const found = names
      .map((n) => cloud.groups.get(n))
      .filter((g): g is Group => g !== undefined)
      .filter((g) =>
        (input.Filters ?? []).every((f) => {
          if (!f.Name || !f.Values) fail('ValidationError', 'A filter needs a Name and Values');
          if (f.Name.startsWith('tag:')) return f.Values.includes(g.tags[f.Name.slice(4)] ?? '\u0000');
          if (f.Name === 'tag-key') return Object.keys(g.tags).some((k) => f.Values?.includes(k));
          if (f.Name === 'tag-value') return Object.values(g.tags).some((v) => f.Values?.includes(v));
          fail('ValidationError', `Filter name ${f.Name} is not supported`);
        }),
      );
    const start = input.NextToken ? Number(input.NextToken) : 0;
    if (!Number.isInteger(start) || start < 0 || start > found.length) fail('InvalidNextToken', `The token ${input.NextToken} is invalid`);
    const size = input.MaxRecords ?? 50;
    const next = start + size < found.length ? String(start + size) : undefined;
    return {
      ...(next ? { NextToken: next } : {}),
      AutoScalingGroups: found
        .slice(start, start + size)
        .map((g) => ({
          AutoScalingGroupName: g.name,
          LaunchTemplate: { LaunchTemplateId: g.ltId, Version: g.ltVersion },
          MinSize: g.min,
          MaxSize: g.max,
          DesiredCapacity: g.desired,
          DefaultCooldown: 300,
          AvailabilityZones: ['eu-west-1a', 'eu-west-1b'],
          HealthCheckType: g.targetGroupArn ? 'ELB' : 'EC2',
          CreatedTime: new Date(0),
          TargetGroupARNs: g.targetGroupArn ? [g.targetGroupArn] : [],
          SuspendedProcesses: [...g.suspended].map((p) => ({ ProcessName: p })),
          Tags: Object.entries(g.tags).map(([Key, Value]) => ({ Key, Value, ResourceId: g.name, ResourceType: 'auto-scaling-group', PropagateAtLaunch: true })),
          Instances: g.instances.map((i) => ({
            InstanceId: i.id,
            LifecycleState: (i.lifecycle === 'Terminating' ? 'Terminating' : i.lifecycle) as asg.LifecycleState,
            HealthStatus: i.health,
            AvailabilityZone: 'eu-west-1a',
            ProtectedFromScaleIn: false,
            LaunchTemplate: { LaunchTemplateId: g.ltId, Version: i.ltVersion },
          })),
        })),
    };
  });

  cloud.on('autoScaling', asg.UpdateAutoScalingGroupCommand, (input) => {
    const g = group(cloud, input.AutoScalingGroupName);
    if (input.LaunchTemplate) {
      if (input.LaunchTemplate.LaunchTemplateId !== g.ltId) fail('ValidationError', `Launch template ${input.LaunchTemplate.LaunchTemplateId} is not the group's`);
      const v = resolveVersion(cloud.launchTemplates.get(g.ltId), input.LaunchTemplate.Version);
      requireVisibleVersionForGroup(cloud, g.ltId, v.number);
      // Instance refresh, limitations: the launch template of a group whose refresh has a desired configuration cannot change until it ends.
      const refreshing = g.refreshes.find((r) => ACTIVE_REFRESH.has(r.status));
      if (refreshing && String(v.number) !== g.ltVersion) {
        fail('ValidationError', `An active instance refresh with a desired configuration exists. All configuration options derived from the desired configuration are not available for update while the instance refresh is active (${refreshing.id}).`);
      }
      g.ltVersion = input.LaunchTemplate.Version === '$Latest' || input.LaunchTemplate.Version === '$Default' ? input.LaunchTemplate.Version : String(v.number);
    }
    const min = input.MinSize ?? g.min;
    const max = input.MaxSize ?? g.max;
    const desired = input.DesiredCapacity ?? g.desired;
    if (min > max) fail('ValidationError', `Max bound, ${max}, must be greater than or equal to min bound, ${min}`);
    if (desired < min || desired > max) fail('ValidationError', `Desired capacity:${desired} must be between the specified min size:${min} and max size:${max}`);
    Object.assign(g, { min, max, desired });
    return {};
  });

  cloud.on('autoScaling', asg.SuspendProcessesCommand, (input) => {
    const g = group(cloud, input.AutoScalingGroupName);
    for (const p of input.ScalingProcesses ?? SCALING_PROCESSES) {
      if (!SCALING_PROCESSES.has(p)) fail('ValidationError', `Unknown scaling process ${p}`);
      g.suspended.add(p);
    }
    return {};
  });

  cloud.on('autoScaling', asg.ResumeProcessesCommand, (input) => {
    const g = group(cloud, input.AutoScalingGroupName);
    for (const p of input.ScalingProcesses ?? [...g.suspended]) {
      if (!SCALING_PROCESSES.has(p)) fail('ValidationError', `Unknown scaling process ${p}`);
      g.suspended.delete(p);
    }
    return {};
  });

  cloud.on('autoScaling', asg.TerminateInstanceInAutoScalingGroupCommand, (input) => {
    const g = [...cloud.groups.values()].find((x) => x.instances.some((i) => i.id === input.InstanceId));
    const gi = g?.instances.find((i) => i.id === input.InstanceId);
    if (!g || !gi) fail('ValidationError', `Instance Id not found - No managed instance found for instance ID: ${input.InstanceId}`);
    if (input.ShouldDecrementDesiredCapacity === undefined) fail('ValidationError', 'ShouldDecrementDesiredCapacity is required');
    if (gi.lifecycle === 'Terminating') fail('ValidationError', `The instance ${gi.id} is already terminating`);
    if (input.ShouldDecrementDesiredCapacity) {
      if (g.desired - 1 < g.min) {
        fail('ValidationError', `Currently, desiredSize equals minSize (${g.min}). Terminating instance without replacement will violate group's min size constraint. Either set shouldDecrementDesiredCapacity flag to false or lower group's min size.`);
      }
      g.desired -= 1;
    }
    startTerminating(cloud, g, gi);
    return { Activity: { ActivityId: cloud.nextId('act'), AutoScalingGroupName: g.name, Cause: 'user request', StartTime: new Date(cloud.now()), StatusCode: 'InProgress' as const } };
  });

  // Lifecycle hooks (PutLifecycleHook, DeleteLifecycleHook, DescribeLifecycleHooks,
  // CompleteLifecycleAction in the Auto Scaling API reference): launch hooks only, which is
  // what herd uses. HeartbeatTimeout 30 to 7200 seconds (default 3600); DefaultResult
  // CONTINUE or ABANDON (default ABANDON).
  cloud.on('autoScaling', asg.PutLifecycleHookCommand, (input) => {
    const g = group(cloud, input.AutoScalingGroupName);
    const name = input.LifecycleHookName ?? '';
    if (!/^[A-Za-z0-9\-_/]{1,255}$/.test(name)) fail('ValidationError', `LifecycleHookName ${JSON.stringify(name)} is not valid`);
    const hooks = (g.launchHooks ??= new Map());
    if (!hooks.has(name) && input.LifecycleTransition !== 'autoscaling:EC2_INSTANCE_LAUNCHING') {
      fail('ValidationError', `herd's fake models launch hooks only (received ${input.LifecycleTransition})`);
    }
    const timeout = input.HeartbeatTimeout ?? hooks.get(name)?.heartbeatTimeoutSeconds ?? 3600;
    if (timeout < 30 || timeout > 7200) fail('ValidationError', `HeartbeatTimeout must be between 30 and 7200 (received ${timeout})`);
    const result = input.DefaultResult ?? hooks.get(name)?.defaultResult ?? 'ABANDON';
    if (result !== 'CONTINUE' && result !== 'ABANDON') fail('ValidationError', `DefaultResult must be CONTINUE or ABANDON (received ${result})`);
    if (!hooks.has(name) && hooks.size >= 50) fail('LimitExceeded', 'You have reached the limit of 50 lifecycle hooks for the group');
    hooks.set(name, { name, heartbeatTimeoutSeconds: timeout, defaultResult: result });
    return {};
  });

  cloud.on('autoScaling', asg.DescribeLifecycleHooksCommand, (input) => {
    const g = group(cloud, input.AutoScalingGroupName);
    const hooks = [...(g.launchHooks?.values() ?? [])].filter((h) => !input.LifecycleHookNames || input.LifecycleHookNames.includes(h.name));
    return {
      LifecycleHooks: hooks.map((h) => ({
        LifecycleHookName: h.name, AutoScalingGroupName: g.name, LifecycleTransition: 'autoscaling:EC2_INSTANCE_LAUNCHING',
        HeartbeatTimeout: h.heartbeatTimeoutSeconds, DefaultResult: h.defaultResult,
      })),
    };
  });

  cloud.on('autoScaling', asg.DeleteLifecycleHookCommand, (input) => {
    const g = group(cloud, input.AutoScalingGroupName);
    if (!g.launchHooks?.delete(input.LifecycleHookName ?? '')) fail('ValidationError', `No Lifecycle Hook found with name ${input.LifecycleHookName} for group ${g.name}`);
    // Instances no hook holds any more go on into service (herd completes each one first).
    return {};
  });

  cloud.on('autoScaling', asg.CompleteLifecycleActionCommand, (input) => {
    const g = group(cloud, input.AutoScalingGroupName);
    if (!g.launchHooks?.has(input.LifecycleHookName ?? '')) fail('ValidationError', `No Lifecycle Hook found with name ${input.LifecycleHookName} for group ${g.name}`);
    const result = input.LifecycleActionResult;
    if (result !== 'CONTINUE' && result !== 'ABANDON') fail('ValidationError', `LifecycleActionResult must be CONTINUE or ABANDON (received ${result})`);
    const gi = g.instances.find((i) => i.id === input.InstanceId);
    if (!gi || gi.lifecycle !== 'Pending:Wait') fail('ValidationError', `No active Lifecycle Action found with instance ID ${input.InstanceId}`);
    completeLaunch(cloud, g, gi, result, cloud.now());
    return {};
  });

  cloud.on('autoScaling', asg.StartInstanceRefreshCommand, (input) => {
    const g = group(cloud, input.AutoScalingGroupName);
    if (g.refreshes.some((r) => ACTIVE_REFRESH.has(r.status))) {
      fail('InstanceRefreshInProgressFault', 'An Instance Refresh is already in progress and blocks the execution of this Instance Refresh.');
    }
    const p = input.Preferences ?? {};
    const min = p.MinHealthyPercentage ?? 90;
    const max = p.MaxHealthyPercentage ?? 100;
    if (min < 0 || min > 100) fail('ValidationError', `MinHealthyPercentage must be between 0 and 100 (received ${min})`);
    if (max < 100 || max > 200) fail('ValidationError', `MaxHealthyPercentage must be between 100 and 200 (received ${max})`);
    if (max - min > 100) fail('ValidationError', 'The difference between MaxHealthyPercentage and MinHealthyPercentage must not exceed 100');
    if (min === 100 && max === 100) fail('ValidationError', 'MaxHealthyPercentage must be greater than 100 when MinHealthyPercentage is 100');
    const cps = p.CheckpointPercentages ?? [];
    if (cps.some((c, i) => c < 1 || c > 100 || (i > 0 && c <= (cps[i - 1] ?? 0)))) fail('ValidationError', 'CheckpointPercentages must be increasing values from 1 to 100');
    for (const a of p.AlarmSpecification?.Alarms ?? []) if (!cloud.alarms.has(a)) fail('ValidationError', `Alarm ${a} does not exist`);
    const dc = input.DesiredConfiguration?.LaunchTemplate;
    if (dc && dc.LaunchTemplateId !== g.ltId) fail('ValidationError', `Launch template ${dc.LaunchTemplateId} is not the group's`);
    const lt = cloud.launchTemplates.get(g.ltId);
    const desired = dc ? resolveVersion(lt, dc.Version) : undefined;
    if (desired) requireVisibleVersionForGroup(cloud, g.ltId, desired.number);
    if (p.AutoRollback) {
      if (!dc) fail('ValidationError', 'AutoRollback requires a desired configuration');
      if (!/^\d+$/.test(dc.Version ?? '') || !/^\d+$/.test(g.ltVersion)) fail('ValidationError', 'AutoRollback is not supported with $Latest or $Default launch template versions');
      // Rolling back returns the group to its current version: both ends must name a literal AMI.
      const current = resolveVersion(lt, g.ltVersion);
      for (const [which, v] of [['desired', desired], ['current', current]] as const) {
        if (!v?.imageId?.startsWith('ami-')) {
          fail('ValidationError', `AutoRollback is not supported when the launch template (${which} version ${v?.number}) uses an SSM parameter instead of an AMI ID for its image`);
        }
      }
    }
    const r: Refresh = {
      id: `${pad(cloud.seq++, 8)}-refresh-${g.name}`,
      group: g.name,
      status: 'Pending',
      desiredVersion: desired ? String(desired.number) : g.ltVersion,
      previousVersion: g.ltVersion,
      preferences: p,
      startTime: cloud.now(),
      percentage: 0,
      nextCheckpoint: 0,
      rollingBack: false,
      toUpdate: activeInstances(g).length,
    };
    g.refreshes.unshift(r);
    return { InstanceRefreshId: r.id };
  });

  cloud.on('autoScaling', asg.DescribeInstanceRefreshesCommand, (input) => {
    const g = group(cloud, input.AutoScalingGroupName);
    let list = g.refreshes;
    if (input.InstanceRefreshIds) list = list.filter((r) => input.InstanceRefreshIds?.includes(r.id));
    return {
      InstanceRefreshes: list.slice(0, input.MaxRecords ?? 50).map((r) => ({
        InstanceRefreshId: r.id,
        AutoScalingGroupName: g.name,
        Status: r.status as asg.InstanceRefreshStatus,
        ...(r.reason ? { StatusReason: r.reason } : {}),
        StartTime: new Date(r.startTime),
        ...(r.endTime !== undefined ? { EndTime: new Date(r.endTime) } : {}),
        PercentageComplete: r.percentage,
        InstancesToUpdate: Math.max(0, r.toUpdate - Math.floor((r.toUpdate * r.percentage) / 100)),
        Preferences: r.preferences,
        DesiredConfiguration: { LaunchTemplate: { LaunchTemplateId: g.ltId, Version: r.desiredVersion } },
      })),
    };
  });

  cloud.on('autoScaling', asg.CancelInstanceRefreshCommand, (input) => {
    const g = group(cloud, input.AutoScalingGroupName);
    const r = g.refreshes.find((x) => x.status === 'InProgress' || x.status === 'Pending' || x.status === 'RollbackInProgress');
    if (!r) fail('ActiveInstanceRefreshNotFoundFault', 'No in progress or pending Instance Refresh found for Auto Scaling group');
    r.status = 'Cancelling';
    return { InstanceRefreshId: r.id };
  });

  cloud.on('autoScaling', asg.RollbackInstanceRefreshCommand, (input) => {
    const g = group(cloud, input.AutoScalingGroupName);
    const r = g.refreshes.find((x) => x.status === 'InProgress' || x.status === 'Pending');
    if (!r) fail('ActiveInstanceRefreshNotFoundFault', 'No in progress or pending Instance Refresh found for Auto Scaling group');
    if (!/^\d+$/.test(r.previousVersion)) fail('IrreversibleInstanceRefreshFault', 'The previous configuration uses $Latest or $Default and cannot be rolled back to');
    r.status = 'RollbackInProgress';
    r.rollingBack = true;
    r.reason = 'Rollback requested by user';
    return { InstanceRefreshId: r.id };
  });
}
