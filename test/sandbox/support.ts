/**
 * Runs `herd` in-process in a sandbox over a temporary directory, each command with deps
 * built from disk (`sandboxDeps`), so every command loads and saves the state as the real
 * CLI does. Sleeps do not wait; between two commands `idle` virtual seconds pass (default
 * `TYPING_SECONDS`, the time an operator takes to type the next command).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { resolveConfig } from '../../lib/config/validate';
import type { HerdConfig } from '../../lib/config/types';
import type { EnvironmentStatus } from '../../lib/cli/commands/status';
import { main } from '../../lib/cli/program';
import { CliError } from '../../lib/cli/errors';
import { sandboxDeps, type SandboxDeps } from '../../lib/sandbox/deps';
import { Sandbox } from '../../lib/sandbox/sandbox';
import { testDeps, type TestRun } from '../cli/support/harness';

/** The example app every sandbox test deploys. */
export const MOOTUBE = path.join(__dirname, '../../examples/mootube');

/** A small configuration (app `mootube`): staging with 2 web, production with 2. */
export function sandboxConfig(): HerdConfig {
  return resolveConfig({
    app: 'mootube',
    environments: [
      // Web and worker roll at once, in one batch: the rollout can be over before a bad release's
      // 5xx alarm has its datapoints; the alarm watch after it catches the release then.
      { name: 'staging', profile: 'small', network: { cidr: '10.20.0.0/16' }, web: { minCapacity: 2, maxCapacity: 3 }, deploy: { alarmWatchMinutes: 3 } },
      { name: 'production', profile: 'small', network: { cidr: '10.30.0.0/16' } },
    ],
  });
}

/** Virtual seconds between two commands by default. */
export const TYPING_SECONDS = 10;

export class SandboxHarness {
  /** The wall clock the sandbox reads: virtual time catches up with it between commands. */
  wall = Date.parse('2026-12-01T00:00:00Z');

  /** `dir`: another harness's directory (the same sandbox under another configuration). */
  constructor(
    private readonly config: HerdConfig = sandboxConfig(),
    readonly dir: string = fs.mkdtempSync(path.join(os.tmpdir(), 'herd-sandbox-')),
  ) {}

  /** Runs `herd <argv>` in the sandbox, `idleSeconds` of virtual time after the last command. */
  async herd(argv: string[], idleSeconds = TYPING_SECONDS): Promise<TestRun> {
    const base = testDeps({ clients: () => { throw new Error('the sandbox must not reach the base clients'); }, config: this.config });
    // At speed 1, virtual time catches up by exactly the wall time that passed.
    this.wall += idleSeconds * 1000;
    let deps: SandboxDeps;
    try {
      deps = await sandboxDeps({ base, dir: this.dir, speed: 1, wallClock: () => this.wall, wait: async () => undefined, command: `herd ${argv.join(' ')}` });
    } catch (err) {
      // As bin/herd.ts: a refusal before the command runs (the lock).
      if (!(err instanceof CliError)) throw err;
      return { code: err.exitCode, out: base.out.text, err: `${base.err.text}herd: ${err.message}\n` };
    }
    // Sleeps advance virtual time only: the wall clock moves with them so the next command does not catch up again.
    const sleep = deps.sleep;
    let code: number;
    try {
      code = await main(argv, { ...deps, sleep: async (ms) => { await sleep(ms); this.wall += ms; } });
    } finally {
      deps.close();
    }
    return { code, out: base.out.text, err: base.err.text };
  }

  /** The sandbox as the next command will find it (opened without a lock: read it, do not save it). */
  open(): Promise<Sandbox> {
    return Sandbox.open(this.config, { dir: this.dir, speed: 1, wallClock: () => this.wall });
  }

  /** Changes the sandbox between two commands (what a test cannot do through the CLI), and saves it. */
  async tamper(change: (sandbox: Sandbox) => Promise<void> | void): Promise<void> {
    const sandbox = await this.open();
    await change(sandbox);
    sandbox.save();
  }

  /** The status of `env` (`herd status --json`). */
  async status(env: string): Promise<EnvironmentStatus> {
    const run = await this.herd(['status', env, '--json']);
    if (run.code !== 0) throw new Error(`herd status ${env} exited ${run.code}: ${run.err}`);
    return JSON.parse(run.out) as EnvironmentStatus;
  }

  /** The release serving `env` (`herd status --json`). */
  async serving(env: string): Promise<string> {
    return (await this.status(env)).release ?? 'missing';
  }

  remove(): void {
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

/** The release id a deploy's output names as serving. */
export function servedRelease(out: string, env: string): string | undefined {
  return new RegExp(`release (\\S+) serves on ${env}`).exec(out)?.[1];
}
