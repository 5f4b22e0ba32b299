/**
 * The sandbox's state on disk: `<dir>/state.json`, a versioned snapshot of every simulated
 * environment (the fake cloud's maps, sets and records, its ids counter and consistency
 * lags, the virtual clock, Step Functions' executions, the faults) with Maps and Sets
 * tagged (`codec.ts`), and the artifacts' bytes as files under `<dir>/objects/`. Loading
 * builds the environments from the configuration first, then overwrites their data from
 * the snapshot: what is code (handlers, hooks, alarm shapes) comes from the build.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CliError } from '../cli/errors';
import type { HerdConfig } from '../config/types';
import { decode, encode, overwrite, type Json } from './codec';
import type { SandboxEnvironment } from './environment';
import type { FaultsState } from './faults';
import type { Execution } from './step-functions';

/** The snapshot's format: a snapshot of another one is refused (`herd sandbox reset`). */
export const SNAPSHOT_FORMAT = 1;

/**
 * Fake cloud fields that are code or derived from the configuration, never saved. `functions`:
 * the Lambda functions the world registers (the role keeper) are code, made again with the
 * world each command; their invocation records last one command.
 */
const NOT_SAVED = new Set(['timings', 'clock', 'app', 'env', 'tableName', 'architecture', 'consistency', 'pendingBeforeCall', 'throttle', 'authorizer', 'faults', 'tickHooks', 'clientSets', 'handlers', 'registered', 'calls', 'functions']);
/** Logs that only grow: the last entries are kept. */
const TRIMMED: Readonly<Record<string, number>> = { published: 100, straddled: 100, violations: 100 };
/** States kept of an execution that ended (its last one is what DescribeExecution and the reaper read). */
const ENDED_EXECUTION_STATES = 3;

export interface SandboxSnapshot {
  readonly format: number;
  readonly app: string;
  readonly environments: readonly string[];
  /** Wall-clock time of the save (epoch ms): the next command catches up from it. */
  readonly savedAt: number;
  /** Virtual time (epoch ms), the same in every environment. */
  readonly clock: number;
  readonly faults: FaultsState;
  readonly worlds: Record<string, Json>;
}

export function statePath(dir: string): string {
  return path.join(dir, 'state.json');
}

function objectsDir(dir: string): string {
  return path.join(dir, 'objects');
}

/** The file of an object's bytes: its key's SHA-256 (keys hold slashes). */
function objectFile(key: string): string {
  return createHash('sha256').update(key).digest('hex');
}

/** One environment's data, ready for JSON. */
function saveEnvironment(environment: SandboxEnvironment, dir: string): Json {
  const cloud = environment.world.cloud as unknown as Record<string, unknown>;
  const saved: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(cloud)) {
    if (NOT_SAVED.has(key) || typeof value === 'function') continue;
    const keep = TRIMMED[key];
    saved[key] = keep !== undefined && Array.isArray(value) ? value.slice(-keep) : value;
  }
  const consistency = environment.world.cloud.consistency as unknown as Record<string, unknown>;
  const executions = [...environment.executions.values()].map((x) => (x.status === 'RUNNING' ? x : { ...x, states: x.states.slice(-ENDED_EXECUTION_STATES) }));
  fs.mkdirSync(objectsDir(dir), { recursive: true });
  const objects: Record<string, string> = {};
  for (const [key, bytes] of environment.objects) {
    const file = objectFile(key);
    const target = path.join(objectsDir(dir), file);
    if (!fs.existsSync(target)) fs.writeFileSync(target, bytes);
    objects[key] = file;
  }
  return encode({ cloud: saved, visibleAt: consistency.visibleAt, executions, reaped: environment.reaped, objects }) ?? null;
}

/** Overwrites `environment`'s data with what `saveEnvironment` saved. */
function loadEnvironment(environment: SandboxEnvironment, json: Json, dir: string): void {
  const data = decode(json) as { cloud: Record<string, unknown>; visibleAt: unknown; executions: Execution[]; reaped: string[]; objects: Record<string, string> };
  const cloud = environment.world.cloud as unknown as Record<string, unknown>;
  // Alarms keep their shape (code: how the metric is computed) from the build.
  const shapes = new Map([...environment.world.cloud.alarms].map(([name, alarm]) => [name, alarm.shape]));
  for (const [key, value] of Object.entries(data.cloud)) if (!NOT_SAVED.has(key)) overwrite(cloud, key, value);
  for (const [name, alarm] of environment.world.cloud.alarms) {
    const shape = shapes.get(name);
    if (shape) environment.world.cloud.alarms.set(name, { ...alarm, shape });
  }
  overwrite(environment.world.cloud.consistency as unknown as Record<string, unknown>, 'visibleAt', data.visibleAt);
  environment.executions.clear();
  for (const x of data.executions) environment.executions.set(x.arn, x);
  environment.reaped.splice(0, environment.reaped.length, ...data.reaped);
  environment.objects.clear();
  for (const [key, file] of Object.entries(data.objects)) environment.objects.set(key, fs.readFileSync(path.join(objectsDir(dir), file)));
}

const RESET = 'start over with `herd sandbox reset`';

/** Writes the snapshot of `environments` (atomically: a crash leaves the previous one). */
export function writeSnapshot(dir: string, config: HerdConfig, environments: ReadonlyMap<string, SandboxEnvironment>, faults: FaultsState, savedAt: number): void {
  fs.mkdirSync(dir, { recursive: true });
  const first = [...environments.values()][0];
  const snapshot: SandboxSnapshot = {
    format: SNAPSHOT_FORMAT,
    app: config.app,
    environments: [...environments.keys()],
    savedAt,
    clock: first?.world.clock.now() ?? 0,
    faults,
    worlds: Object.fromEntries([...environments].map(([name, e]) => [name, saveEnvironment(e, dir)])),
  };
  const file = statePath(dir);
  fs.writeFileSync(`${file}.tmp`, JSON.stringify(snapshot));
  fs.renameSync(`${file}.tmp`, file);
}

/**
 * Reads the snapshot in `dir` into `environments` (built from `config`); undefined when
 * there is none. Throws a `CliError` naming the problem when it is unreadable, of another
 * format, or made for another configuration (app renamed, environment added or removed).
 */
export function readSnapshot(dir: string, config: HerdConfig, environments: ReadonlyMap<string, SandboxEnvironment>): SandboxSnapshot | undefined {
  const file = statePath(dir);
  if (!fs.existsSync(file)) return undefined;
  let snapshot: SandboxSnapshot;
  try {
    snapshot = JSON.parse(fs.readFileSync(file, 'utf8')) as SandboxSnapshot;
  } catch (err) {
    throw new CliError(`the sandbox's state ${file} cannot be read (${err instanceof Error ? err.message : String(err)}): ${RESET}`);
  }
  if (typeof snapshot !== 'object' || snapshot === null || snapshot.format !== SNAPSHOT_FORMAT) {
    throw new CliError(`the sandbox's state ${file} is of format ${JSON.stringify((snapshot as Partial<SandboxSnapshot> | null)?.format)}, this herd reads format ${SNAPSHOT_FORMAT}: ${RESET}`);
  }
  if (snapshot.app !== config.app) {
    throw new CliError(`the sandbox was made for app ${snapshot.app}, the configuration is for app ${config.app}: ${RESET}`);
  }
  const names = [...environments.keys()];
  const added = names.filter((n) => !snapshot.environments.includes(n));
  const removed = snapshot.environments.filter((n) => !names.includes(n));
  if (added.length > 0 || removed.length > 0) {
    const changes = [...(added.length ? [`added: ${added.join(', ')}`] : []), ...(removed.length ? [`removed: ${removed.join(', ')}`] : [])].join('; ');
    throw new CliError(`the sandbox was made for environments ${snapshot.environments.join(', ')}, the configuration has ${names.join(', ')} (${changes}): ${RESET}`);
  }
  try {
    for (const [name, environment] of environments) {
      const world = snapshot.worlds[name];
      if (world === undefined) throw new Error(`no data for environment ${name}`);
      loadEnvironment(environment, world, dir);
      environment.world.clock.set(snapshot.clock);
    }
  } catch (err) {
    if (err instanceof CliError) throw err;
    throw new CliError(`the sandbox's state ${file} cannot be loaded (${err instanceof Error ? err.message : String(err)}): ${RESET}`);
  }
  return snapshot;
}
