/**
 * Follows a deploy until it ends. First the phases with their estimates and the total
 * (`estimate.ts`: the environment's history, else `herd plan`); then, every `POLL_MS` (the
 * injectable sleep), the execution's state and, during a rollout, the groups and targets
 * (`fleet.ts`): each finished phase against its estimate, the live step in words
 * (`step-names.ts`), the maintenance banner and one line per instance; at the end a summary
 * or the failure's cause and what was rolled back (`watch-view.ts`). `display.ts` draws it on
 * a terminal (redrawn in place) or piped (plain lines, a heartbeat). Ctrl-C detaches: the
 * deploy keeps running.
 */
import { ADVANCE_FATAL_ERRORS } from '../../lambda/deploy/contract';
import { maintenanceStatus } from '../../lambda/deploy/maintenance';
import type { DeployState } from '../../lambda/deploy/state';
import type { CliDeps } from './deps';
import type { EnvironmentHandle } from './environment';
import { CliError, EXIT } from './errors';
import { EXECUTION_VISIBILITY_SECONDS, endedAbnormally, readDeployExecution, type ExecutionView } from './execution';
import { PlainDisplay, TerminalDisplay, terminalSize, type Display } from './display';
import { estimateDeploy, mediansOf, type DeployEstimate } from './estimate';
import { InstanceTracker, readFleet, type FleetView, type ReleaseVersions } from './fleet';
import { readHistory } from './history';
import { PHASE_NAMES } from './step-names';
import { currentPhase, formatDuration, progressOf } from './progress';
import { bannerKey, failureLines, finishedPhaseLine, followsInstances, humanCause, liveView, pageDownLine, phaseListLines, successLines } from './watch-view';

/** Seconds between polls: the fastest a deploy's state changes (its shortest wait is 10 s). */
export const POLL_MS = 5000;

/** How long to wait for the reaper to resume an execution that died (EventBridge delivers within seconds). */
export const RESUME_WAIT_SECONDS = 120;

export interface WatchTarget {
  readonly deployId: string;
  /** Execution to follow from (a repair's; the lock's `execution`); default the deploy's own. */
  readonly execution?: string;
  /** What the command that started this expects: `aborted` (herd abort) and `repaired` (herd repair) end with exit 0 when they get it. */
  readonly expect?: 'aborted' | 'repaired';
  /** When the deploy started (epoch ms): Step Functions may not show its execution for a few seconds. */
  readonly startedAt: number;
  readonly release: string;
  readonly strategy: string;
  readonly mode?: 'deploy' | 'bake' | 'restart';
}

/** Follows `target` (exit code of `watchDeploy`), or returns `detached` at once, saying how to follow it. */
export async function followUnlessDetached(deps: CliDeps, handle: EnvironmentHandle, target: WatchTarget, detach: boolean | undefined): Promise<number> {
  if (detach) {
    deps.out.write(`detached: ${followHint(handle.name, target.deployId)}\n`);
    return EXIT.detached;
  }
  return watchDeploy(deps, handle, target);
}

/** How to follow a deploy that keeps running without us. */
export function followHint(env: string, deployId: string): string {
  return `deploy ${deployId} keeps running; follow it with \`herd watch ${env}\`, check it with \`herd status ${env}\``;
}

/** The deploy's release and its launch-template versions. */
function releaseVersions(state: DeployState): ReleaseVersions | undefined {
  return state.next ? { release: state.release, versions: state.next.versions } : undefined;
}

/** The release that served before, and its versions. */
function previousVersions(state: DeployState): ReleaseVersions | undefined {
  return state.previous ? { release: state.previous.release, versions: state.previous.versions } : undefined;
}

/** The phases of a state that ended, by timing index. */
function finishedTimings(state: DeployState): number[] {
  return state.timings.flatMap((t, n) => (t.endedAt !== undefined ? [n] : []));
}

/**
 * Follows `target` until it ends or the operator presses Ctrl-C: the phase list with
 * estimates first, then each finished phase against its estimate, the live step, the
 * maintenance banner and the instances of a rollout, and a summary at the end.
 * Resolves with the exit code after printing the outcome; throws `CliError` for a failure.
 */
export async function watchDeploy(deps: CliDeps, handle: EnvironmentHandle, target: WatchTarget): Promise<number> {
  const history = await readHistory(handle.clients, handle.outputs.deployTableName, 50);
  const display: Display = deps.isTTY ? new TerminalDisplay(deps) : new PlainDisplay(deps, POLL_MS / 1000);
  let estimate: DeployEstimate | undefined;
  try {
    estimate = await estimateDeploy(handle, history, target);
    for (const line of phaseListLines(estimate, target, handle.name)) display.print(line);
  } catch (err) {
    display.stop();
    throw err;
  }
  const medians = mediansOf(estimate);
  // An operator's page up already: the deploy's state says nothing of it when it is rolling.
  const page = await maintenanceStatus(handle.clients, handle.deploy).catch(() => undefined);
  const pageUpBefore = page?.on === true && page.owner !== target.deployId;
  const env = { ...handle, hasWorker: handle.outputs.workerAutoScalingGroup !== '', pageUpBefore };
  const tracker = new InstanceTracker();
  let trackedPhase: string | undefined;
  /** The maintenance banner is on screen: its end is said once. */
  let pageShown = false;
  let interrupted = false;
  let wake: () => void = () => undefined;
  const unsubscribe = deps.onInterrupt(() => {
    interrupted = true;
    wake();
  });
  const shown = new Set<string>();
  let view: ExecutionView | undefined;
  let diedAt: number | undefined;
  let from = target.execution;
  /** Before the first state: the total estimate counts down from the start. */
  const startingTime = () => {
    const elapsed = Math.max(0, (deps.now() - target.startedAt) / 1000);
    return estimate ? `elapsed ${formatDuration(elapsed)} · ETA ~${formatDuration(Math.max(0, estimate.totalSeconds - elapsed))}` : '';
  };
  const waiting = (line: string, key: string, time = '') =>
    display.live({ line, time, key, heartbeat: time ? `${line}, ${time.replace(' · ', ', ')}` : line, banner: [], bannerKey: '', instances: [], changes: [] });
  try {
    for (;;) {
      const current = await readDeployExecution(handle.clients, handle.outputs.deployStateMachineArn, target.deployId, from);
      if (!current) {
        if (deps.now() - target.startedAt > EXECUTION_VISIBILITY_SECONDS * 1000) {
          throw new CliError(`Step Functions does not know deploy ${target.deployId} on ${handle.name}; see \`herd history ${handle.name}\``);
        }
        // Started a moment ago: DescribeExecution is eventually consistent.
        waiting('starting', 'starting', startingTime());
      } else {
        view = current.view;
        from = current.executionArn.split(':').pop();
        for (const d of current.died) {
          const key = `died:${d.executionArn}`;
          if (shown.has(key)) continue;
          shown.add(key);
          display.print(`execution ${d.executionArn.split(':').pop()} ended ${describeEnd(d.view)}; resumed by the reaper`, 'warning');
        }
        const state = view.state;
        if (state) {
          for (const n of finishedTimings(state)) {
            const key = `${n}:${state.timings[n]?.phase}`;
            if (shown.has(key)) continue;
            shown.add(key);
            const { line, mark } = finishedPhaseLine(state, n, estimate);
            display.print(line, mark);
          }
          if (view.status === 'RUNNING') {
            const phase = currentPhase(state);
            let fleet: FleetView | undefined;
            if (followsInstances(state, phase)) {
              fleet = await readFleet(handle.clients, handle.outputs, releaseVersions(state), previousVersions(state));
            }
            // A new phase starts a new list of instances (the rollback's differ from the rollout's).
            if (trackedPhase !== phase) tracker.reset();
            trackedPhase = phase;
            const instances = fleet ? tracker.update(fleet) : { all: [], changes: [] };
            const progress = await progressOf(handle, state, medians, deps.now());
            const live = liveView(state, progress, fleet, instances, env, deps.now());
            if (pageShown && live.bannerKey === '') display.print(pageDownLine(state));
            pageShown = live.bannerKey !== '';
            display.live(live);
          }
        } else if (view.status === 'RUNNING') {
          waiting('starting', 'starting', startingTime());
        }
        if (view.status !== 'RUNNING') {
          // An execution that died is resumed by the reaper in a new one: wait for it.
          if (!endedAbnormally(view)) break;
          diedAt ??= deps.now();
          if (deps.now() - diedAt > RESUME_WAIT_SECONDS * 1000) break;
          waiting(`execution ended ${describeEnd(view)}; waiting for the reaper to resume the deploy`, `died:${current.executionArn}`);
        } else {
          diedAt = undefined;
        }
      }
      if (interrupted) break;
      await Promise.race([deps.sleep(POLL_MS), new Promise<void>((resolve) => (wake = resolve))]);
      if (interrupted) break;
    }
    if (view && !(interrupted && (view.status === 'RUNNING' || endedAbnormally(view)))) {
      if (pageShown && view.state && bannerKey(view.state, pageUpBefore) === '' && !pageUpBefore) display.print(pageDownLine(view.state));
      await summarize(deps, handle, target, view, display, estimate);
    }
  } finally {
    display.stop();
    unsubscribe();
  }
  if (interrupted && (!view || view.status === 'RUNNING' || endedAbnormally(view))) {
    deps.out.write(`detached: ${followHint(handle.name, target.deployId)}\n`);
    return EXIT.detached;
  }
  if (!view) throw new CliError(`Step Functions does not know deploy ${target.deployId} on ${handle.name}; see \`herd history ${handle.name}\``);
  return outcome(deps, handle, target, view);
}

/** The lines before the outcome: a release's summary, or a failure's cause and what was rolled back. */
async function summarize(deps: CliDeps, handle: EnvironmentHandle, target: WatchTarget, view: ExecutionView, display: Display, estimate: DeployEstimate | undefined): Promise<void> {
  const state = view.state;
  if (!state || endedAbnormally(view) || (ADVANCE_FATAL_ERRORS as readonly string[]).includes(view.error ?? '')) return;
  if (view.status === 'SUCCEEDED' && state.outcome === 'succeeded' && target.mode !== 'bake') {
    const fleet = await readFleet(handle.clients, handle.outputs, releaseVersions(state), previousVersions(state));
    for (const line of successLines(state, fleet, estimate, handle, deps.now())) display.print(line);
    return;
  }
  if (state.outcome === 'failed' || state.outcome === 'needs-attention' || state.outcome === 'aborted') {
    const [first, ...rest] = failureLines(state, view.cause);
    if (first) display.print(first, 'cause');
    for (const line of rest) display.print(line);
  }
}

/** "TIMED_OUT", "ABORTED", or "FAILED (States.Runtime: …)". */
function describeEnd(view: ExecutionView): string {
  return `${view.status}${view.error ? ` (${view.error}${view.cause ? `: ${view.cause.slice(0, 200)}` : ''})` : ''}`;
}

function outcome(deps: CliDeps, handle: EnvironmentHandle, target: WatchTarget, view: ExecutionView): number {
  const state = view.state;
  const took = state ? ` in ${formatDuration((deps.now() - state.startedAt) / 1000)}` : '';
  if (view.status === 'SUCCEEDED' && state?.outcome !== 'failed') {
    if (state?.outcome === 'unchanged') {
      deps.out.write(`release ${target.release} already serves on ${handle.name}: nothing was done (deploy again with --force to replace every instance)\n`);
    } else if (target.mode === 'bake') {
      deps.out.write(`image ${state?.image?.imageId ?? '(unknown)'} of release ${target.release} is ready${took}; deploy it with \`herd deploy ${handle.name} ${target.release}\`\n`);
    } else {
      // A terminal too narrow for the deploy id (printed when it started) gets the line without it.
      const full = `release ${target.release} serves on ${handle.name} (deploy ${target.deployId}${took})`;
      const fits = !deps.isTTY || [...full].length < terminalSize(deps).columns;
      deps.out.write(`${fits ? full : `release ${target.release} serves on ${handle.name} (${took.trim()})`}\n`);
    }
    return EXIT.ok;
  }
  if ((ADVANCE_FATAL_ERRORS as readonly string[]).includes(view.error ?? '')) {
    throw new CliError(`deploy ${target.deployId} refused: ${view.cause ?? view.error}`, EXIT.usage);
  }
  if (state?.outcome === 'aborted') {
    const back = state.previous?.release ? `release ${state.previous.release} keeps serving` : 'nothing serves it';
    deps.out.write(`deploy ${target.deployId} aborted (${state.failure?.cause ?? 'herd abort'}); compensated: ${back}${took}\n`);
    if (target.expect === 'aborted') return EXIT.ok;
    throw new CliError(`deploy ${target.deployId} was aborted; ${back}`, EXIT.failed);
  }
  if (state?.outcome === 'needs-attention') {
    const reason = state.compensation?.errors.join('; ') ?? view.cause ?? 'compensation did not finish';
    throw new CliError(
      `deploy ${target.deployId} failed and its compensation did not finish: ${reason}; the environment is locked and half rolled back: ` +
        `see \`herd status ${handle.name}\`, fix the cause, then \`herd repair ${handle.name}\``,
      EXIT.failed,
    );
  }
  if (target.expect === 'repaired' && state?.outcome === 'failed') {
    const back = state.previous?.release ? `release ${state.previous.release} serves` : 'the environment is back as before the deploy';
    deps.out.write(`deploy ${target.deployId} repaired: compensation finished; ${back}; the lock is free${took}\n`);
    return EXIT.ok;
  }
  if (endedAbnormally(view)) {
    // The reaper did not resume it (it gave up, or is not deployed): say what is left to do.
    throw new CliError(
      `deploy ${target.deployId}'s execution ended ${describeEnd(view)} and was not resumed within ${RESUME_WAIT_SECONDS} s; ` +
        `see \`herd status ${handle.name}\` and \`herd history ${handle.name}\`: the environment may be locked and half deployed`,
      EXIT.failed,
    );
  }
  const cause = humanCause(state?.failure?.cause ?? view.cause ?? view.error ?? `execution ${view.status}`);
  const where = state?.failure ? ` in ${PHASE_NAMES[state.failure.phase]}` : '';
  const previous = state?.previous?.release;
  const kept =
    target.mode === 'bake'
      ? 'nothing was deployed'
      : target.mode === 'restart'
        ? `stopped; the instances from before keep serving release ${target.release}`
        : previous
          ? `rolled back; release ${previous} keeps serving`
          : 'rolled back';
  const extra = state?.compensation && state.compensation.errors.length > 0 ? `; compensation errors: ${state.compensation.errors.join('; ')}` : '';
  throw new CliError(`deploy ${target.deployId} failed${where}: ${cause}; ${kept}${extra}`, EXIT.failed);
}
