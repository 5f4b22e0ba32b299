/**
 * `herd config` over the wire against a local moto_server (SSM and Secrets Manager as moto
 * implements them): set (plain and --secret), list, unset, and a refusal that changes nothing.
 */
import { DescribeSecretCommand, GetSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import { GetParametersByPathCommand } from '@aws-sdk/client-ssm';
import { parameterNames } from '../../lib/names';
import { runHerd, testConfig, testDeps } from './support/harness';
import { freshMotoEnvironmentEachTest, type MotoClients } from './support/moto-env';

let clients: MotoClients;
freshMotoEnvironmentEachTest((c) => {
  clients = c;
});

const names = parameterNames('shop', 'staging');
const deps = (stdin?: string) => ({ ...testDeps({ clients: () => clients, config: testConfig() }), ...(stdin !== undefined ? { readStdin: async () => stdin } : {}) });
const stored = async (prefix: string) =>
  Object.fromEntries(((await clients.ssm.send(new GetParametersByPathCommand({ Path: prefix }))).Parameters ?? []).map((p) => [p.Name?.slice(prefix.length), p.Value]));

describe('herd config against moto', () => {
  test('sets a plain and a secret setting where boot reads them, lists them (the secret without its value), unsets both', async () => {
    expect(await runHerd(['config', 'staging', 'set', 'FEATURE_CHECKOUT=on'], deps())).toMatchObject({ code: 0, err: '' });
    const secretRun = await runHerd(['config', 'staging', 'set', '--secret', 'STRIPE_API_KEY'], deps('sk_live_wire\n'));
    expect(secretRun).toMatchObject({ code: 0, err: '' });
    expect(await stored(names.envPrefix)).toEqual({ FEATURE_CHECKOUT: 'on' });
    const reference = (await stored(names.secretEnvPrefix)).STRIPE_API_KEY ?? '';
    expect(reference).toMatch(/:secret:herd\/shop\/staging\/config\/STRIPE_API_KEY-/);
    expect((await clients.secretsManager.send(new GetSecretValueCommand({ SecretId: reference }))).SecretString).toBe('sk_live_wire');

    const list = await runHerd(['config', 'staging', 'list', '--json'], deps());
    expect(JSON.parse(list.out)).toEqual([
      { key: 'FEATURE_CHECKOUT', source: 'herd config', secret: false, value: 'on' },
      { key: 'STRIPE_API_KEY', source: 'herd config', secret: true },
    ]);
    expect(`${secretRun.out}${list.out}${list.err}`).not.toContain('sk_live_wire');

    expect(await runHerd(['config', 'staging', 'unset', 'FEATURE_CHECKOUT', 'STRIPE_API_KEY'], deps())).toMatchObject({ code: 0, err: '' });
    expect([await stored(names.envPrefix), await stored(names.secretEnvPrefix)]).toEqual([{}, {}]);
    expect((await clients.secretsManager.send(new DescribeSecretCommand({ SecretId: reference }))).DeletedDate).toBeInstanceOf(Date);

    // Set again within the recovery window: the secret is restored with the new value.
    expect(await runHerd(['config', 'staging', 'set', '--secret', 'STRIPE_API_KEY=sk_live_two'], deps())).toMatchObject({ code: 0, err: '' });
    expect((await clients.secretsManager.send(new GetSecretValueCommand({ SecretId: reference }))).SecretString).toBe('sk_live_two');
  });

  test('fails on an unknown key to unset: the exact message, nothing changed', async () => {
    expect(await runHerd(['config', 'staging', 'set', 'KEEP=1'], deps())).toMatchObject({ code: 0 });
    const run = await runHerd(['config', 'staging', 'unset', 'NOPE'], deps());
    expect(run).toEqual({ code: 2, out: '', err: 'herd: NOPE is not set on staging (herd config staging list shows what is); nothing was changed\n' });
    expect(await stored(names.envPrefix)).toEqual({ KEEP: '1' });
  });
});
