/**
 * What a running deploy is doing: phase and step, bake or refresh
 * percentage, time elapsed and time left (from the per-phase estimate, `estimate.ts`:
 * history or herd plan; else "unknown").
 */
import { DescribeInstanceRefreshesCommand } from '@aws-sdk/client-auto-scaling';
import { phaseOf, type DeployState, type Phase } from '../../lambda/deploy/state';
import type { Role } from '../config/types';
import type { AwsClients } from './deps';
import type { EnvironmentHandle } from './environment';

export interface Progress {
  readonly phase: Phase;
  readonly step: string;
  /** Estimated bake completion (from history), 0–99. */
  readonly bakePercent?: number;
  /** Instance refreshes in progress (web and worker at once when they roll in parallel): role and PercentageComplete. */
  readonly refreshes?: readonly { readonly role: Role; readonly percent: number }[];
  readonly elapsedSeconds: number;
  /** Seconds left, or undefined when unknown (no history). */
  readonly leftSeconds?: number;
}

/** The phase a state is in. */
export function currentPhase(state: DeployState): Phase {
  if (state.compensation) return 'compensate';
  const stage = state.plan[state.stageIndex];
  return stage ? phaseOf(stage) : 'record';
}

/** Seconds since the current phase began. */
function inPhaseSeconds(state: DeployState, now: number): number {
  const last = state.timings[state.timings.length - 1];
  return last ? Math.max(0, (now - last.startedAt) / 1000) : 0;
}

/** Remaining seconds from the history medians, or undefined if a phase to come has none. */
export function estimateLeft(state: DeployState, medians: Partial<Record<Phase, number>>, now: number): number | undefined {
  if (state.done) return 0;
  if (state.compensation) return undefined;
  const phases: Phase[] = [];
  for (const stage of state.plan.slice(state.stageIndex)) {
    const p = phaseOf(stage);
    if (phases[phases.length - 1] !== p) phases.push(p);
  }
  let left = 0;
  for (const [n, phase] of phases.entries()) {
    const m = medians[phase];
    if (m === undefined) return undefined;
    left += n === 0 ? Math.max(0, m - inPhaseSeconds(state, now)) : m;
  }
  return Math.round(left);
}

/** Reads what the state alone does not say (refresh percentage, instances replaced). */
export async function progressOf(
  handle: Pick<EnvironmentHandle, 'outputs'> & { readonly clients: Pick<AwsClients, 'autoScaling'> },
  state: DeployState,
  medians: Partial<Record<Phase, number>>,
  now: number,
): Promise<Progress> {
  const phase = currentPhase(state);
  const groups: Record<Role, string> = { web: handle.outputs.webAutoScalingGroup, worker: handle.outputs.workerAutoScalingGroup };
  const refreshes: { role: Role; percent: number }[] = [];
  for (const role of ['web', 'worker'] as const) {
    const id = state.refreshes[role];
    if (!id || state.refreshed.includes(role) || state.done) continue;
    const res = await handle.clients.autoScaling.send(new DescribeInstanceRefreshesCommand({ AutoScalingGroupName: groups[role], InstanceRefreshIds: [id] }));
    const r = res.InstanceRefreshes?.[0];
    if (r && r.PercentageComplete !== undefined) refreshes.push({ role, percent: r.PercentageComplete });
  }
  const bakeMedian = medians.bake;
  const bakePercent = phase === 'bake' && bakeMedian ? Math.min(99, Math.floor((inPhaseSeconds(state, now) / bakeMedian) * 100)) : undefined;
  const left = estimateLeft(state, medians, now);
  return {
    phase,
    step: state.step,
    ...(bakePercent !== undefined ? { bakePercent } : {}),
    ...(refreshes.length > 0 ? { refreshes } : {}),
    elapsedSeconds: Math.max(0, Math.round((now - state.startedAt) / 1000)),
    ...(left !== undefined ? { leftSeconds: left } : {}),
  };
}

/** `1h02m`, `7m05s`, `42s`. */
export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const r = s % 60;
  if (h > 0) return `${h}h${String(m).padStart(2, '0')}m`;
  if (m > 0) return `${m}m${String(r).padStart(2, '0')}s`;
  return `${r}s`;
}
