/**
 * Pre-flight: what would make a deploy fail late, checked before its first side effect (no
 * bake, no snapshot, no migration). The deploy step runs it right after taking the lock and
 * refuses (`PreflightError`, nothing changed, the lock released) with every problem found
 * and the command that fixes each; `herd deploy` and `herd plan` run the same checks first.
 *
 * - A process the rollout needs is suspended on a group: an instance refresh replaces
 *   nothing while Launch or Terminate is suspended, instances never join the load balancer
 *   without AddToLoadBalancer, and unhealthy ones are never replaced without HealthCheck and
 *   ReplaceUnhealthy. herd never resumes what an operator suspended.
 * - An instance refresh is already running on a group (herd's start no other while it holds
 *   the lock): StartInstanceRefresh would fail, and the group is changing under the deploy.
 * - A rollback alarm is in ALARM: the refresh would roll back at once (or a `full` deploy's
 *   alarm watch would); `ignoreAlarms` starts anyway and the history records which.
 * - The release has neither an image nor an artifact to bake one from.
 */
import { DescribeInstanceRefreshesCommand } from '@aws-sdk/client-auto-scaling';
import type { Role } from '../../lib/config/types';
import { DeployFailure } from './errors';
import type { DeployState } from './state';
import { describeGroups } from './rollout';
import { fleetOf, rolesOf, type AdvanceContext } from './step';

/** Processes a rollout needs (Auto Scaling guide, "Suspend and resume processes"). */
export const ROLLOUT_PROCESSES = ['Launch', 'Terminate', 'HealthCheck', 'ReplaceUnhealthy', 'InstanceRefresh', 'AddToLoadBalancer'] as const;

const ACTIVE_REFRESH = new Set(['Pending', 'InProgress', 'Cancelling', 'RollbackInProgress', 'Baking']);

/** One reason a deploy cannot start, and what to do about it. */
export interface PreflightProblem {
  readonly check: 'processes' | 'refresh' | 'alarms' | 'release';
  readonly message: string;
}

/** Suspended processes and running refreshes of the environment's groups. */
export async function groupProblems(ctx: AdvanceContext): Promise<PreflightProblem[]> {
  const problems: PreflightProblem[] = [];
  const roles: Role[] = rolesOf(ctx.env);
  let groups: Awaited<ReturnType<typeof describeGroups>>;
  try {
    groups = await describeGroups(ctx, roles);
  } catch (err) {
    if (!(err instanceof DeployFailure)) throw err;
    return [{ check: 'processes', message: `${err.message}: deploy the environment's stack first (\`npx cdk deploy ${ctx.env.stackName ?? `herd-${ctx.env.env}`}\`)` }];
  }
  for (const role of roles) {
    const name = fleetOf(ctx.env, role).autoScalingGroupName;
    const suspended = (groups.get(role)?.SuspendedProcesses ?? []).map((p) => p.ProcessName ?? '').filter((p) => (ROLLOUT_PROCESSES as readonly string[]).includes(p));
    if (suspended.length > 0) {
      problems.push({
        check: 'processes',
        message:
          `${name} has ${suspended.join(', ')} suspended, which a rollout needs (suspended by hand, or left by a tool): ` +
          `resume them with \`herd autoscaling resume ${ctx.env.env}\` (herd never resumes what it did not suspend), then deploy again`,
      });
    }
    const res = await ctx.clients.autoScaling.send(new DescribeInstanceRefreshesCommand({ AutoScalingGroupName: name, MaxRecords: 10 }));
    for (const r of res.InstanceRefreshes ?? []) {
      if (!ACTIVE_REFRESH.has(r.Status ?? '')) continue;
      problems.push({
        check: 'refresh',
        message:
          `instance refresh ${r.InstanceRefreshId} is ${r.Status} on ${name}, and no herd deploy runs: wait for it to end, ` +
          `or cancel it (\`aws autoscaling cancel-instance-refresh --auto-scaling-group-name ${name}\`), then deploy again`,
      });
    }
  }
  return problems;
}

/** Every pre-flight problem of `state`'s deploy (a bake-only run changes no group: only its release is checked). */
export async function preflight(ctx: AdvanceContext, state: Pick<DeployState, 'mode' | 'ignoreAlarms'>): Promise<PreflightProblem[]> {
  if (state.mode === 'bake') return [];
  return groupProblems(ctx);
}

/** The refusal a deploy gives for `problems`. */
export function preflightMessage(env: string, problems: readonly PreflightProblem[]): string {
  const lines = problems.map((p, n) => `(${n + 1}) ${p.message}`);
  return `deploy refused on ${env} before any change: ${lines.join('; ')}`;
}
