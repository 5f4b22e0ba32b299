/**
 * Follows a deploy until it ends: on a terminal one spinner line redrawn in place (ora),
 * with a line kept per finished phase; piped, one plain line per change. Polls every
 * `POLL_MS` (the injectable sleep), reading the execution and the environment's groups.
 * Ctrl-C detaches: the deploy keeps running.
 */
import ora, { type Ora } from 'ora';
import type { DeployState } from '../../lambda/deploy/state';
import type { CliDeps } from './deps';
import type { EnvironmentHandle } from './environment';
import { CliError, EXIT } from './errors';
import { readExecution, type ExecutionView } from './execution';
import { phaseMedians, readHistory } from './history';
import { formatDuration, progressKey, progressLine, progressOf } from './progress';

/** Seconds between polls: the fastest a deploy's state changes (its shortest wait is 10 s). */
export const POLL_MS = 5000;

export interface WatchTarget {
  readonly deployId: string;
  readonly executionArn: string;
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
  let view: ExecutionView;
  try {
    for (;;) {
      view = await readExecution(handle.clients, target.executionArn);
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
      if (view.status !== 'RUNNING' || interrupted) break;
      await Promise.race([deps.sleep(POLL_MS), new Promise<void>((resolve) => (wake = resolve))]);
      if (interrupted) break;
    }
  } finally {
    display.stop();
    unsubscribe();
  }
  if (interrupted && view.status === 'RUNNING') {
    deps.out.write(`detached: ${followHint(handle.name, target.deployId)}\n`);
    return EXIT.detached;
  }
  return outcome(deps, handle, target, view);
}

function outcome(deps: CliDeps, handle: EnvironmentHandle, target: WatchTarget, view: ExecutionView): number {
  const state = view.state;
  const took = state ? ` in ${formatDuration((deps.now() - state.startedAt) / 1000)}` : '';
  if (view.status === 'SUCCEEDED' && state?.outcome !== 'failed') {
    if (target.mode === 'bake') {
      deps.out.write(`image ${state?.image?.imageId ?? '(unknown)'} of release ${target.release} is ready${took}; deploy it with \`herd deploy ${handle.name} ${target.release}\`\n`);
    } else {
      deps.out.write(`release ${target.release} serves on ${handle.name} (deploy ${target.deployId}${took})\n`);
    }
    return EXIT.ok;
  }
  if (view.error === 'DeployLockedError' || view.error === 'InvalidDeployInputError') {
    throw new CliError(`deploy ${target.deployId} refused: ${view.cause ?? view.error}`, EXIT.usage);
  }
  const cause = state?.failure?.cause ?? view.cause ?? view.error ?? `execution ${view.status}`;
  const where = state?.failure ? ` in ${state.failure.phase}` : '';
  const previous = state?.previous?.release;
  const kept = target.mode === 'bake' ? 'nothing was deployed' : previous ? `rolled back; release ${previous} keeps serving` : 'rolled back';
  const extra = state?.compensation && state.compensation.errors.length > 0 ? `; compensation errors: ${state.compensation.errors.join('; ')}` : '';
  throw new CliError(`deploy ${target.deployId} failed${where}: ${cause}; ${kept}${extra}`, EXIT.failed);
}
