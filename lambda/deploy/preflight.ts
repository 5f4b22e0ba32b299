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
 * - The deploy relies on point-in-time recovery to undo its migration (`deploy.backup` `pitr`
 *   or `snapshot`) and the database's automated backups are off (`restore-point.ts`).
 */
import { DescribeInstanceRefreshesCommand } from '@aws-sdk/client-auto-scaling';
import { DescribeAlarmsCommand } from '@aws-sdk/client-cloudwatch';
import { HeadObjectCommand } from '@aws-sdk/client-s3';
import { findReleaseImages } from './bake';
import { maintenanceStatus } from './maintenance';
import { backupProblem } from './restore-point';
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
  readonly check: 'processes' | 'refresh' | 'alarms' | 'release' | 'backups';
  readonly message: string;
}

/** Suspended processes and running refreshes of the environment's groups, and the groups as found. */
export async function groupProblems(ctx: AdvanceContext): Promise<{ problems: PreflightProblem[]; before?: NonNullable<DeployState['before']>['groups'] }> {
  const problems: PreflightProblem[] = [];
  const roles: Role[] = rolesOf(ctx.env);
  let groups: Awaited<ReturnType<typeof describeGroups>>;
  try {
    groups = await describeGroups(ctx, roles);
  } catch (err) {
    if (!(err instanceof DeployFailure)) throw err;
    return { problems: [{ check: 'processes', message: `${err.message}: deploy the environment's stack first (\`npx cdk deploy ${ctx.env.stackName ?? `herd-${ctx.env.env}`}\`)` }] };
  }
  const before: NonNullable<DeployState['before']>['groups'] = {};
  for (const role of roles) {
    const name = fleetOf(ctx.env, role).autoScalingGroupName;
    const g = groups.get(role);
    const allSuspended = (g?.SuspendedProcesses ?? []).map((p) => p.ProcessName ?? '').filter(Boolean).sort();
    before[role] = {
      desired: g?.DesiredCapacity ?? 0,
      min: g?.MinSize ?? 0,
      max: g?.MaxSize ?? 0,
      ...(g?.LaunchTemplate?.Version ? { version: g.LaunchTemplate.Version } : {}),
      suspended: allSuspended,
    };
    const suspended = allSuspended.filter((p) => (ROLLOUT_PROCESSES as readonly string[]).includes(p));
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
  return { problems, before };
}

/** What the pre-flight checks: the deploy's release, mode, and whether it may start despite an alarm. */
export type PreflightRequest = Pick<DeployState, 'app' | 'release'> &
  Partial<Pick<DeployState, 'mode' | 'ignoreAlarms'>> & {
    /** The deploy's stages: automated backups are checked when it migrates. Absent (the CLI): not checked, the deploy step checks them. */
    readonly plan?: readonly string[];
    /** The artifact a release without an image is baked from; absent: not checked (the CLI is about to upload it). */
    readonly artifactKey?: string;
  };

export interface PreflightResult {
  readonly problems: readonly PreflightProblem[];
  /** The environment as found (`DeployState.before`), when its groups could be read. */
  readonly before?: NonNullable<DeployState['before']>;
  /** Rollback alarms in ALARM that `ignoreAlarms` let the deploy start despite (the history records them). */
  readonly ignoredAlarms: readonly string[];
}

/** Rollback alarms in ALARM now, with why. */
export async function alarmsFiring(ctx: AdvanceContext): Promise<{ name: string; reason: string }[]> {
  const names = ctx.env.alarmNames;
  if (names.length === 0) return [];
  const res = await ctx.clients.cloudWatch.send(new DescribeAlarmsCommand({ AlarmNames: [...names] }));
  return (res.MetricAlarms ?? [])
    .filter((a) => a.StateValue === 'ALARM' && a.AlarmName)
    .map((a) => ({ name: a.AlarmName!, reason: a.StateReason ?? 'no reason given' }));
}

/** The release has an image (available or being made), or an artifact to bake one from. */
async function releaseProblem(ctx: AdvanceContext, request: PreflightRequest): Promise<PreflightProblem | undefined> {
  if (request.artifactKey === undefined || (await findReleaseImages(request, ctx)).length > 0) return undefined;
  const { bucket } = ctx.env.artifacts;
  try {
    await ctx.clients.s3.send(new HeadObjectCommand({ Bucket: bucket, Key: request.artifactKey }));
    return undefined;
  } catch (err) {
    if (!(err instanceof Error && (err.name === 'NotFound' || err.name === 'NoSuchKey'))) throw err;
    return {
      check: 'release',
      message:
        `release ${request.release} has no image and its artifact s3://${bucket}/${request.artifactKey} does not exist: ` +
        `upload it with \`herd deploy ${ctx.env.env} <the app's directory or .tar.gz>\` (it computes the release id), or deploy a release that exists (\`herd releases ${ctx.env.env}\`)`,
    };
  }
}

/** Every pre-flight problem of a deploy (a bake-only run changes no group: only its release is checked). */
export async function preflight(ctx: AdvanceContext, request: PreflightRequest): Promise<PreflightResult> {
  const problems: PreflightProblem[] = [];
  let ignoredAlarms: string[] = [];
  let before: PreflightResult['before'];
  if (request.mode !== 'bake') {
    const groups = await groupProblems(ctx);
    problems.push(...groups.problems);
    if (groups.before) {
      const page = await maintenanceStatus(ctx.clients, ctx.env);
      before = { groups: groups.before, ...(page.on && page.owner ? { pageOwner: page.owner } : {}) };
    }
    const firing = await alarmsFiring(ctx);
    if (request.ignoreAlarms) {
      ignoredAlarms = firing.map((a) => a.name);
    } else {
      for (const a of firing) {
        problems.push({
          check: 'alarms',
          message:
            `alarm ${a.name}, which rolls deploys back, is in ALARM (${a.reason.slice(0, 300)}): a deploy would be rolled back at once; ` +
            `find out why it fires, or start anyway with --ignore-alarms (the history records it)`,
        });
      }
    }
  }
  const release = await releaseProblem(ctx, request);
  if (release) problems.push(release);
  if (request.mode === undefined) {
    const backups = await backupProblem(ctx, request.plan);
    if (backups) problems.push({ check: 'backups', message: backups });
  }
  return { problems, ignoredAlarms, ...(before ? { before } : {}) };
}

/** The refusal a deploy gives for `problems`. */
export function preflightMessage(env: string, problems: readonly PreflightProblem[]): string {
  const lines = problems.map((p, n) => `(${n + 1}) ${p.message}`);
  return `deploy refused on ${env} before any change: ${lines.join('; ')}`;
}
