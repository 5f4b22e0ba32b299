/**
 * The CLI's dependencies in the sandbox (`herd --sandbox`): the real ones (`defaultDeps`)
 * but for AWS, time and the sandbox's own verbs. Clients reach the simulation of the
 * environment they are for; `now()` is virtual time; `sleep(ms)` lets `ms` of virtual time
 * pass (running deploys step on) and waits `ms / speed` of wall time, and saves (at most
 * once a second: a killed command loses at most that). The lock is taken for the whole
 * command; `close()` saves and releases it.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { CliDeps, SandboxControl } from '../cli/deps';
import { CliError } from '../cli/errors';
import { clearFaults, FAULT_KINDS, isFaultKind } from './faults';
import { acquireLock } from './lock';
import { Sandbox, type SandboxOptions } from './sandbox';
import { statePath } from './snapshot';

/** Least wall time between two saves after sleeps (each write costs ~10 ms; a deploy polls every 5 virtual seconds). */
const SAVE_INTERVAL_MS = 1000;

export interface SandboxDepsOptions extends SandboxOptions {
  /** The real dependencies: output, configuration, Ctrl-C. */
  readonly base: CliDeps;
  /** The command line, named to another command the lock refuses. */
  readonly command: string;
}

/** Sandbox dependencies, and `close()`, to call once the command ended. */
export type SandboxDeps = CliDeps & { readonly sandbox: SandboxControl; close(): void };

/** The directory as the operator reads it: relative to the working directory when inside it. */
function shown(dir: string): string {
  const relative = path.relative(process.cwd(), dir);
  return relative && !relative.startsWith('..') && !path.isAbsolute(relative) ? relative : dir;
}

/**
 * Takes the sandbox's lock, prints the banner on stderr and opens the sandbox. A state that
 * cannot be used fails the first command that needs AWS, not this: `herd sandbox reset` and
 * `--help` still work.
 */
export async function sandboxDeps(options: SandboxDepsOptions): Promise<SandboxDeps> {
  const { base } = options;
  const release = acquireLock(options.dir, options.command);
  base.err.write(`sandbox: simulated AWS, state in ${shown(options.dir)} (herd sandbox reset starts over)\n`);
  let sandbox: Sandbox | undefined;
  let failure: unknown;
  try {
    sandbox = await Sandbox.open(base.config(), options);
  } catch (err) {
    failure = err;
  }
  const loaded = (): Sandbox => {
    if (!sandbox) throw failure;
    return sandbox;
  };
  let discarded = false;
  let savedAt = Date.now();
  const environmentNamed = (env: string) => {
    const names = [...loaded().environments.keys()];
    if (!names.includes(env)) throw new CliError(`unknown environment ${JSON.stringify(env)}: the sandbox has ${names.join(', ')} (herd.config.ts)`);
    return env;
  };
  const control: SandboxControl = {
    dir: shown(options.dir),
    faultKinds: FAULT_KINDS,
    reset() {
      fs.rmSync(statePath(options.dir), { force: true });
      fs.rmSync(path.join(options.dir, 'objects'), { recursive: true, force: true });
      discarded = true;
    },
    armFault(kind, env) {
      if (!isFaultKind(kind)) throw new CliError(`unknown fault ${JSON.stringify(kind)}: the sandbox knows ${Object.keys(FAULT_KINDS).join(', ')} (herd sandbox faults lists them)`);
      const s = loaded();
      const name = environmentNamed(env);
      const armed = (s.faults.armed[name] ??= []);
      if (!armed.includes(kind)) armed.push(kind);
    },
    clearFaults(env) {
      const s = loaded();
      clearFaults(s.faults, s.environments, env === undefined ? undefined : environmentNamed(env));
    },
    faults() {
      const s = loaded();
      return [
        ...Object.entries(s.faults.armed).flatMap(([env, kinds]) => kinds.map((kind) => ({ env, kind, state: 'armed' as const }))),
        ...s.faults.active.map((f) => ({ env: f.env, kind: f.kind, state: 'in effect' as const, deployId: f.deployId })),
      ];
    },
  };
  return {
    ...base,
    clients(_region, environment) {
      if (environment === undefined) throw new Error('the sandbox needs the environment the clients are for (deps.clients(region, environment))');
      return loaded().clients(environment);
    },
    now: () => loaded().now(),
    async sleep(ms) {
      const s = loaded();
      await s.advance(Math.max(1, Math.round(ms / 1000)));
      if (Date.now() - savedAt >= SAVE_INTERVAL_MS) {
        s.save();
        savedAt = Date.now();
      }
      const wait = ms / options.speed;
      if (Number.isFinite(wait) && wait >= 1) await (options.wait ?? ((t) => new Promise<void>((resolve) => setTimeout(resolve, t))))(wait);
    },
    sandbox: control,
    close() {
      try {
        if (sandbox && !discarded) sandbox.save();
      } finally {
        release();
      }
    },
  };
}
