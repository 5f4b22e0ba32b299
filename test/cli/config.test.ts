/**
 * `herd config <env> list|set|unset` against the simulated environment (the fake's SSM and
 * Secrets Manager; every call evaluated against the operator's IAM policy after each test).
 * The stack's own settings are seeded as `environment-stack.ts` writes them: herd's names and
 * staging's `appSettings` (DEBUG) under `env/`, herd's secret references under `secret-env/`.
 */
import { lockedMessage } from '../../lambda/deploy/lock';
import { CLI_PARAMETER_DESCRIPTION, HERD_PLAIN_SETTINGS, HERD_SECRET_SETTINGS, HERD_SETTINGS } from '../../lib/app-settings';
import type { HerdConfig } from '../../lib/config/types';
import { resolveConfig } from '../../lib/config/validate';
import { parameterNames } from '../../lib/names';
import { runHerd, testDeps } from './support/harness';
import { OPERATOR_PRINCIPALS, SIMULATED_ACTOR, SimulatedEnvironment } from './support/simulated';

const names = parameterNames('shop', 'staging');
const DB_SECRET = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:db-AbCdEf';
const SECRET_VALUE = 'sk_live_51Hx-very-secret-value';

/** staging with `appSettings` (default: DEBUG=0). */
function config(appSettings: Record<string, string> = { DEBUG: '0' }): HerdConfig {
  return resolveConfig({
    app: 'shop',
    environments: [
      { name: 'staging', profile: 'small', network: { cidr: '10.20.0.0/16' }, maintenance: { bypassCidrs: ['203.0.113.0/24'] }, appSettings },
      { name: 'production', profile: 'production', network: { cidr: '10.30.0.0/16' }, certificateArn: 'arn:aws:acm:eu-west-1:123456789012:certificate/0b5f3f4e-1111-2222-3333-444455556666' },
    ],
  });
}

/** What `cdk deploy` of staging wrote for `appSettings`: herd's settings, the app's, herd's secret references. */
function seedStack(sim: SimulatedEnvironment, appSettings: Record<string, string>): void {
  const cloud = sim.world.cloud;
  const plain: Record<string, string> = { PORT: '8000', DATABASE_HOST: 'db.internal', DATABASE_PORT: '5432', DATABASE_NAME: 'app', REDIS_HOST: 'cache.internal', REDIS_PORT: '6379', REDIS_TLS: 'true', ALLOWED_HOSTS: 'shop.example', ...appSettings };
  expect(Object.keys(plain).slice(0, HERD_PLAIN_SETTINGS.length)).toEqual([...HERD_PLAIN_SETTINGS]);
  for (const [k, v] of Object.entries(plain)) {
    cloud.parameters.set(`${names.envPrefix}${k}`, v);
    cloud.parameterDescriptions.set(`${names.envPrefix}${k}`, `herd staging: app setting ${k}`);
  }
  for (const k of HERD_SECRET_SETTINGS) {
    cloud.parameters.set(`${names.secretEnvPrefix}${k}`, k.startsWith('DATABASE_') ? `${DB_SECRET}#${k === 'DATABASE_USER' ? 'username' : 'password'}` : `arn:aws:secretsmanager:eu-west-1:123456789012:secret:${k}-GhIjKl`);
    cloud.parameterDescriptions.set(`${names.secretEnvPrefix}${k}`, `herd staging: where the boot script reads secret setting ${k}`);
  }
}

function setup(options: { appSettings?: Record<string, string>; principal?: string; stdin?: string } = {}) {
  const appSettings = options.appSettings ?? { DEBUG: '0' };
  const sim = new SimulatedEnvironment({ web: 2, worker: 1, serving: 'r1' });
  seedStack(sim, appSettings);
  let cfg = config(appSettings);
  const deps = (stdin = options.stdin) => ({
    ...testDeps({ clients: () => sim.clients(options.principal), config: cfg, now: () => sim.world.clock.now(), sleep: () => sim.sleep() }),
    ...(stdin !== undefined ? { readStdin: async () => stdin } : {}),
  });
  return { sim, deps, reconfigure: (next: Record<string, string>) => void (cfg = config(next)) };
}

/** Everything a config command could change: parameters (with descriptions), secrets, the deploy table. */
function snapshot(sim: SimulatedEnvironment) {
  const c = sim.world.cloud;
  return JSON.stringify({
    parameters: [...c.parameters].sort(),
    descriptions: [...c.parameterDescriptions].sort(),
    secrets: [...c.secrets.values()].map((s) => ({ ...s })),
    table: [...c.table].sort(),
    executions: sim.executions.size,
  });
}

/** Everything a secret value could leak into: what was printed and everything stored outside Secrets Manager. */
function everywhereButSecretsManager(sim: SimulatedEnvironment, ...printed: string[]): string {
  const c = sim.world.cloud;
  return [...printed, JSON.stringify([...c.parameters]), JSON.stringify([...c.parameterDescriptions]), JSON.stringify([...c.table]), JSON.stringify([...sim.executions.values()].map((x) => x.states))].join('\n');
}

/** SSM lists a new parameter up to 4 s after it was created (the fake's lag): the operator types the next command. */
const typing = (sim: SimulatedEnvironment) => sim.world.cloud.advance(5);

const history = async (deps: ReturnType<ReturnType<typeof setup>['deps']>) =>
  JSON.parse((await runHerd(['history', 'staging', '--json'], deps)).out) as { kind: string; verb?: string; actor?: string; detail?: string; mode?: string; status?: string; release?: string }[];

describe('herd config set (plain)', () => {
  test('writes each value where boot reads it, says how to roll it out, and records the keys (not the values) in the history', async () => {
    const { sim, deps } = setup();
    const run = await runHerd(['config', 'staging', 'set', 'FEATURE_CHECKOUT=on', 'SUPPORT_EMAIL=help@example.com', 'EMPTY_OK=a=b'], deps());
    expect(run).toEqual({ code: 0, out: 'set FEATURE_CHECKOUT, SUPPORT_EMAIL, EMPTY_OK on staging; instances load settings when they boot: run herd restart staging to roll them out\n', err: '' });
    const p = sim.world.cloud.parameters;
    expect([p.get(`${names.envPrefix}FEATURE_CHECKOUT`), p.get(`${names.envPrefix}SUPPORT_EMAIL`), p.get(`${names.envPrefix}EMPTY_OK`)]).toEqual(['on', 'help@example.com', 'a=b']);
    expect(sim.world.cloud.parameterDescriptions.get(`${names.envPrefix}FEATURE_CHECKOUT`)).toBe(CLI_PARAMETER_DESCRIPTION);
    // No instance was touched: running ones keep their settings until a restart.
    expect(sim.executions.size).toBe(0);
    const entries = await history(deps());
    expect(entries).toEqual(expect.arrayContaining([expect.objectContaining({ kind: 'action', verb: 'config set', actor: SIMULATED_ACTOR, detail: 'set FEATURE_CHECKOUT, SUPPORT_EMAIL, EMPTY_OK' })]));
    expect(JSON.stringify(entries)).not.toContain('help@example.com');
  });

  test('overwrites a value herd config set before', async () => {
    const { sim, deps } = setup();
    expect((await runHerd(['config', 'staging', 'set', 'FEATURE_CHECKOUT=on'], deps())).code).toBe(0);
    expect((await runHerd(['config', 'staging', 'set', 'FEATURE_CHECKOUT=off'], deps())).code).toBe(0);
    expect(sim.world.cloud.parameters.get(`${names.envPrefix}FEATURE_CHECKOUT`)).toBe('off');
  });
});

describe('herd config set --secret', () => {
  test('stores the value read from standard input in Secrets Manager and its reference where boot reads it; the value is printed, logged and recorded nowhere', async () => {
    const { sim, deps } = setup({ stdin: `${SECRET_VALUE}\n` });
    const set = await runHerd(['config', 'staging', 'set', '--secret', 'STRIPE_API_KEY'], deps());
    expect(set).toEqual({ code: 0, out: 'set STRIPE_API_KEY (secret) on staging; instances load settings when they boot: run herd restart staging to roll them out\n', err: '' });
    const secret = sim.world.cloud.secrets.get('herd/shop/staging/config/STRIPE_API_KEY');
    // One trailing newline (from echo or a file) is not part of the value.
    expect(secret?.value).toBe(SECRET_VALUE);
    expect(secret?.arn).toMatch(/^arn:aws:secretsmanager:eu-west-1:123456789012:secret:herd\/shop\/staging\/config\/STRIPE_API_KEY-[A-Za-z0-9]{6}$/);
    expect(sim.world.cloud.parameters.get(`${names.secretEnvPrefix}STRIPE_API_KEY`)).toBe(secret?.arn);

    typing(sim);
    const list = await runHerd(['config', 'staging', 'list'], deps());
    const json = await runHerd(['config', 'staging', 'list', '--json'], deps());
    const entries = JSON.parse(json.out) as { key: string; source: string; secret: boolean; value?: string }[];
    expect(entries.find((e) => e.key === 'STRIPE_API_KEY')).toEqual({ key: 'STRIPE_API_KEY', source: 'herd config', secret: true });
    expect(list.out).toMatch(/^STRIPE_API_KEY\s+herd config \(secret\)\s+\(secret: value not shown\)$/m);
    const hist = await runHerd(['history', 'staging', '--json'], deps());
    expect(hist.out).toContain('"detail": "set STRIPE_API_KEY (secret)"');
    const seen = everywhereButSecretsManager(sim, set.out, set.err, list.out, list.err, json.out, hist.out);
    expect(seen).toContain('STRIPE_API_KEY');
    expect(seen).not.toContain(SECRET_VALUE);
  });

  test('a second set gives the same secret a new value; unset removes the reference and schedules the secret for deletion (7 days); set again restores it', async () => {
    const { sim, deps } = setup();
    expect((await runHerd(['config', 'staging', 'set', '--secret', 'API_TOKEN=one'], deps())).code).toBe(0);
    const arn = sim.world.cloud.secrets.get('herd/shop/staging/config/API_TOKEN')?.arn;
    expect((await runHerd(['config', 'staging', 'set', '--secret', 'API_TOKEN=two'], deps())).code).toBe(0);
    expect(sim.world.cloud.secrets.get('herd/shop/staging/config/API_TOKEN')).toMatchObject({ arn, value: 'two', versions: 2 });
    typing(sim);

    const unset = await runHerd(['config', 'staging', 'unset', 'API_TOKEN'], deps());
    expect(unset).toEqual({ code: 0, out: 'unset API_TOKEN (secret API_TOKEN deleted with a 7-day recovery window) on staging; running instances keep it until they boot again: run herd restart staging to roll them out\n', err: '' });
    expect(sim.world.cloud.parameters.has(`${names.secretEnvPrefix}API_TOKEN`)).toBe(false);
    expect(sim.world.cloud.secrets.get('herd/shop/staging/config/API_TOKEN')?.deletionDate).toBe(sim.world.clock.now() + 7 * 86_400_000);

    // CreateSecret would be refused for a name pending deletion: the secret is restored instead.
    expect(await runHerd(['config', 'staging', 'set', '--secret', 'API_TOKEN=three'], deps())).toMatchObject({ code: 0, err: '' });
    const back = sim.world.cloud.secrets.get('herd/shop/staging/config/API_TOKEN');
    expect([back?.arn, back?.value, back?.deletionDate]).toEqual([arn, 'three', undefined]);
    expect(sim.world.cloud.parameters.get(`${names.secretEnvPrefix}API_TOKEN`)).toBe(arn);
  });

  test('fails when a call fails after the secret was stored: the error names the call, never the value (even when AWS quotes it)', async () => {
    const { sim, deps } = setup();
    sim.world.cloud.faults.push({ api: 'ssm:PutParameter', code: 'ValidationException', message: `Parameter value ${SECRET_VALUE} rejected`, status: 400, times: 1 });
    const run = await runHerd(['config', 'staging', 'set', '--secret', `STRIPE_API_KEY=${SECRET_VALUE}`], deps());
    expect(run.code).toBe(1);
    expect(run.err).toBe('herd: ValidationException: Parameter value <secret value> rejected\n');
    expect(everywhereButSecretsManager(sim, run.out, run.err)).not.toContain(SECRET_VALUE);
    // The reference was not written: boot does not know the secret yet.
    expect(sim.world.cloud.parameters.has(`${names.secretEnvPrefix}STRIPE_API_KEY`)).toBe(false);
  });
});

describe('herd config set, half done', () => {
  test('fails on the second of two keys: the error says which key is written and which failed, and history records the written one', async () => {
    const { sim, deps } = setup();
    sim.world.cloud.faults.push({ api: 'ssm:PutParameter', code: 'ThrottlingException', message: 'Rate exceeded', status: 400, when: (input) => input.Name === `${names.envPrefix}SECOND` });
    const run = await runHerd(['config', 'staging', 'set', 'FIRST=1', 'SECOND=2'], deps());
    expect(run.code).toBe(1);
    expect(run.err).toMatch(/^herd: set FIRST on staging, then failed on SECOND: .*Rate exceeded.*; FIRST is written \(`herd config staging list`\); fix the cause and set the rest again\n$/);
    expect(sim.world.cloud.parameters.get(`${names.envPrefix}FIRST`)).toBe('1');
    expect(sim.world.cloud.parameters.has(`${names.envPrefix}SECOND`)).toBe(false);
  });

  test('unset fails on the second of two keys: the error says which key is gone and which failed', async () => {
    const { sim, deps } = setup();
    expect((await runHerd(['config', 'staging', 'set', 'FIRST=1', 'SECOND=2'], deps())).code).toBe(0);
    typing(sim);
    sim.world.cloud.faults.push({ api: 'ssm:DeleteParameter', code: 'ThrottlingException', message: 'Rate exceeded', status: 400, when: (input) => input.Name === `${names.envPrefix}SECOND` });
    const run = await runHerd(['config', 'staging', 'unset', 'FIRST', 'SECOND'], deps());
    expect(run.code).toBe(1);
    expect(run.err).toMatch(/^herd: unset FIRST on staging, then failed on SECOND: .*Rate exceeded.*; FIRST is gone \(`herd config staging list`\); fix the cause and unset the rest again\n$/);
    expect(sim.world.cloud.parameters.has(`${names.envPrefix}FIRST`)).toBe(false);
    expect(sim.world.cloud.parameters.get(`${names.envPrefix}SECOND`)).toBe('2');
  });
});

describe('herd config list', () => {
  test('shows every setting with its source: herd, herd.config.ts, herd config; secrets without values', async () => {
    const { sim, deps } = setup();
    expect((await runHerd(['config', 'staging', 'set', 'FEATURE_CHECKOUT=on'], deps())).code).toBe(0);
    typing(sim);
    const run = await runHerd(['config', 'staging', 'list', '--json'], deps());
    expect(run.err).toBe('');
    const entries = JSON.parse(run.out) as { key: string; source: string; secret: boolean; value?: string; problem?: string }[];
    expect(entries).toEqual(expect.arrayContaining([
      { key: 'DATABASE_HOST', source: 'herd', secret: false, value: 'db.internal' },
      { key: 'DATABASE_PASSWORD', source: 'herd', secret: true },
      { key: 'DEBUG', source: 'herd.config.ts', secret: false, value: '0' },
      { key: 'FEATURE_CHECKOUT', source: 'herd config', secret: false, value: 'on' },
    ]));
    expect(entries.map((e) => e.key).sort()).toEqual([...HERD_SETTINGS, 'DEBUG', 'FEATURE_CHECKOUT'].sort());
    expect(entries.filter((e) => e.problem)).toEqual([]);
  });

  test('runs with the read-only operator policy', async () => {
    const { deps } = setup({ principal: OPERATOR_PRINCIPALS['read-only'] });
    expect(await runHerd(['config', 'staging', 'list'], deps())).toMatchObject({ code: 0, err: '' });
  });
});

describe('who wins: herd.config.ts appSettings or herd config', () => {
  test('fails when herd config sets or unsets a key of herd.config.ts appSettings: the file wins, nothing changed', async () => {
    const { sim, deps } = setup();
    const before = snapshot(sim);
    const message = 'herd: DEBUG is set in herd.config.ts appSettings for staging; change it there and run cdk deploy, or remove it there first to manage it with herd config; nothing was changed\n';
    expect(await runHerd(['config', 'staging', 'set', 'DEBUG=1'], deps())).toEqual({ code: 2, out: '', err: message });
    expect(await runHerd(['config', 'staging', 'unset', 'DEBUG'], deps())).toEqual({ code: 2, out: '', err: message });
    expect(snapshot(sim)).toBe(before);
  });

  test('a key set with herd config, then added to herd.config.ts: list flags the conflict and its fix; unset (the fix) is allowed and removes it for cdk deploy', async () => {
    const { sim, deps, reconfigure } = setup();
    expect((await runHerd(['config', 'staging', 'set', 'NEW_FLAG=cli'], deps())).code).toBe(0);
    typing(sim);
    reconfigure({ DEBUG: '0', NEW_FLAG: 'file' });
    const list = await runHerd(['config', 'staging', 'list'], deps());
    expect(list.out).toContain('\n! NEW_FLAG: set with herd config and also in herd.config.ts appSettings for staging: cdk deploy fails creating its parameter; run `herd config staging unset NEW_FLAG`, then cdk deploy\n');
    const json = JSON.parse((await runHerd(['config', 'staging', 'list', '--json'], deps())).out) as { key: string; source: string }[];
    expect(json.filter((e) => e.key === 'NEW_FLAG').map((e) => e.source)).toEqual(['herd config']);
    // herd config no longer sets it (the file owns it now) …
    expect((await runHerd(['config', 'staging', 'set', 'NEW_FLAG=again'], deps())).code).toBe(2);
    // … but removes its own parameter, so cdk deploy can create the file's.
    expect(await runHerd(['config', 'staging', 'unset', 'NEW_FLAG'], deps())).toMatchObject({ code: 0, err: '' });
    expect(sim.world.cloud.parameters.has(`${names.envPrefix}NEW_FLAG`)).toBe(false);
    const after = JSON.parse((await runHerd(['config', 'staging', 'list', '--json'], deps())).out) as { key: string; source: string; problem?: string }[];
    expect(after.find((e) => e.key === 'NEW_FLAG')).toEqual({ key: 'NEW_FLAG', source: 'herd.config.ts', secret: false, value: 'file', problem: 'not deployed yet: run cdk deploy' });
  });
});

describe('refusals: the exact message, and nothing changed', () => {
  const lock = { deployId: '20261105T090000Z-abcdef', actor: 'bob', release: 'r0', since: '2026-11-05T09:00:00.000Z' };
  const cases: [string, string[], string, ((sim: SimulatedEnvironment) => void)?][] = [
    ['an unknown environment', ['config', 'qa', 'set', 'A=1'], 'unknown environment "qa"; configured environments: staging, production (herd.config.ts)'],
    ['an unknown action', ['config', 'staging', 'show'], 'unknown config action "show"; use one of list, set, unset (herd config staging list)'],
    ['a name that is no environment variable', ['config', 'staging', 'set', 'feature-x=1'], 'setting name "feature-x" is not an environment variable name: use A-Z, 0-9 and _, not starting with a digit (e.g. FEATURE_FLAGS); nothing was changed'],
    ['a name herd sets', ['config', 'staging', 'set', 'DATABASE_HOST=evil'], `DATABASE_HOST is set by herd itself (herd sets ${HERD_SETTINGS.join(', ')} and every HERD_* name); choose another name; nothing was changed`],
    ['a name in herd\'s prefix', ['config', 'staging', 'unset', 'HERD_ROLE'], `HERD_ROLE is set by herd itself (herd sets ${HERD_SETTINGS.join(', ')} and every HERD_* name); choose another name; nothing was changed`],
    ['a plain key without a value', ['config', 'staging', 'set', 'FEATURE'], '"FEATURE" has no value: write KEY=VALUE (or use --secret KEY to read a secret from standard input); nothing was changed'],
    ['an empty value', ['config', 'staging', 'set', 'FEATURE='], 'FEATURE has an empty value (SSM and Secrets Manager store none); to remove it run herd config staging unset FEATURE; nothing was changed'],
    ['a value over SSM\'s 4 KB', ['config', 'staging', 'set', `BIG=${'x'.repeat(4097)}`], 'the value of BIG is 4097 characters long; a plain setting holds at most 4096 (SSM standard tier): store it with --secret (up to 65536 bytes); nothing was changed'],
    ['a key given twice (with every other problem)', ['config', 'staging', 'set', 'A=1', 'A=2', 'PORT=1'], `(1) A is given twice; (2) PORT is set by herd itself (herd sets ${HERD_SETTINGS.join(', ')} and every HERD_* name); choose another name; nothing was changed`],
    ['an unknown key to unset', ['config', 'staging', 'unset', 'NOPE'], 'NOPE is not set on staging (herd config staging list shows what is); nothing was changed'],
    ['a key herd.config.ts wrote and no longer lists (the stack removes it)', ['config', 'staging', 'unset', 'OLD_FLAG'], 'OLD_FLAG was written by the stack, not herd config: cdk deploy removes it once it is gone from herd.config.ts; nothing was changed',
      (sim) => { sim.world.cloud.parameters.set(`${names.envPrefix}OLD_FLAG`, '1'); sim.world.cloud.parameterDescriptions.set(`${names.envPrefix}OLD_FLAG`, 'herd staging: app setting OLD_FLAG'); }],
    ['a plain key set as a secret', ['config', 'staging', 'set', '--secret', 'PLAIN=x'], 'PLAIN is a plain setting: run herd config staging unset PLAIN first to make it a secret; nothing was changed',
      (sim) => { sim.world.cloud.parameters.set(`${names.envPrefix}PLAIN`, 'p'); sim.world.cloud.parameterDescriptions.set(`${names.envPrefix}PLAIN`, CLI_PARAMETER_DESCRIPTION); }],
    ['a write while a deploy holds the lock', ['config', 'staging', 'set', 'A=1'],
      `${lockedMessage('staging', lock)}. Settings do not change while a deploy runs (its new instances would boot with a mix of old and new settings): wait for it to end (herd watch staging), then run this again; nothing was changed`,
      (sim) => void sim.world.cloud.table.set('LOCK\u0000LOCK', { pk: 'LOCK', sk: 'LOCK', ...lock })],
    ['--secret on unset', ['config', 'staging', 'unset', '--secret', 'A'], '--secret is for herd config staging set only (unset finds where each key is)'],
    ['--json on set', ['config', 'staging', 'set', 'A=1', '--json'], '--json is for herd config <env> list'],
    ['a second secret from standard input', ['config', 'staging', 'set', '--secret', 'A', 'B'], 'only one secret can be read from standard input at a time (received A, B); give the others as KEY=VALUE; nothing was changed'],
  ];
  test.each(cases.map(([name, argv, message, arrange]) => ({ name, argv, message, arrange })))('fails on $name', async ({ argv, message, arrange }) => {
    const { sim, deps } = setup({ stdin: 'from-stdin' });
    arrange?.(sim);
    const before = snapshot(sim);
    expect(await runHerd(argv, deps())).toEqual({ code: 2, out: '', err: `herd: ${message}\n` });
    expect(snapshot(sim)).toBe(before);
  });
});
