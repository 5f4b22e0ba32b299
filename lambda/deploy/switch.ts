/**
 * `full` deploys that boot the new web fleet before the maintenance page goes up, and switch
 * the load balancer to it in one call.
 *
 * Design. One Auto Scaling group per role stays (the stack, `herd scale`, `herd status`,
 * `herd fleet`, the alarms and the dashboard keep naming one group and one target group).
 * The stack adds a second, staging target group (`WebNext`, `lib/load-balancer.ts`) that no
 * group is attached to, behind a listener rule no client matches (ELB health-checks only the
 * targets of a group a listener rule forwards to: "Target groups for your Application Load
 * Balancers"). What a deploy changes is undone before it ends: at rest the listener forwards
 * to the web target group and the staging group is empty, as in the template, so a later
 * `cdk deploy` has nothing to move back (CloudFormation updates a resource only when its
 * template changes, and then to the template).
 *
 * 1. `stage.*`, page down, the previous release serving: a launch lifecycle hook
 *    (`PutLifecycleHook`, `autoscaling:EC2_INSTANCE_LAUNCHING`) is put on the web group, the
 *    group is pointed at the new launch-template version and scaled out by the target count.
 *    Auto Scaling holds the new instances in `Pending:Wait`: running (the app boots) but not
 *    registered with the group's target group, which it does only once the lifecycle action
 *    completes ("How lifecycle hooks work in Amazon EC2 Auto Scaling groups"). The step
 *    registers them in the staging group and waits for them to be healthy there. One that
 *    stays unhealthy past the health-check grace period is abandoned (`CompleteLifecycleAction`
 *    ABANDON: Auto Scaling terminates it and launches another), which the diagnosis counts as
 *    a failed instance as it does for a rolling deploy. Then the old workers stop (their group
 *    to 0, `FULL_SUSPENDED_PROCESSES` suspended): jobs wait in their queue, and no old worker
 *    runs against the schema the migration is about to change.
 * 2. `maintenance.on`, then `migrate` (order `maintenance`): the window holds only these.
 * 3. `switch.listener`: the listener's default action forwards to the staging group
 *    (`ModifyListener`, one call), and the bypass rules too. Then the worker group moves to
 *    the new version at its target: new workers boot after the migration. (Order `after`:
 *    the migration runs after the switch, inside the window.) Page down after the hold.
 * 4. `settle.*`, the new release serving from the staging group: the old web instances are
 *    terminated (they drain from the web target group, which serves no request now), the
 *    lifecycle actions of the new ones complete with CONTINUE, so Auto Scaling registers them
 *    in the web target group; once healthy there the listener forwards to it again (one call:
 *    the same instances serve), they are deregistered from the staging group (they drain for
 *    the deregistration delay), the hook is deleted and the groups get their configured
 *    bounds back.
 *
 * Failures. Before the switch the old fleet serves throughout: compensation terminates the
 * new instances, gives the groups back their capacity (old workers relaunch at the previous
 * version), deregisters the staging targets and deletes the hook. After the switch and before
 * the old web instances are retired, switching back is one call (`ModifyListener` to the web
 * target group, where the old fleet still is) and the rest as before the switch. Once they
 * are being retired, compensation finishes the settle (the new fleet into the web target
 * group, the listener back) and then rolls back by instance refresh as any `full` deploy
 * whose old instances are gone. A dead execution (the reaper compensates its last state):
 * each compensation step reads what AWS shows (the listener's target group, the hook, the
 * instances), not only what the state recorded, so a call that landed without its result
 * being recorded is undone too. The hook's default result is ABANDON after its heartbeat
 * timeout (two hours, the most Auto Scaling allows): new instances nobody completes are
 * terminated rather than put in service next to the old fleet.
 *
 * Consequences: a release's health check must not need its own migrations (the new code
 * boots and is health-checked before they run), and in `full` mode workers are stopped from
 * the page going up until the switch.
 */
import {
  CompleteLifecycleActionCommand,
  DeleteLifecycleHookCommand,
  DescribeLifecycleHooksCommand,
  PutLifecycleHookCommand,
  SuspendProcessesCommand,
  TerminateInstanceInAutoScalingGroupCommand,
  UpdateAutoScalingGroupCommand,
  type AutoScalingGroup,
} from '@aws-sdk/client-auto-scaling';
import {
  DeregisterTargetsCommand,
  DescribeListenersCommand,
  DescribeRulesCommand,
  DescribeTargetHealthCommand,
  ModifyListenerCommand,
  ModifyRuleCommand,
  RegisterTargetsCommand,
  type TargetHealth,
} from '@aws-sdk/client-elastic-load-balancing-v2';
import { BYPASS_CIDR_PRIORITY, BYPASS_HEADER_PRIORITY } from '../../lib/names';
import { DeployFailure } from './errors';
import { FAILING_REASONS, DIAGNOSED_STEP, watchNewInstances } from './diagnose';
import { FULL_SUSPENDED_PROCESSES, describeGroups, recordGroups, restoreGroup, scaleOutGroups, withinFloor } from './rollout';
import type { DeployState, SwitchState } from './state';
import { WORKER_STOP_MINUTES } from './budget';
import { STAGE_DONE, fleetOf, waitFor, type AdvanceContext, type Step } from './step';

/** The most Auto Scaling allows a lifecycle hook's heartbeat timeout (PutLifecycleHook HeartbeatTimeout: 30 to 7200 seconds). */
/**
 * First poll interval of the settle waits (the page is down and the new release serves: no
 * one waits on them), slower than the staging waits to keep the worst-case execution within
 * its history budget (`budget.ts`).
 */
export const SETTLE_POLL_SECONDS = 30;

/** First poll interval of the staged fleet's health: before the page goes up, so it never lengthens the window. */
export const STAGE_POLL_SECONDS = 20;

export const STAGE_HOOK_TIMEOUT_SECONDS = 7200;

/** Seconds a staged instance may fail its checks before it is abandoned, when the environment does not say (the ALB-backed group's grace period). */
export const DEFAULT_STAGE_GRACE_SECONDS = 300;

/** The launch hook of a deploy: one per deploy, so a hook left by another is never taken for this one's. */
export function stageHookName(deployId: string): string {
  return `herd-stage-${deployId}`;
}

function staging(ctx: AdvanceContext): string {
  const arn = ctx.env.loadBalancer.stagingTargetGroupArn;
  if (!arn) throw new DeployFailure('this environment has no staging target group (loadBalancer.stagingTargetGroupArn): update its stack');
  return arn;
}

function switchState(state: DeployState): SwitchState {
  const full = (state.full ??= {});
  return (full.switch ??= { registered: {} });
}

/** The web group's instances of the new release: not recorded as old, on this deploy's version, not terminating. */
function newWebInstances(state: DeployState, group: AutoScalingGroup | undefined): { id: string; state: string }[] {
  const old = new Set(state.full?.groups?.web?.oldInstanceIds ?? []);
  const version = state.next?.versions.web;
  return (group?.Instances ?? [])
    .filter((i) => i.InstanceId && !old.has(i.InstanceId) && i.LaunchTemplate?.Version === version && !(i.LifecycleState ?? '').startsWith('Terminating'))
    .map((i) => ({ id: i.InstanceId ?? '', state: i.LifecycleState ?? '' }));
}

async function targetHealth(ctx: AdvanceContext, targetGroupArn: string): Promise<Map<string, TargetHealth | undefined>> {
  const res = await ctx.clients.elbv2.send(new DescribeTargetHealthCommand({ TargetGroupArn: targetGroupArn }));
  return new Map((res.TargetHealthDescriptions ?? []).map((t) => [t.Target?.Id ?? '', t.TargetHealth]));
}

/** The web instances to bring up: the serving count raised to the floor (`replace.record`). */
function webTarget(state: DeployState): number {
  const g = state.full?.groups?.web;
  return g?.target ?? g?.desired ?? 0;
}

const stageRecord: Step = async (state, ctx) => {
  staging(ctx);
  await recordGroups(state, ctx);
  switchState(state);
  return { goto: 'stage.hook' };
};

/** The hook goes on before the scale-out, so no new instance enters the web target group. */
const stageHook: Step = async (state, ctx) => {
  const sw = switchState(state);
  // Recorded before the call: a call that lands without its result recorded is still undone.
  sw.hooked = true;
  await ctx.clients.autoScaling.send(new PutLifecycleHookCommand({
    AutoScalingGroupName: fleetOf(ctx.env, 'web').autoScalingGroupName,
    LifecycleHookName: stageHookName(state.deployId),
    LifecycleTransition: 'autoscaling:EC2_INSTANCE_LAUNCHING',
    HeartbeatTimeout: STAGE_HOOK_TIMEOUT_SECONDS,
    DefaultResult: 'ABANDON',
  }));
  return { goto: 'stage.scaleOut' };
};

const stageScaleOut: Step = async (state, ctx) => {
  await scaleOutGroups(state, ctx, ['web']);
  return { goto: 'stage.waitNew' };
};

/**
 * Registers each new web instance the hook holds in the staging group, and waits until the
 * target count is healthy there. One unhealthy past the grace period is abandoned (Auto
 * Scaling launches another); the diagnosis stops the deploy after `maxFailedInstances`.
 */
const stageWaitNew: Step = async (state, ctx) => {
  const sw = switchState(state);
  const arn = staging(ctx);
  const web = (await describeGroups(ctx, ['web'])).get('web');
  const fresh = newWebInstances(state, web).filter((i) => i.state === 'Pending:Wait');
  const health = await targetHealth(ctx, arn);
  const unregistered = fresh.filter((i) => !health.has(i.id) || health.get(i.id)?.State === 'draining');
  if (unregistered.length > 0) {
    await ctx.clients.elbv2.send(new RegisterTargetsCommand({ TargetGroupArn: arn, Targets: unregistered.map((i) => ({ Id: i.id })) }));
    for (const i of unregistered) sw.registered[i.id] = ctx.clock.now();
  }
  const want = webTarget(state);
  const ready = fresh.filter((i) => health.get(i.id)?.State === 'healthy').length;
  if (ready >= want) return { goto: 'stage.stopWorkers' };
  const version = state.next?.versions.web ?? '';
  const seen = await watchNewInstances(state, ctx, 'web', version, arn);
  if (seen === 'stop') return { goto: DIAGNOSED_STEP };
  const grace = (ctx.env.loadBalancer.stagingGraceSeconds ?? DEFAULT_STAGE_GRACE_SECONDS) * 1000;
  for (const i of fresh) {
    const h = health.get(i.id);
    const since = sw.registered[i.id];
    if (h?.State !== 'unhealthy' || !FAILING_REASONS.has(h.Reason ?? '') || since === undefined || ctx.clock.now() - since < grace) continue;
    // Auto Scaling does not health-check an instance a hook holds: herd gives up on it as Auto Scaling would on an unhealthy one.
    await ctx.clients.autoScaling.send(new CompleteLifecycleActionCommand({
      AutoScalingGroupName: fleetOf(ctx.env, 'web').autoScalingGroupName,
      LifecycleHookName: stageHookName(state.deployId),
      InstanceId: i.id,
      LifecycleActionResult: 'ABANDON',
    }));
  }
  const wait = waitFor(state, ctx, ctx.env.deploy.timeouts.rolloutMinutes, `the new web fleet to be healthy in the staging target group (${ready}/${want})`, STAGE_POLL_SECONDS);
  return seen === 'watching' && 'poll' in wait ? { poll: Math.min(wait.poll, 10) } : wait;
};

/** The old workers stop before the page goes up (and the migration with it): their group to 0, herd's processes suspended. */
const stageStopWorkers: Step = async (state, ctx) => {
  const snapshot = state.full?.groups?.worker;
  const f = ctx.env.fleets.worker;
  if (!snapshot || !f) return STAGE_DONE;
  const sw = switchState(state);
  sw.workersStopped = true;
  const suspend = snapshot.suspendedByHerd ?? FULL_SUSPENDED_PROCESSES;
  if (suspend.length > 0) await ctx.clients.autoScaling.send(new SuspendProcessesCommand({ AutoScalingGroupName: f.autoScalingGroupName, ScalingProcesses: [...suspend] }));
  await ctx.clients.autoScaling.send(new UpdateAutoScalingGroupCommand({ AutoScalingGroupName: f.autoScalingGroupName, MinSize: 0, DesiredCapacity: 0 }));
  return { goto: 'stage.waitWorkersStopped' };
};

const stageWaitWorkersStopped: Step = async (state, ctx) => {
  const worker = (await describeGroups(ctx, ['worker'])).get('worker');
  const left = (worker?.Instances ?? []).length;
  if (left === 0) return STAGE_DONE;
  return waitFor(state, ctx, WORKER_STOP_MINUTES, `the old workers to stop (${left} left)`, 5);
};

/** Rules of the listener that forward to `from`: the bypass rules (the staging rule forwards to the staging group, the page answers itself). */
async function bypassRules(ctx: AdvanceContext, from: string): Promise<string[]> {
  const res = await ctx.clients.elbv2.send(new DescribeRulesCommand({ ListenerArn: ctx.env.loadBalancer.listenerArn }));
  return (res.Rules ?? [])
    .filter((r) => [String(BYPASS_HEADER_PRIORITY), String(BYPASS_CIDR_PRIORITY)].includes(r.Priority ?? ''))
    .filter((r) => (r.Actions ?? []).some((a) => a.Type === 'forward' && (a.TargetGroupArn === from || a.ForwardConfig?.TargetGroups?.some((t) => t.TargetGroupArn === from))))
    .map((r) => r.RuleArn ?? '')
    .filter(Boolean);
}

/** The target group the listener's default action forwards to. */
export async function listenerTarget(ctx: AdvanceContext): Promise<string | undefined> {
  const res = await ctx.clients.elbv2.send(new DescribeListenersCommand({ ListenerArns: [ctx.env.loadBalancer.listenerArn] }));
  const action = res.Listeners?.[0]?.DefaultActions?.find((a) => a.Type === 'forward');
  return action?.TargetGroupArn ?? action?.ForwardConfig?.TargetGroups?.[0]?.TargetGroupArn;
}

/**
 * Points the listener's default action (one call: requests go to the new group from then on)
 * and then the bypass rules at target group `to`, and the staging rule at `from`: ELB
 * health-checks only groups a rule forwards to, and the group that serves nothing must stay
 * checked (the new fleet's instances go into the web target group while the listener
 * forwards to the staging one). Idempotent.
 */
export async function forwardTo(ctx: AdvanceContext, to: string, from: string): Promise<void> {
  if ((await listenerTarget(ctx)) !== to) {
    await ctx.clients.elbv2.send(new ModifyListenerCommand({ ListenerArn: ctx.env.loadBalancer.listenerArn, DefaultActions: [{ Type: 'forward', TargetGroupArn: to }] }));
  }
  for (const ruleArn of await bypassRules(ctx, from)) {
    await ctx.clients.elbv2.send(new ModifyRuleCommand({ RuleArn: ruleArn, Actions: [{ Type: 'forward', TargetGroupArn: to }] }));
  }
  const stagingRule = ctx.env.loadBalancer.stagingRuleArn;
  if (stagingRule) await ctx.clients.elbv2.send(new ModifyRuleCommand({ RuleArn: stagingRule, Actions: [{ Type: 'forward', TargetGroupArn: from }] }));
}

/**
 * The switch: only if the new fleet is still healthy in the staging group (an instance the hook
 * timed out on is gone); otherwise the deploy fails with the old fleet serving.
 */
const switchListener: Step = async (state, ctx) => {
  const sw = switchState(state);
  const arn = staging(ctx);
  if (!sw.switched) {
    const web = (await describeGroups(ctx, ['web'])).get('web');
    const health = await targetHealth(ctx, arn);
    const ready = newWebInstances(state, web).filter((i) => health.get(i.id)?.State === 'healthy').length;
    const want = webTarget(state);
    if (ready < want) throw new DeployFailure(`only ${ready} of ${want} new web instances are healthy in the staging target group: not switching; the previous release keeps serving`);
    sw.switched = true;
    sw.switchedAt = ctx.clock.now();
  }
  await forwardTo(ctx, arn, ctx.env.loadBalancer.targetGroupArn);
  return { goto: 'switch.startWorkers' };
};

/** New workers boot now, after the migration: the worker group on the new version at its target and configured bounds. */
const switchStartWorkers: Step = async (state, ctx) => {
  const snapshot = state.full?.groups?.worker;
  const f = ctx.env.fleets.worker;
  const version = state.next?.versions.worker;
  if (!snapshot || !f || !version) return STAGE_DONE;
  switchState(state).workersStarted = true;
  await ctx.clients.autoScaling.send(new UpdateAutoScalingGroupCommand({
    AutoScalingGroupName: f.autoScalingGroupName,
    LaunchTemplate: { LaunchTemplateId: f.launchTemplateId, Version: version },
    MinSize: f.minCapacity,
    MaxSize: f.maxCapacity,
    DesiredCapacity: withinFloor(f, snapshot.target ?? snapshot.desired),
  }));
  return STAGE_DONE;
};

/** Whether the new web fleet serves from the staging group at its target count (`maintenance.off` waits for it). */
export async function stagedServing(state: DeployState, ctx: AdvanceContext): Promise<{ settled: boolean; shown: string }> {
  const web = (await describeGroups(ctx, ['web'])).get('web');
  const health = await targetHealth(ctx, staging(ctx));
  const ready = newWebInstances(state, web).filter((i) => health.get(i.id)?.State === 'healthy').length;
  const want = webTarget(state);
  return { settled: ready >= want, shown: `${ready}/${want} healthy in the staging target group` };
}

/** The old web instances go (they serve nothing: the listener forwards to the staging group). */
const settleRetireOld: Step = async (state, ctx) => {
  const sw = switchState(state);
  sw.retiring = true;
  state.full = { ...state.full, oldTerminated: true };
  const web = (await describeGroups(ctx, ['web'])).get('web');
  const old = new Set(state.full.groups?.web?.oldInstanceIds ?? []);
  for (const i of web?.Instances ?? []) {
    if (!i.InstanceId || !old.has(i.InstanceId) || (i.LifecycleState ?? '').startsWith('Terminating')) continue;
    await ctx.clients.autoScaling.send(new TerminateInstanceInAutoScalingGroupCommand({ InstanceId: i.InstanceId, ShouldDecrementDesiredCapacity: true }));
  }
  return { goto: 'settle.continue' };
};

/** Completes the new instances' lifecycle actions: Auto Scaling puts them in service and registers them in the web target group. */
export async function continueStaged(state: DeployState, ctx: AdvanceContext): Promise<void> {
  const web = (await describeGroups(ctx, ['web'])).get('web');
  for (const i of newWebInstances(state, web).filter((x) => x.state === 'Pending:Wait')) {
    try {
      await ctx.clients.autoScaling.send(new CompleteLifecycleActionCommand({
        AutoScalingGroupName: fleetOf(ctx.env, 'web').autoScalingGroupName,
        LifecycleHookName: stageHookName(state.deployId),
        InstanceId: i.id,
        LifecycleActionResult: 'CONTINUE',
      }));
    } catch (err) {
      // A retried call: the action completed already.
      if (!(err instanceof Error && err.name === 'ValidationError' && /No active Lifecycle Action/i.test(err.message))) throw err;
    }
  }
}

const settleContinue: Step = async (state, ctx) => {
  await continueStaged(state, ctx);
  return { goto: 'settle.waitActive' };
};

/** Whether the new web fleet is in service and healthy in the web target group at its target count. */
export async function activeReady(state: DeployState, ctx: AdvanceContext): Promise<{ ready: boolean; shown: string }> {
  const groups = await describeGroups(ctx, ctx.env.fleets.worker ? ['web', 'worker'] : ['web']);
  const health = await targetHealth(ctx, ctx.env.loadBalancer.targetGroupArn);
  const web = groups.get('web');
  const inA = newWebInstances(state, web).filter((i) => i.state === 'InService' && health.get(i.id)?.State === 'healthy').length;
  const want = webTarget(state);
  const shown = [`web ${inA}/${want} healthy in the web target group`];
  let ready = inA >= want;
  const workerSnapshot = state.full?.groups?.worker;
  const f = ctx.env.fleets.worker;
  if (workerSnapshot && f) {
    const version = state.next?.versions.worker;
    const wantWorkers = withinFloor(f, workerSnapshot.target ?? workerSnapshot.desired);
    const workers = (groups.get('worker')?.Instances ?? []).filter((i) => i.LaunchTemplate?.Version === version && i.LifecycleState === 'InService' && i.HealthStatus === 'Healthy').length;
    shown.push(`worker ${workers}/${wantWorkers} in service`);
    ready &&= workers >= wantWorkers;
  }
  return { ready, shown: shown.join(', ') };
}

const settleWaitActive: Step = async (state, ctx) => {
  const { ready, shown } = await activeReady(state, ctx);
  if (ready) return { goto: 'settle.listener' };
  return waitFor(state, ctx, ctx.env.deploy.timeouts.rolloutMinutes, `the new fleet to serve from its groups (${shown})`, SETTLE_POLL_SECONDS);
};

/** Back to the web target group, where the same new instances are healthy now: one call. */
const settleListener: Step = async (state, ctx) => {
  await forwardTo(ctx, ctx.env.loadBalancer.targetGroupArn, staging(ctx));
  switchState(state).back = true;
  return { goto: 'settle.cleanup' };
};

/** Empties the staging group (its targets drain), deletes the hook if this deploy's is there. */
export async function unstage(state: DeployState, ctx: AdvanceContext): Promise<void> {
  const arn = staging(ctx);
  const health = await targetHealth(ctx, arn);
  const registered = [...health.entries()].filter(([, h]) => h?.State !== 'draining').map(([id]) => id);
  if (registered.length > 0) await ctx.clients.elbv2.send(new DeregisterTargetsCommand({ TargetGroupArn: arn, Targets: registered.map((Id) => ({ Id })) }));
  const name = stageHookName(state.deployId);
  const group = fleetOf(ctx.env, 'web').autoScalingGroupName;
  const hooks = await ctx.clients.autoScaling.send(new DescribeLifecycleHooksCommand({ AutoScalingGroupName: group, LifecycleHookNames: [name] }));
  if ((hooks.LifecycleHooks ?? []).some((h) => h.LifecycleHookName === name)) {
    await ctx.clients.autoScaling.send(new DeleteLifecycleHookCommand({ AutoScalingGroupName: group, LifecycleHookName: name }));
  }
}

/** The staging group emptied, the hook deleted, each group at its configured bounds with herd's suspended processes resumed. */
const settleCleanup: Step = async (state, ctx) => {
  await unstage(state, ctx);
  for (const role of ['web', 'worker'] as const) {
    const g = state.full?.groups?.[role];
    const f = role === 'web' ? ctx.env.fleets.web : ctx.env.fleets.worker;
    if (!g || !f) continue;
    await restoreGroup(ctx, role, { min: f.minCapacity, max: f.maxCapacity, desired: withinFloor(f, g.target ?? g.desired) }, g.suspendedByHerd ?? FULL_SUSPENDED_PROCESSES);
  }
  state.full = { ...state.full, restored: true };
  return STAGE_DONE;
};

export const SWITCH_STEPS: Record<string, Step> = {
  'stage.record': stageRecord,
  'stage.hook': stageHook,
  'stage.scaleOut': stageScaleOut,
  'stage.waitNew': stageWaitNew,
  'stage.stopWorkers': stageStopWorkers,
  'stage.waitWorkersStopped': stageWaitWorkersStopped,
  'switch.listener': switchListener,
  'switch.startWorkers': switchStartWorkers,
  'settle.retireOld': settleRetireOld,
  'settle.continue': settleContinue,
  'settle.waitActive': settleWaitActive,
  'settle.listener': settleListener,
  'settle.cleanup': settleCleanup,
};
