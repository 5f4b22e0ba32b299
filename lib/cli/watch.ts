/**
 * Follows a deploy until it ends: on a terminal one spinner line redrawn in place (ora),
 * with a line kept per finished phase; piped, one plain line per change. Polls every
 * `POLL_MS` (the injectable sleep), reading the execution and the environment's groups.
 * Ctrl-C detaches: the deploy keeps running.
 */
import ora, { type Ora } from 'ora';
import { ADVANCE_FATAL_ERRORS } from '../../lambda/deploy/contract';
import type { DeployState } from '../../lambda/deploy/state';
import type { CliDeps } from './deps';
import type { EnvironmentHandle } from './environment';
import { CliError, EXIT } from './errors';
import { EXECUTION_VISIBILITY_SECONDS, endedAbnormally, readDeployExecution, type ExecutionView } from './execution';
import { phaseMedians, readHistory } from './history';
import { formatDuration, progressKey, progressLine, progressOf } from './progress';

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
  readonly mode?: 'deploy' | 'bake';
}

interface Display {
  update(line: string, key: string): void;
  persist(line: string): void;
  stop(): void;
}

class TerminalDisplay implements Display {
  private readonly spinner: Ora;
  constructor(deps: CliDeps) {
    this.spinner = ora({ stream: deps.out as NodeJS.WritableStream, isEnabled: true, discardStdin: false, text: 'starting' }).start();
  }
  update(line: string): void {
    this.spinner.text = line;
  }
  persist(line: string): void {
    const text = this.spinner.text;
    this.spinner.stopAndPersist({ symbol: '✔', text: line });
    this.spinner.start(text);
  }
  stop(): void {
    this.spinner.stop();
  }
}

class PlainDisplay implements Display {
  private last = '';
  constructor(private readonly deps: CliDeps) {}
  update(line: string, key: string): void {
    if (key === this.last) return;
    this.last = key;
    this.deps.out.write(`${line}\n`);
  }
  persist(line: string): void {
    this.deps.out.write(`done ${line}\n`);
  }
  stop(): void {}
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

function finishedPhases(state: DeployState): { key: string; line: string }[] {
  return state.timings
    .map((t, n) => ({ t, n }))
    .filter(({ t }) => t.endedAt !== undefined)
    .map(({ t, n }) => ({ key: `${n}:${t.phase}`, line: `${t.phase} ${formatDuration(((t.endedAt ?? t.startedAt) - t.startedAt) / 1000)}` }));
}

/**
 * Follows `target` until it ends or the operator presses Ctrl-C.
 * Resolves with the exit code after printing the outcome; throws `CliError` for a failure.
 */
export async function watchDeploy(deps: CliDeps, handle: EnvironmentHandle, target: WatchTarget): Promise<number> {
  const history = await readHistory(handle.clients, handle.outputs.deployTableName, 50);
  const medians = phaseMedians(history, { strategy: target.strategy, ...(target.mode ? { mode: target.mode } : {}) });
  const display: Display = deps.isTTY ? new TerminalDisplay(deps) : new PlainDisplay(deps);
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
  try {
    for (;;) {
      const current = await readDeployExecution(handle.clients, handle.outputs.deployStateMachineArn, target.deployId, from);
      if (!current) {
        if (deps.now() - target.startedAt > EXECUTION_VISIBILITY_SECONDS * 1000) {
          throw new CliError(`Step Functions does not know deploy ${target.deployId} on ${handle.name}; see \`herd history ${handle.name}\``);
        }
        // Started a moment ago: DescribeExecution is eventually consistent.
        display.update('starting', 'starting');
      } else {
        view = current.view;
        from = current.executionArn.split(':').pop();
        for (const d of current.died) {
          const key = `died:${d.executionArn}`;
          if (shown.has(key)) continue;
          shown.add(key);
          display.persist(`execution ${d.executionArn.split(':').pop()} ended ${describeEnd(d.view)}; resumed by the reaper`);
        }
        const state = view.state;
        if (state) {
          for (const p of finishedPhases(state)) {
            if (shown.has(p.key)) continue;
            shown.add(p.key);
            display.persist(p.line);
          }
          if (view.status === 'RUNNING') {
            const progress = await progressOf(handle, state, medians, deps.now());
            display.update(progressLine(progress), progressKey(progress));
          }
        } else if (view.status === 'RUNNING') {
          display.update('starting', 'starting');
        }
        if (view.status !== 'RUNNING') {
          // An execution that died is resumed by the reaper in a new one: wait for it.
          if (!endedAbnormally(view)) break;
          diedAt ??= deps.now();
          if (deps.now() - diedAt > RESUME_WAIT_SECONDS * 1000) break;
          display.update(`execution ended ${describeEnd(view)}; waiting for the reaper to resume the deploy`, `died:${current.executionArn}`);
        } else {
          diedAt = undefined;
        }
      }
      if (interrupted) break;
      await Promise.race([deps.sleep(POLL_MS), new Promise<void>((resolve) => (wake = resolve))]);
      if (interrupted) break;
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
      deps.out.write(`release ${target.release} serves on ${handle.name} (deploy ${target.deployId}${took})\n`);
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
  const cause = state?.failure?.cause ?? view.cause ?? view.error ?? `execution ${view.status}`;
  const where = state?.failure ? ` in ${state.failure.phase}` : '';
  const previous = state?.previous?.release;
  const kept = target.mode === 'bake' ? 'nothing was deployed' : previous ? `rolled back; release ${previous} keeps serving` : 'rolled back';
  const extra = state?.compensation && state.compensation.errors.length > 0 ? `; compensation errors: ${state.compensation.errors.join('; ')}` : '';
  throw new CliError(`deploy ${target.deployId} failed${where}: ${cause}; ${kept}${extra}`, EXIT.failed);
}
