/** `herd status <env>`: what serves, per instance and target; deploys, refreshes, maintenance, suspended processes, lock. */
import { DescribeAutoScalingGroupsCommand, DescribeInstanceRefreshesCommand, type AutoScalingGroup } from '@aws-sdk/client-auto-scaling';
import { DescribeInstancesCommand } from '@aws-sdk/client-ec2';
import { DescribeTargetHealthCommand } from '@aws-sdk/client-elastic-load-balancing-v2';
import type { Command } from 'commander';
import { readLock } from '../../../lambda/deploy/lock';
import type { DeployState, Phase } from '../../../lambda/deploy/state';
import type { Role } from '../../config/types';
import { maintenanceStatus } from '../../../lambda/deploy/maintenance';
import { parameterNames, TAGS } from '../../names';
import type { CliDeps } from '../deps';
import { fleetsOf, resolveEnvironment, type EnvironmentHandle } from '../environment';
import { EXECUTION_VISIBILITY_SECONDS, endedAbnormally, readDeployExecution } from '../execution';
import { readParameter, releaseImages, tagOf } from '../images';
import { JSON_OPTION, table, writeJson } from '../output';
import { currentPhase } from '../progress';
import { PHASE_NAMES, stepPhrase } from '../step-names';
import { liveRunInstances } from '../run-instance';

const ACTIVE_REFRESH = new Set(['Pending', 'InProgress', 'Cancelling', 'RollbackInProgress', 'Baking']);

export interface InstanceStatus {
  readonly id: string;
  readonly role: string;
  readonly imageId?: string;
  readonly release?: string;
  readonly lifecycle: string;
  readonly health: string;
  /** ALB target health (web only). */
  readonly target?: string;
}

export interface EnvironmentStatus {
  readonly environment: string;
  readonly url: string;
  /** The environment's CloudWatch dashboard (stack output `DashboardUrl`), when the stack has it. */
  readonly dashboard?: string;
  readonly release?: string;
  readonly image?: string;
  readonly instances: InstanceStatus[];
  readonly groups: {
    role: string;
    name: string;
    desired: number;
    min: number;
    max: number;
    version?: string;
    suspended: string[];
    /** Of `suspended`, those the deploy holding the lock suspended itself: it resumes them (never advise resuming them). */
    heldByDeploy?: string[];
  }[];
  readonly lock?: {
    deployId: string;
    actor: string;
    release: string;
    since: string;
    phase?: string;
    step?: string;
    /** The step in words (`step-names.ts`): what the text shows instead of the id. */
    stepWords?: string;
    status?: string;
    /** The deploy failed and its compensation did not finish: what is half done, and how to repair it. */
    needsAttention?: string;
    /** Who asked to abort it. */
    abortedBy?: string;
  };
  readonly refreshes: { role: string; id: string; status: string; percent?: number }[];
  readonly refreshError?: string;
  readonly maintenance: { on: boolean; owner?: string; foreignRuleArn?: string };
  /** `herd run` instances not terminated yet (present only when there are some): a run goes on, or a CLI that died left it. */
  readonly runs?: { id: string; runId: string; state: string; launchedAt?: string }[];
}

async function groupsOf(handle: EnvironmentHandle): Promise<Map<string, AutoScalingGroup>> {
  const names = fleetsOf(handle).map((f) => f.group);
  const res = await handle.clients.autoScaling.send(new DescribeAutoScalingGroupsCommand({ AutoScalingGroupNames: names }));
  return new Map((res.AutoScalingGroups ?? []).map((g) => [g.AutoScalingGroupName ?? '', g]));
}

export async function environmentStatus(handle: EnvironmentHandle, now: number): Promise<EnvironmentStatus> {
  const { clients, outputs } = handle;
  const names = parameterNames(handle.app, handle.name);
  const [release, image, groups, lock, maintenance, images, runs] = await Promise.all([
    readParameter(clients, names.currentRelease),
    readParameter(clients, names.currentImage),
    groupsOf(handle),
    readLock(clients, outputs.deployTableName),
    maintenanceStatus(clients, handle.deploy),
    releaseImages(clients, handle.app),
    liveRunInstances(handle),
  ]);
  const releaseOfImage = new Map(images.map((i) => [i.ImageId ?? '', tagOf(i, TAGS.release) ?? '']));
  const members = fleetsOf(handle).flatMap((f) => (groups.get(f.group)?.Instances ?? []).map((i) => ({ role: f.role, i })));
  const ids = members.map((m) => m.i.InstanceId ?? '').filter(Boolean);
  const imageOf = new Map<string, string>();
  if (ids.length > 0) {
    // By filter, not InstanceIds: an instance launched seconds ago may not be visible to EC2
    // yet, and one unknown id would fail the whole call (it shows without its release instead).
    const res = await clients.ec2.send(new DescribeInstancesCommand({ Filters: [{ Name: 'instance-id', Values: ids }] }));
    for (const r of res.Reservations ?? []) for (const i of r.Instances ?? []) if (i.InstanceId && i.ImageId) imageOf.set(i.InstanceId, i.ImageId);
  }
  const health = await clients.elbv2.send(new DescribeTargetHealthCommand({ TargetGroupArn: outputs.targetGroupArn }));
  const targetOf = new Map((health.TargetHealthDescriptions ?? []).map((t) => [t.Target?.Id ?? '', t.TargetHealth?.State ?? 'unknown']));

  const instances: InstanceStatus[] = members.map(({ role, i }) => {
    const id = i.InstanceId ?? '';
    const imageId = imageOf.get(id);
    const rel = imageId ? releaseOfImage.get(imageId) : undefined;
    const target = targetOf.get(id);
    return {
      id,
      role,
      ...(imageId ? { imageId } : {}),
      ...(rel ? { release: rel } : {}),
      lifecycle: i.LifecycleState ?? 'unknown',
      health: i.HealthStatus ?? 'unknown',
      ...(target ? { target } : role === 'web' ? { target: 'not registered' } : {}),
    };
  });

  const refreshes: EnvironmentStatus['refreshes'] = [];
  let refreshError: string | undefined;
  for (const f of fleetsOf(handle)) {
    try {
      const res = await clients.autoScaling.send(new DescribeInstanceRefreshesCommand({ AutoScalingGroupName: f.group, MaxRecords: 1 }));
      const r = res.InstanceRefreshes?.[0];
      if (r?.Status && ACTIVE_REFRESH.has(r.Status)) {
        refreshes.push({ role: f.role, id: r.InstanceRefreshId ?? '', status: r.Status, ...(r.PercentageComplete !== undefined ? { percent: r.PercentageComplete } : {}) });
      }
    } catch (err) {
      // Status stays useful when only this call fails (permissions, a partial AWS outage).
      refreshError = `instance refreshes of ${f.group} unreadable: ${err instanceof Error ? `${err.name}: ${err.message}` : String(err)}`;
    }
  }

  let lockView: EnvironmentStatus['lock'];
  let deployState: DeployState | undefined;
  if (lock) {
    let phase: Pick<NonNullable<EnvironmentStatus['lock']>, 'phase' | 'step' | 'stepWords' | 'status'> = {};
    // From the deploy's own execution (its deaths and the reaper's resumes), or the repair the lock names.
    let current = await readDeployExecution(clients, outputs.deployStateMachineArn, lock.deployId);
    if (lock.execution && current && !current.executionArn.endsWith(`:${lock.execution}`)) {
      current = (await readDeployExecution(clients, outputs.deployStateMachineArn, lock.deployId, lock.execution)) ?? current;
    }
    if (current) {
      const { view } = current;
      deployState = view.state;
      const resumed =
        current.died.length > 0 ? ` (resumed by the reaper after its execution ended ${current.died.at(-1)?.view.status})`
        : /-repair-\d+$/.test(current.executionArn) ? ' (herd repair)'
        : '';
      const status = endedAbnormally(view) ? `${view.status}: waiting for the reaper to resume it` : `${view.status}${resumed}`;
      const words = view.state ? stepPhrase({ state: view.state, hasWorker: outputs.workerAutoScalingGroup !== '' }) : undefined;
      phase = { status, ...(view.state ? { phase: currentPhase(view.state), step: view.state.step, stepWords: words } : {}) };
    } else {
      // DescribeExecution is eventually consistent: a deploy that just took the lock may not show yet.
      const young = now - (Date.parse(lock.since) || 0) < EXECUTION_VISIBILITY_SECONDS * 1000;
      phase = { status: young ? 'starting' : 'no such execution (stale lock?)' };
    }
    lockView = { ...lock, ...phase };
  }

  return {
    environment: handle.name,
    url: outputs.url,
    ...(outputs.dashboardUrl ? { dashboard: outputs.dashboardUrl } : {}),
    ...(release ? { release } : {}),
    ...(image ? { image } : {}),
    instances,
    groups: fleetsOf(handle).map((f) => {
      const g = groups.get(f.group);
      const suspended = (g?.SuspendedProcesses ?? []).map((p) => p.ProcessName ?? '').filter(Boolean).sort();
      const held = suspendedByDeploy(deployState, f.role, suspended);
      return {
        role: f.role,
        name: f.group,
        desired: g?.DesiredCapacity ?? 0,
        min: g?.MinSize ?? 0,
        max: g?.MaxSize ?? 0,
        ...(g?.LaunchTemplate?.Version ? { version: g.LaunchTemplate.Version } : {}),
        suspended,
        ...(held.length > 0 ? { heldByDeploy: held } : {}),
      };
    }),
    ...(lockView ? { lock: lockView } : {}),
    refreshes,
    ...(refreshError ? { refreshError } : {}),
    maintenance: { on: maintenance.on, ...(maintenance.owner ? { owner: maintenance.owner } : {}), ...(maintenance.foreignRuleArn ? { foreignRuleArn: maintenance.foreignRuleArn } : {}) },
    ...(runs.length > 0
      ? { runs: runs.map((r) => ({ id: r.id, runId: r.runId, state: r.state, ...(r.launchedAt !== undefined ? { launchedAt: new Date(r.launchedAt).toISOString() } : {}) })) }
      : {}),
  };
}

/**
 * Of a group's `suspended` processes, those the deploy whose state this is suspended itself
 * (a `full` deploy's replacement): its `suspendedByHerd`, or, from a state that does not
 * say, what was not suspended when the deploy started (`before`). The deploy, or its
 * compensation, resumes them.
 */
export function suspendedByDeploy(state: DeployState | undefined, role: Role, suspended: readonly string[]): string[] {
  if (!state) return [];
  const byHerd = state.full?.groups?.[role]?.suspendedByHerd;
  if (byHerd) return suspended.filter((p) => byHerd.includes(p));
  const before = state.before?.groups[role]?.suspended;
  if (before) return suspended.filter((p) => !before.includes(p));
  return [];
}

/** Processes suspended by someone other than the running deploy: what an operator may need to resume. */
function foreignSuspended(g: EnvironmentStatus['groups'][number]): string[] {
  return g.suspended.filter((p) => !(g.heldByDeploy ?? []).includes(p));
}

export function renderStatus(s: EnvironmentStatus): string {
  const lines: string[] = [];
  for (const g of s.groups) {
    const foreign = foreignSuspended(g);
    if (foreign.length > 0) {
      lines.push(`!! WARNING: ${g.role} group ${g.name} has suspended processes: ${foreign.join(', ')} — resume with \`herd autoscaling resume ${s.environment}\``);
    }
    if (g.heldByDeploy && s.lock) {
      const resumes = s.lock.needsAttention ? `\`herd repair ${s.environment}\` resumes them` : 'it resumes them when it ends; do not resume them yourself';
      lines.push(`note: ${g.role} group ${g.name}: ${g.heldByDeploy.join(', ')} suspended by deploy ${s.lock.deployId} for its replacement (${resumes})`);
    }
  }
  if (s.lock?.needsAttention) {
    lines.push(`!! NEEDS ATTENTION: ${s.lock.needsAttention}`);
  }
  lines.push(`environment ${s.environment}  ${s.url}`);
  if (s.dashboard) lines.push(`dashboard   ${s.dashboard}`);
  lines.push(`release     ${s.release ?? 'unknown'}${s.image ? ` (image ${s.image})` : ''}`);
  lines.push(`maintenance ${s.maintenance.on ? `ON (owner ${s.maintenance.owner ?? 'unknown'})` : 'off'}`);
  if (s.maintenance.foreignRuleArn) {
    lines.push(`  warning: rule ${s.maintenance.foreignRuleArn} holds the maintenance priority; herd cannot put a page up until it moves to a priority of 100 or more`);
  }
  const deploy = !s.lock
    ? 'none running'
    : s.lock.needsAttention
      ? `${s.lock.deployId} ended and needs attention (its compensation did not finish): release ${s.lock.release}, by ${s.lock.actor} since ${s.lock.since}; fix the cause, then \`herd repair ${s.environment}\``
      : `${s.lock.deployId} running: ${s.lock.phase ? `${PHASE_NAMES[s.lock.phase as Phase] ?? s.lock.phase}: ${s.lock.stepWords ?? 'working'}` : (s.lock.status ?? '')}, release ${s.lock.release}, by ${s.lock.actor} since ${s.lock.since}${s.lock.abortedBy ? `; aborted by ${s.lock.abortedBy}, compensating` : ''}`;
  lines.push(`deploy      ${deploy}`);
  lines.push(`lock        ${s.lock ? `held by deploy ${s.lock.deployId} (${s.lock.actor})` : 'free'}`);
  if (s.runs) {
    lines.push(
      `runs        ${s.runs.map((r) => `${r.id} ${r.state} (${r.runId || 'no run id'}${r.launchedAt ? `, launched ${r.launchedAt}` : ''})`).join('; ')} — herd run instances; ` +
        'one whose CLI is gone stops at its --timeout; end it sooner with `aws ec2 terminate-instances --instance-ids <id>`',
    );
  }
  lines.push(`refresh     ${s.refreshes.length > 0 ? s.refreshes.map((r) => `${r.role} ${r.status} ${r.percent ?? 0}%`).join(', ') : s.refreshError ? `unknown (${s.refreshError})` : 'none in progress'}`);
  lines.push(
    `groups      ${s.groups.map((g) => `${g.role} ${g.desired} (min ${g.min}, max ${g.max}${g.version ? `, launch-template version ${g.version}` : ''})${g.suspended.length > 0 ? ` SUSPENDED: ${g.suspended.join(' ')}` : ''}`).join('; ')}`,
  );
  lines.push(
    s.instances.length === 0
      ? 'instances   none'
      : table(
          ['instance', 'role', 'release', 'image', 'lifecycle', 'health', 'target'],
          s.instances.map((i) => [i.id, i.role, i.release ?? '?', i.imageId ?? '?', i.lifecycle, i.health, i.target ?? '-']),
        ),
  );
  return `${lines.join('\n')}\n`;
}

export function register(program: Command, deps: CliDeps): void {
  program
    .command('status')
    .description('release per instance, target health, deploy or refresh in progress, maintenance, suspended processes, lock')
    .argument('<env>', 'environment (herd.config.ts)')
    .option(...JSON_OPTION)
    .addHelpText('after', ['', 'Examples:', '  $ herd status production', '  $ herd status staging --json | jq .release'].join('\n'))
    .action(async (env: string, opts: { json?: boolean }) => {
      const handle = await resolveEnvironment(deps, env);
      const status = await environmentStatus(handle, deps.now());
      if (opts.json) writeJson(deps.out, status);
      else deps.out.write(renderStatus(status));
      const suspended = status.groups.filter((g) => foreignSuspended(g).length > 0);
      if (suspended.length > 0 && !opts.json) {
        deps.err.write(`herd: warning: Auto Scaling processes are suspended on ${env} (${suspended.map((g) => g.role).join(', ')}); deploys and scaling misbehave until \`herd autoscaling resume ${env}\`\n`);
      }
    });
}
