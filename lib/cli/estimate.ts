/**
 * How long each phase of a deploy should take, known before its first poll: the medians of
 * the environment's earlier deploys like it (same strategy and mode) when it has some, else
 * `herd plan`'s prediction (the real deploy step run on the fake cloud with the environment's
 * settings and fleet sizes), run once per watch.
 */
import type { Phase } from '../../lambda/deploy/state';
import type { DeployStrategy } from '../config/types';
import { planDeploy } from '../plan/model';
import { planInputOf } from './commands/plan';
import type { EnvironmentHandle } from './environment';
import { releaseImages, tagOf } from './images';
import { TAGS } from '../names';
import { phaseMedians, type DeployRecord } from './history';

export interface PhaseEstimate {
  readonly phase: Phase;
  readonly seconds: number;
}

export interface DeployEstimate {
  /** Phases in the order they run. */
  readonly phases: readonly PhaseEstimate[];
  readonly totalSeconds: number;
  /** `from 5 earlier deploys`, `from herd plan`. */
  readonly source: string;
}

/** The estimate's phases as a lookup (what `estimateLeft` takes). */
export function mediansOf(estimate: DeployEstimate | undefined): Partial<Record<Phase, number>> {
  const out: Partial<Record<Phase, number>> = {};
  for (const p of estimate?.phases ?? []) out[p.phase] = (out[p.phase] ?? 0) + p.seconds;
  return out;
}

function fromHistory(history: readonly DeployRecord[], like: { strategy: string; mode?: string }): DeployEstimate | undefined {
  const medians = phaseMedians(history, like);
  const similar = history.filter((i) => i.status === 'succeeded' && i.strategy === like.strategy && (i.mode ?? 'deploy') === (like.mode ?? 'deploy'));
  const latest = similar[0];
  if (!latest) return undefined;
  const order: Phase[] = [];
  for (const p of latest.phases) if (!order.includes(p.phase)) order.push(p.phase);
  const phases = order.filter((p) => medians[p] !== undefined).map((phase) => ({ phase, seconds: Math.round(medians[phase] ?? 0) }));
  const n = similar.length;
  return { phases, totalSeconds: phases.reduce((s, p) => s + p.seconds, 0), source: `from ${n} earlier deploy${n === 1 ? '' : 's'}` };
}

/**
 * The estimate of the deploy `target` describes; undefined when neither the history nor a
 * plan can give one (the plan's reads or model failed: the deploy is followed all the same).
 */
export async function estimateDeploy(
  handle: EnvironmentHandle,
  history: readonly DeployRecord[],
  target: { readonly deployId: string; readonly release: string; readonly strategy: string; readonly mode?: 'deploy' | 'bake' | 'restart' },
): Promise<DeployEstimate | undefined> {
  const known = fromHistory(history, { strategy: target.strategy, ...(target.mode ? { mode: target.mode } : {}) });
  if (known) return known;
  try {
    const input = await planInputOf(handle, target.release, target.strategy as DeployStrategy);
    // Followed after its start (`herd watch`), the deploy may have baked the image itself: it had none.
    const images = input.imageExists ? await releaseImages(handle.clients, handle.app, target.release) : [];
    const bakedByIt = images.length > 0 && images.every((i) => tagOf(i, TAGS.deploy) === target.deployId);
    // A restart replaces every instance of the serving release: no bake, no migration.
    const plan = await planDeploy(target.mode === 'restart' ? { ...input, imageExists: true, releaseCommand: false } : bakedByIt ? { ...input, imageExists: false } : input);
    const wanted =
      target.mode === 'bake' ? new Set<Phase>(['lock', 'bake', 'record']) : target.mode === 'restart' ? new Set<Phase>(['lock', 'launchTemplate', 'rollout', 'verify', 'record']) : undefined;
    const phases = plan.phases.filter((p) => !wanted || wanted.has(p.phase)).map((p) => ({ phase: p.phase, seconds: Math.round(p.end - p.start) }));
    return { phases, totalSeconds: phases.reduce((s, p) => s + p.seconds, 0), source: 'from herd plan' };
  } catch {
    return undefined;
  }
}
