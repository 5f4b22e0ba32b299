/**
 * Diagnosis of a release whose new instances keep failing their health check: instead of
 * waiting out `timeouts.rolloutMinutes` while Auto Scaling replaces one failed instance
 * after another, the deploy stops once `deploy.maxFailedInstances` distinct instances of the
 * new launch-template version failed for the same reason, and fails with a cause naming the
 * instances, the target-health reason and the tail of the boot log the CloudWatch agent
 * shipped (`/herd/<app>/<env>/boot`, one stream per instance id); compensation then rolls
 * back as for any failure.
 *
 * A failure is what the load balancer and Auto Scaling both say: an instance whose target
 * was seen `unhealthy` with a failing-check reason (DescribeTargetHealth `TargetHealth.Reason`:
 * `Target.ResponseCodeMismatch`, `Target.Timeout`, `Target.FailedHealthChecks`) and that
 * Auto Scaling then marked `Unhealthy`, started terminating, or removed from the group. A
 * target that turns healthy again (an app slower to start than the checks) is forgotten.
 * Only the web role has a load-balancer health check; workers are not diagnosed. A fleet of
 * one counts each replacement Auto Scaling launches: with the default of 3, the deploy stops
 * about 5 minutes in. When no target of the group is healthy at all (the only instance died
 * and its slot went to a failing replacement, or a first release), one failure is enough:
 * every further one only prolongs the outage.
 *
 * The cause fits the state's failure record (`advance.ts` keeps 500 characters): the
 * header, then as many of the last log lines as fit; the whole diagnosis (every instance,
 * ten log lines) is kept in `state.diagnosis` and the history item.
 */
import { DescribeAutoScalingGroupsCommand } from '@aws-sdk/client-auto-scaling';
import { GetLogEventsCommand } from '@aws-sdk/client-cloudwatch-logs';
import { DescribeTargetHealthCommand } from '@aws-sdk/client-elastic-load-balancing-v2';
import type { Role } from '../../lib/config/types';
import { logGroupName } from '../../lib/names';
import { DeployFailure, describeError } from './errors';
import type { DeployState, Diagnosis, HealthFailure } from './state';
import { fleetOf, type AdvanceContext, type Step } from './step';

/** Target-health reasons that mean the health check itself failed (not registration or draining). */
export const FAILING_REASONS: ReadonlySet<string> = new Set(['Target.ResponseCodeMismatch', 'Target.Timeout', 'Target.FailedHealthChecks']);

/** Boot log lines a diagnosis keeps (the tail of the last failed instance's stream). */
export const LOG_TAIL_LINES = 10;
/** Characters kept of one log line. */
const LINE_CHARS = 200;
/** Characters of the failure cause (the step name is added in front; `advance.ts` keeps 500). */
const CAUSE_CHARS = 470;
/** Instances the diagnosis names (the count says how many more failed). */
const NAMED_INSTANCES = 10;
/** Seconds between polls while an instance is failing: a failed target is visible for about 40 s before Auto Scaling replaces it. */
export const DIAGNOSE_POLL_SECONDS = 10;

/**
 * Faster polls a deploy may make while instances are failing: enough to see each of
 * `maxFailedInstances` failures through (a failed target shows for about 40 s), and bounded so
 * that Step Functions' history budget (`budget.ts`) holds when targets stay unhealthy without
 * being replaced.
 */
export function fastPollAllowance(maxFailedInstances: number): number {
  return maxFailedInstances * FAST_POLLS_PER_FAILURE;
}
const FAST_POLLS_PER_FAILURE = 8;

/** The step a wait goes to once the release is diagnosed unhealthy: it fails the deploy with the diagnosis. */
export const DIAGNOSED_STEP = 'rollout.unhealthy';

/**
 * Looks at `role`'s new instances (launch-template `version`) once: records those failing their
 * health check and those Auto Scaling gave up on. Returns `stop` once `maxFailedInstances` failed
 * for one reason (the diagnosis is then in `state.diagnosis`), `watching` while an instance is
 * failing and not replaced yet (poll faster, within `fastPollAllowance`), else `quiet`.
 */
export async function watchNewInstances(
  state: DeployState,
  ctx: AdvanceContext,
  role: Role,
  version: string,
  targetGroupArn = ctx.env.loadBalancer.targetGroupArn,
): Promise<'stop' | 'watching' | 'quiet'> {
  if (role !== 'web') return 'quiet';
  const groupName = fleetOf(ctx.env, role).autoScalingGroupName;
  const groups = await ctx.clients.autoScaling.send(new DescribeAutoScalingGroupsCommand({ AutoScalingGroupNames: [groupName] }));
  const group = groups.AutoScalingGroups?.find((g) => g.AutoScalingGroupName === groupName);
  // The web group's target group, or the staging one a `full` deploy's new fleet waits in (`switch.ts`).
  const res = await ctx.clients.elbv2.send(new DescribeTargetHealthCommand({ TargetGroupArn: targetGroupArn }));
  const members = new Map((group?.Instances ?? []).map((i) => [i.InstanceId ?? '', i]));
  const targets = new Map((res.TargetHealthDescriptions ?? []).map((t) => [t.Target?.Id ?? '', t.TargetHealth]));
  const seen = state.unhealthy ?? { watching: {}, failed: [] };
  const failedIds = new Set(seen.failed.map((f) => f.instanceId));
  for (const [id, health] of targets) {
    if (health?.State !== 'unhealthy' || !FAILING_REASONS.has(health.Reason ?? '') || failedIds.has(id)) continue;
    if (members.get(id)?.LaunchTemplate?.Version !== version) continue;
    seen.watching[id] = { reason: health.Reason ?? '', ...(health.Description ? { description: health.Description } : {}) };
  }
  for (const [id, failure] of Object.entries(seen.watching)) {
    const m = members.get(id);
    if (!m || m.HealthStatus === 'Unhealthy' || (m.LifecycleState ?? '').startsWith('Terminating')) {
      seen.failed.push({ instanceId: id, ...failure });
      delete seen.watching[id];
    } else if (targets.get(id)?.State === 'healthy') {
      delete seen.watching[id];
    }
  }
  state.unhealthy = seen;
  const byReason = new Map<string, HealthFailure[]>();
  for (const f of seen.failed) byReason.set(f.reason, [...(byReason.get(f.reason) ?? []), f]);
  const worst = [...byReason.values()].sort((a, b) => b.length - a.length)[0] ?? [];
  // Nothing serves (the fleet's only instances were replaced by failing ones, or a first
  // release): each further failure only prolongs the outage, so one is enough.
  const serving = [...targets.values()].some((h) => h?.State === 'healthy');
  if (worst.length >= ctx.env.deploy.maxFailedInstances || (worst.length > 0 && !serving)) {
    state.diagnosis = await diagnose(state, ctx, role, worst);
    return 'stop';
  }
  if (Object.keys(seen.watching).length === 0 || (seen.fastPolls ?? 0) >= fastPollAllowance(ctx.env.deploy.maxFailedInstances)) return 'quiet';
  seen.fastPolls = (seen.fastPolls ?? 0) + 1;
  return 'watching';
}

/** The diagnosis of `failed` (one reason): the tail of the last one's boot log. */
async function diagnose(state: DeployState, ctx: AdvanceContext, role: Role, failed: readonly HealthFailure[]): Promise<Diagnosis> {
  const last = failed[failed.length - 1];
  const logGroup = logGroupName(ctx.env.app, ctx.env.env, 'boot');
  let logTail: string[] = [];
  let logError: string | undefined;
  if (last) {
    try {
      const res = await ctx.clients.logs.send(new GetLogEventsCommand({ logGroupName: logGroup, logStreamName: last.instanceId, limit: LOG_TAIL_LINES, startFromHead: false }));
      logTail = (res.events ?? []).map((e) => (e.message ?? '').replace(/\s+$/, '').slice(0, LINE_CHARS));
    } catch (err) {
      // No log (the agent never shipped one, or no permission) must not hide the diagnosis.
      logError = describeError(err).slice(0, LINE_CHARS);
    }
  }
  return {
    role,
    release: state.release,
    reason: last?.reason ?? 'unknown',
    ...(last?.description ? { description: last.description } : {}),
    instances: failed.map((f) => f.instanceId),
    logGroup,
    ...(last ? { logStream: last.instanceId } : {}),
    logTail,
    ...(logError ? { logError } : {}),
    at: ctx.clock.now(),
  };
}

/** The failure cause of a diagnosis, within `CAUSE_CHARS`: the header, then the last log lines that fit. */
export function diagnosisCause(d: Diagnosis): string {
  const named = d.instances.slice(0, NAMED_INSTANCES).join(', ') + (d.instances.length > NAMED_INSTANCES ? ` and ${d.instances.length - NAMED_INSTANCES} more` : '');
  const header =
    `release ${d.release} is unhealthy: ${d.instances.length} new ${d.role} instance(s) failed their health check with ${d.reason}` +
    `${d.description ? ` (${d.description})` : ''}: ${named}`;
  if (!d.logStream) return header.slice(0, CAUSE_CHARS);
  if (d.logTail.length === 0) return `${header}; no boot log in ${d.logGroup} for ${d.logStream}${d.logError ? ` (${d.logError})` : ''}`.slice(0, CAUSE_CHARS);
  const intro = `${header}; boot log of ${d.logStream}:`;
  const kept: string[] = [];
  let size = intro.length;
  for (const line of [...d.logTail].reverse()) {
    if (size + 1 + line.length > CAUSE_CHARS) break;
    kept.unshift(line);
    size += 1 + line.length;
  }
  // Not even the last line fits whole: its end, which says most.
  const last = d.logTail[d.logTail.length - 1];
  if (kept.length === 0 && last !== undefined && CAUSE_CHARS - size > 20) kept.push(`…${last.slice(-(CAUSE_CHARS - size - 2))}`);
  return [intro, ...kept].join('\n').slice(0, CAUSE_CHARS);
}

/** Fails the deploy with the diagnosis a wait recorded (a step of its own: a failing step's changes to the state are dropped). */
const unhealthyStep: Step = async (state) => {
  if (!state.diagnosis) throw new DeployFailure('the release was judged unhealthy, but no diagnosis was recorded');
  throw new DeployFailure(diagnosisCause(state.diagnosis));
};

export const DIAGNOSE_STEPS: Record<string, Step> = { [DIAGNOSED_STEP]: unhealthyStep };
