/**
 * `herd config <env> list [--json]`, `herd config <env> set KEY=VALUE… [--secret] [--restart]`,
 * `herd config <env> unset KEY… [--restart]`: the app settings instances load at boot.
 *
 * Plain values are SSM parameters under the environment's `env/` prefix; `--secret` values are
 * Secrets Manager secrets (`herd/<app>/<env>/config/KEY`) referenced under `secret-env/`, and
 * are never printed (`--secret KEY` without `=VALUE` reads the value from standard input).
 * herd's own names and the keys of herd.config.ts `appSettings` are refused (they belong to
 * herd and to CloudFormation). Every input is checked, and the lock, before the first write.
 * Writes are recorded in the history with their keys, never their values. Running instances
 * keep the settings they booted with: `herd restart <env>` (or `--restart`) rolls them.
 */
import type { Command } from 'commander';
import {
  HERD_PREFIX,
  HERD_SETTINGS,
  MAX_PLAIN_VALUE_CHARS,
  MAX_SECRET_VALUE_BYTES,
  MAX_SETTING_NAME_CHARS,
  SETTING_NAME,
  isHerdSetting,
} from '../../app-settings';
import type { Role } from '../../config/types';
import {
  deletePlainSetting,
  deleteSecretSetting,
  isCliSecret,
  putPlainSetting,
  putSecretSetting,
  readStoredSettings,
  settingEntries,
  type StoredSettings,
} from '../app-settings';
import { auditAction } from '../audit';
import type { CliDeps } from '../deps';
import { resolveEnvironment, type EnvironmentHandle } from '../environment';
import { CliError, EXIT, exitWith, explain } from '../errors';
import { lockedMessage, readLock } from '../../../lambda/deploy/lock';
import { checkRestart, parseRoles, restartEnvironment, type RestartOptions } from './restart';

const ACTIONS = ['list', 'set', 'unset'] as const;
type Action = (typeof ACTIONS)[number];

interface ConfigOptions {
  readonly secret?: boolean;
  readonly json?: boolean;
  readonly restart?: boolean;
  readonly role?: string;
  readonly detach?: boolean;
  readonly ignoreAlarms?: boolean;
}

/** One `set` item: a key and its value (read from stdin for a bare `--secret KEY`). */
interface Assignment {
  readonly key: string;
  readonly value: string;
}

/** Refusals common to set and unset: the key's form and herd's own names. */
function keyProblem(key: string): string | undefined {
  if (key.length > MAX_SETTING_NAME_CHARS) return `setting name ${key.slice(0, 40)}… is ${key.length} characters long; at most ${MAX_SETTING_NAME_CHARS} are allowed`;
  if (!SETTING_NAME.test(key)) return `setting name ${JSON.stringify(key)} is not an environment variable name: use A-Z, 0-9 and _, not starting with a digit (e.g. FEATURE_FLAGS)`;
  if (isHerdSetting(key)) {
    return `${key} is set by herd itself (herd sets ${HERD_SETTINGS.join(', ')} and every ${HERD_PREFIX}* name); choose another name`;
  }
  return undefined;
}

/** Refuses while a deploy (or restart) holds the lock: its new instances would boot with a mix of old and new settings. */
async function refuseWhenLocked(handle: EnvironmentHandle): Promise<void> {
  const holder = await readLock(handle.clients, handle.outputs.deployTableName);
  if (holder) {
    throw new CliError(
      `${lockedMessage(handle.name, holder)}. Settings do not change while a deploy runs (its new instances would boot with a mix of old and new settings): ` +
        `wait for it to end (herd watch ${handle.name}), then run this again; nothing was changed`,
      EXIT.usage,
    );
  }
}

/** The refusal for a key herd.config.ts owns. */
function ownedByConfigFile(key: string, env: string): string {
  return `${key} is set in herd.config.ts appSettings for ${env}; change it there and run cdk deploy, or remove it there first to manage it with herd config`;
}

function refuse(problems: readonly string[]): never {
  throw new CliError(problems.length === 1 ? `${problems[0]}; nothing was changed` : `${problems.map((p, n) => `(${n + 1}) ${p}`).join('; ')}; nothing was changed`, EXIT.usage);
}

/** `set` items as given, checked before anything is read from AWS; a bare `--secret KEY` takes its value from stdin. */
async function parseAssignments(deps: CliDeps, handle: EnvironmentHandle, items: readonly string[], secret: boolean): Promise<Assignment[]> {
  const env = handle.name;
  if (items.length === 0) refuse([`herd config ${env} set needs KEY=VALUE (or, with --secret, KEY alone to read its value from standard input)`]);
  const problems: string[] = [];
  const seen = new Set<string>();
  const parsed: { key: string; value?: string }[] = [];
  for (const item of items) {
    const eq = item.indexOf('=');
    const key = eq < 0 ? item : item.slice(0, eq);
    // The value is never quoted back: it may be a secret given by mistake without --secret.
    if (eq < 0 && !secret) {
      problems.push(`${JSON.stringify(key.slice(0, 130))} has no value: write KEY=VALUE (or use --secret KEY to read a secret from standard input)`);
      continue;
    }
    const problem = keyProblem(key) ?? (key in handle.config.appSettings ? ownedByConfigFile(key, env) : undefined);
    if (problem) problems.push(problem);
    if (seen.has(key)) problems.push(`${key} is given twice`);
    seen.add(key);
    parsed.push(eq < 0 ? { key } : { key, value: item.slice(eq + 1) });
  }
  const fromStdin = parsed.filter((p) => p.value === undefined);
  if (fromStdin.length > 1) problems.push(`only one secret can be read from standard input at a time (received ${fromStdin.map((p) => p.key).join(', ')}); give the others as KEY=VALUE`);
  if (fromStdin.length === 1 && !deps.readStdin) problems.push(`${fromStdin[0]?.key} has no value and standard input cannot be read here; write KEY=VALUE`);
  if (problems.length > 0) refuse(problems);
  const out: Assignment[] = [];
  for (const p of parsed) {
    // One trailing newline (from `echo` or a file) is not part of the value.
    const value = p.value ?? (await deps.readStdin!()).replace(/\r?\n$/, '');
    if (value.length === 0) problems.push(`${p.key} has an empty value (SSM and Secrets Manager store none); to remove it run herd config ${env} unset ${p.key}`);
    else if (!secret && value.length > MAX_PLAIN_VALUE_CHARS) {
      problems.push(`the value of ${p.key} is ${value.length} characters long; a plain setting holds at most ${MAX_PLAIN_VALUE_CHARS} (SSM standard tier): store it with --secret (up to ${MAX_SECRET_VALUE_BYTES} bytes)`);
    } else if (secret && Buffer.byteLength(value, 'utf8') > MAX_SECRET_VALUE_BYTES) {
      problems.push(`the value of ${p.key} is ${Buffer.byteLength(value, 'utf8')} bytes long; a secret holds at most ${MAX_SECRET_VALUE_BYTES} (Secrets Manager)`);
    }
    out.push({ key: p.key, value });
  }
  if (problems.length > 0) refuse(problems);
  return out;
}

/** Refusals that depend on what is stored: a key kept as the other kind, or one the stack wrote. */
function storedProblems(handle: EnvironmentHandle, stored: StoredSettings, keys: readonly string[], secret: boolean): string[] {
  const env = handle.name;
  const problems: string[] = [];
  for (const key of keys) {
    const plain = stored.plain.get(key);
    if (plain && !plain.byCli) problems.push(`${key} was written by the stack from herd.config.ts (it is no longer in appSettings for ${env}): run cdk deploy to remove it, then set it with herd config`);
    else if (secret && plain) problems.push(`${key} is a plain setting: run herd config ${env} unset ${key} first to make it a secret`);
    else if (!secret && stored.secret.has(key)) problems.push(`${key} is a secret: run herd config ${env} unset ${key} first to make it plain, or set it with --secret`);
  }
  return problems;
}

/** Replaces any copy of a secret value in an error's message before it is printed. */
function redacted(err: unknown, values: readonly string[]): unknown {
  if (!(err instanceof Error)) return err;
  let message = err.message;
  for (const v of values) if (v.length > 0) message = message.split(v).join('<secret value>');
  if (message === err.message) return err;
  return Object.assign(new Error(message), { name: err.name });
}

async function list(deps: CliDeps, handle: EnvironmentHandle, json: boolean): Promise<void> {
  const entries = settingEntries(handle, await readStoredSettings(handle));
  if (json) {
    deps.out.write(`${JSON.stringify(entries, null, 2)}\n`);
    return;
  }
  const rows = entries.map((e) => [e.key, `${e.source}${e.secret ? ' (secret)' : ''}`, e.secret ? '(secret: value not shown)' : (e.value ?? '')]);
  const widths = [0, 1].map((i) => Math.max(i === 0 ? 3 : 6, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) => `${r[0]!.padEnd(widths[0]!)}  ${r[1]!.padEnd(widths[1]!)}  ${r[2]}`.trimEnd();
  deps.out.write(`${[line(['KEY', 'SOURCE', 'VALUE']), ...rows.map(line)].join('\n')}\n`);
  const problems = entries.filter((e) => e.problem);
  if (problems.length > 0) deps.out.write(`\n${problems.map((e) => `! ${e.key}: ${e.problem}`).join('\n')}\n`);
}

async function set(deps: CliDeps, handle: EnvironmentHandle, items: readonly string[], opts: ConfigOptions, roles: readonly Role[] | undefined): Promise<number> {
  const secret = opts.secret === true;
  const assignments = await parseAssignments(deps, handle, items, secret);
  const values = assignments.map((a) => a.value);
  await refuseWhenLocked(handle);
  const stored = await readStoredSettings(handle);
  const serving = opts.restart ? await checkRestart(handle, restartOptions(opts, roles)) : undefined;
  const problems = storedProblems(handle, stored, assignments.map((a) => a.key), secret);
  if (problems.length > 0) refuse(problems);
  const actor = await deps.actor(handle.clients);
  const done: string[] = [];
  try {
    for (const a of assignments) {
      if (secret) await putSecretSetting(handle, a.key, a.value);
      else await putPlainSetting(handle, a.key, a.value);
      done.push(a.key);
    }
  } catch (err) {
    const cause = secret ? redacted(err, values) : err;
    if (done.length === 0) throw cause;
    // Half done: say what is written (and record it) rather than only the error.
    const failedOn = assignments[done.length]?.key ?? '?';
    await auditAction(deps, handle, 'config set', actor, `set ${describeKeys(done, secret)} (then failed on ${failedOn})`);
    throw new CliError(
      `set ${describeKeys(done, secret)} on ${handle.name}, then failed on ${failedOn}: ${explain(cause).message}; ` +
        `${done.join(', ')} ${done.length === 1 ? 'is' : 'are'} written (\`herd config ${handle.name} list\`); fix the cause and set the rest again`,
      EXIT.failed,
    );
  }
  const keys = describeKeys(done, secret);
  deps.out.write(`set ${keys} on ${handle.name}; instances load settings when they boot: ${opts.restart ? 'restarting now' : `run herd restart ${handle.name} to roll them out`}\n`);
  await auditAction(deps, handle, 'config set', actor, `set ${keys}`);
  return serving ? restartEnvironment(deps, handle, restartOptions(opts, roles), serving) : EXIT.ok;
}

function restartOptions(opts: ConfigOptions, roles: readonly Role[] | undefined): RestartOptions {
  return { ...(roles ? { roles } : {}), detach: opts.detach === true, ...(opts.ignoreAlarms ? { ignoreAlarms: true } : {}) };
}

function describeKeys(keys: readonly string[], secret: boolean): string {
  return `${keys.join(', ')}${secret ? ` (secret${keys.length === 1 ? '' : 's'})` : ''}`;
}

async function unset(deps: CliDeps, handle: EnvironmentHandle, keys: readonly string[], opts: ConfigOptions, roles: readonly Role[] | undefined): Promise<number> {
  const env = handle.name;
  if (keys.length === 0) refuse([`herd config ${env} unset needs at least one KEY`]);
  const problems: string[] = [];
  for (const key of new Set(keys)) {
    const problem = keyProblem(key);
    if (problem) problems.push(problem);
  }
  if (problems.length > 0) refuse(problems);
  await refuseWhenLocked(handle);
  const stored = await readStoredSettings(handle);
  const plan: { key: string; secretReference?: string }[] = [];
  for (const key of new Set(keys)) {
    const plain = stored.plain.get(key);
    const reference = stored.secret.get(key);
    if (plain?.byCli) plan.push({ key });
    else if (reference !== undefined && isCliSecret(handle, key, reference)) plan.push({ key, secretReference: reference });
    else if (key in handle.config.appSettings) problems.push(ownedByConfigFile(key, env));
    else if (plain || reference !== undefined) problems.push(`${key} was written by the stack, not herd config: cdk deploy removes it once it is gone from herd.config.ts`);
    else problems.push(`${key} is not set on ${env} (herd config ${env} list shows what is)`);
  }
  if (problems.length > 0) refuse(problems);
  const serving = opts.restart ? await checkRestart(handle, restartOptions(opts, roles)) : undefined;
  const actor = await deps.actor(handle.clients);
  const done: string[] = [];
  try {
    for (const p of plan) {
      if (p.secretReference !== undefined) await deleteSecretSetting(handle, p.key, p.secretReference);
      else await deletePlainSetting(handle, p.key);
      done.push(p.key);
    }
  } catch (err) {
    if (done.length === 0) throw err;
    const failedOn = plan[done.length]?.key ?? '?';
    await auditAction(deps, handle, 'config unset', actor, `unset ${done.join(', ')} (then failed on ${failedOn})`);
    throw new CliError(
      `unset ${done.join(', ')} on ${env}, then failed on ${failedOn}: ${explain(err).message}; ` +
        `${done.join(', ')} ${done.length === 1 ? 'is' : 'are'} gone (\`herd config ${env} list\`); fix the cause and unset the rest again`,
      EXIT.failed,
    );
  }
  const secrets = plan.filter((p) => p.secretReference !== undefined).map((p) => p.key);
  const what = `${done.join(', ')}${secrets.length > 0 ? ` (secret${secrets.length === 1 ? '' : 's'} ${secrets.join(', ')} deleted with a 7-day recovery window)` : ''}`;
  deps.out.write(`unset ${what} on ${env}; running instances keep it until they boot again: ${opts.restart ? 'restarting now' : `run herd restart ${env} to roll them out`}\n`);
  await auditAction(deps, handle, 'config unset', actor, `unset ${done.join(', ')}`);
  return serving ? restartEnvironment(deps, handle, restartOptions(opts, roles), serving) : EXIT.ok;
}

export function register(program: Command, deps: CliDeps): void {
  program
    .command('config')
    .description('list, set or unset the app settings instances load at boot (--secret: in Secrets Manager, never printed)')
    .argument('<env>', 'environment (herd.config.ts)')
    .argument('<action>', `one of ${ACTIONS.join(', ')}`)
    .argument('[items...]', 'set: KEY=VALUE… (with --secret, KEY alone reads the value from standard input); unset: KEY…')
    .option('--secret', 'set: store the values in Secrets Manager (never printed, nor recorded)')
    .option('--restart', 'set, unset: then roll the instances onto the new settings (herd restart)')
    .option('--role <role>', 'with --restart: restart only this role (web or worker)')
    .option('--detach', 'with --restart: start the restart and return (herd watch follows it)')
    .option('--ignore-alarms', 'with --restart: restart even if a rollback alarm is in ALARM (a setting that fixes the site)')
    .option('--json', 'list: print the settings as JSON (secrets without values)')
    .addHelpText(
      'after',
      [
        '',
        'Examples:',
        '  $ herd config staging list',
        '  $ herd config staging set FEATURE_CHECKOUT=on SUPPORT_EMAIL=help@example.com --restart',
        '  $ herd config staging set --secret STRIPE_API_KEY < stripe-key.txt',
        '  $ herd config staging unset FEATURE_CHECKOUT',
        '',
        'Keys in herd.config.ts appSettings are CloudFormation\'s: change them there and run cdk deploy.',
      ].join('\n'),
    )
    .action(async (env: string, action: string, items: string[], opts: ConfigOptions) => {
      if (!(ACTIONS as readonly string[]).includes(action)) {
        throw new CliError(`unknown config action ${JSON.stringify(action)}; use one of ${ACTIONS.join(', ')} (herd config ${env} list)`);
      }
      const act = action as Action;
      if (act === 'list' && items.length > 0) throw new CliError(`herd config ${env} list takes no keys (received ${items.length})`);
      if (act !== 'set' && opts.secret) throw new CliError(`--secret is for herd config ${env} set only (unset finds where each key is)`);
      if (act === 'list' && (opts.restart || opts.role || opts.detach || opts.ignoreAlarms)) throw new CliError('--restart, --role, --detach and --ignore-alarms are for set and unset');
      if (act !== 'list' && opts.json) throw new CliError('--json is for herd config <env> list');
      if (!opts.restart && (opts.role || opts.detach || opts.ignoreAlarms)) throw new CliError('--role, --detach and --ignore-alarms go with --restart');
      const roles = opts.role !== undefined ? parseRoles(opts.role) : undefined;
      const handle = await resolveEnvironment(deps, env);
      if (act === 'list') return list(deps, handle, opts.json === true);
      exitWith(act === 'set' ? await set(deps, handle, items, opts, roles) : await unset(deps, handle, items, opts, roles));
    });
}
