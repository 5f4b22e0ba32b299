/**
 * The sandbox: every configured environment simulated (`environments.ts`), sharing one
 * virtual time, loaded from and saved to its directory (`snapshot.ts`), with the faults an
 * operator armed (`faults.ts`). Time moves only when a command sleeps (`advance`) and,
 * when a command opens the sandbox, by the wall time since the last one, accelerated
 * `speed` times and capped at `maxCatchUpSeconds`: a deploy left running (`--detach`,
 * Ctrl-C) goes on between commands, and an idle sandbox resumes at once.
 */
import type { AwsClients } from '../cli/deps';
import type { HerdConfig } from '../config/types';
import type { SandboxEnvironment } from './environment';
import { sandboxEnvironments } from './environments';
import { faultHooks, type FaultsState } from './faults';
import { readSnapshot, writeSnapshot } from './snapshot';

/** Virtual seconds per wall second by default (`HERD_SANDBOX_SPEED`): a 15-minute deploy takes 15 s. */
export const DEFAULT_SANDBOX_SPEED = 60;
/** The most virtual time that passes between two commands: 30 minutes. */
export const MAX_CATCH_UP_SECONDS = 30 * 60;

export interface SandboxOptions {
  /** The directory holding the state (`.herd/sandbox`). */
  readonly dir: string;
  /** Virtual time per wall time: a sleep of `ms` waits `ms / speed` real milliseconds (`Infinity`: no wait). */
  readonly speed: number;
  /** The wall clock (epoch ms), for the catch-up between commands. Default `Date.now`. */
  readonly wallClock?: () => number;
  /** Waits `ms` of wall time (default: a timer); tests pass one that does not wait. */
  readonly wait?: (ms: number) => Promise<void>;
  /** Default `MAX_CATCH_UP_SECONDS`. */
  readonly maxCatchUpSeconds?: number;
}

export class Sandbox {
  private constructor(
    readonly config: HerdConfig,
    readonly environments: ReadonlyMap<string, SandboxEnvironment>,
    readonly faults: FaultsState,
    private readonly options: SandboxOptions,
  ) {
    for (const environment of environments.values()) environment.stateMachine.hooks = faultHooks(environment, faults);
  }

  /**
   * The sandbox in `options.dir` for `config`: freshly deployed environments when there is no
   * state yet, else the saved ones, caught up with the wall time since they were saved.
   * Throws a `CliError` when the state cannot be used (`readSnapshot`).
   */
  static async open(config: HerdConfig, options: SandboxOptions): Promise<Sandbox> {
    const environments = sandboxEnvironments(config);
    const snapshot = readSnapshot(options.dir, config, environments);
    const sandbox = new Sandbox(config, environments, snapshot?.faults ?? { armed: {}, active: [] }, options);
    if (snapshot) {
      const wallMs = (options.wallClock ?? Date.now)() - snapshot.savedAt;
      const seconds = wallMs > 0 ? Math.min(options.maxCatchUpSeconds ?? MAX_CATCH_UP_SECONDS, Math.floor((wallMs * options.speed) / 1000)) : 0;
      await sandbox.advance(seconds);
    }
    return sandbox;
  }

  /** Virtual time, epoch milliseconds. */
  now(): number {
    return [...this.environments.values()][0]?.world.clock.now() ?? 0;
  }

  /** The simulated environment `name`. */
  environment(name: string): SandboxEnvironment {
    const environment = this.environments.get(name);
    if (!environment) throw new Error(`the sandbox has no environment ${name} (it has ${[...this.environments.keys()].join(', ')})`);
    return environment;
  }

  /** The CLI's clients for environment `name`. */
  clients(name: string): AwsClients {
    return this.environment(name).clients();
  }

  /** Moves every environment `seconds` of virtual time forward, in lock-step; running deploys go on. */
  async advance(seconds: number): Promise<void> {
    const until = this.now() + Math.max(0, Math.round(seconds)) * 1000;
    for (const environment of this.environments.values()) {
      await environment.run((until - environment.world.clock.now()) / 1000);
      // The clock stops where the last deploy ended: the rest of the time passes without one.
      environment.world.cloud.advance((until - environment.world.clock.now()) / 1000);
    }
  }

  /** Writes the state (`snapshot.ts`). */
  save(): void {
    writeSnapshot(this.options.dir, this.config, this.environments, this.faults, (this.options.wallClock ?? Date.now)());
  }
}
