/**
 * An environment's app settings as the instances read them at boot (`instance/boot.sh`):
 * plain values in SSM Parameter Store under `envPrefix` (`/herd/<app>/<env>/env/KEY`), and
 * secret references under `secretEnvPrefix` (`…/secret-env/KEY` = a secret's ARN). `herd config`
 * reads them all and writes its own: plain ones as String parameters (described
 * `CLI_PARAMETER_DESCRIPTION`, which tells them from the stack's), secret ones as a Secrets
 * Manager secret `herd/<app>/<env>/config/KEY` plus its reference parameter.
 *
 * Who owns a key (`lib/app-settings.ts`): herd's own names are herd's; a key in the
 * environment's `appSettings` is herd.config.ts's (CloudFormation writes it); any other key is
 * `herd config`'s. Secret values are never read here: `list` shows where a secret is, never
 * its value.
 */
import {
  DeleteParameterCommand,
  DescribeParametersCommand,
  GetParametersByPathCommand,
  PutParameterCommand,
  type Parameter,
  type ParameterMetadata,
} from '@aws-sdk/client-ssm';
import {
  CreateSecretCommand,
  DeleteSecretCommand,
  DescribeSecretCommand,
  PutSecretValueCommand,
  RestoreSecretCommand,
} from '@aws-sdk/client-secrets-manager';
import { CLI_PARAMETER_DESCRIPTION, configSecretName, isHerdSetting } from '../app-settings';
import { parameterNames } from '../names';
import type { EnvironmentHandle } from './environment';

/** Who owns a setting. */
export type SettingSource = 'herd' | 'herd.config.ts' | 'herd config';

/** One setting as `herd config list` shows it. */
export interface SettingEntry {
  readonly key: string;
  readonly source: SettingSource;
  readonly secret: boolean;
  /** A plain setting's value; never set for a secret. */
  readonly value?: string;
  /** Something to fix about this key, with the fix. */
  readonly problem?: string;
}

/** What is stored for the environment, before interpretation. */
export interface StoredSettings {
  /** Plain parameters by key: value, and whether `herd config` wrote it. */
  readonly plain: Map<string, { readonly value: string; readonly byCli: boolean }>;
  /** Secret references by key: the secret's ARN (`#json-key` for herd's JSON secrets). */
  readonly secret: Map<string, string>;
}

/** Every parameter one level under `path` (GetParametersByPath pages hold at most 10). */
async function parametersUnder(handle: EnvironmentHandle, path: string): Promise<Parameter[]> {
  const out: Parameter[] = [];
  let token: string | undefined;
  do {
    const res = await handle.clients.ssm.send(new GetParametersByPathCommand({ Path: path, Recursive: false, MaxResults: 10, ...(token ? { NextToken: token } : {}) }));
    out.push(...(res.Parameters ?? []));
    token = res.NextToken;
  } while (token);
  return out;
}

/** Names and descriptions one level under `path` (DescribeParameters pages hold at most 50). */
async function descriptionsUnder(handle: EnvironmentHandle, path: string): Promise<ParameterMetadata[]> {
  const out: ParameterMetadata[] = [];
  let token: string | undefined;
  do {
    const res = await handle.clients.ssm.send(
      new DescribeParametersCommand({ ParameterFilters: [{ Key: 'Path', Option: 'OneLevel', Values: [path] }], MaxResults: 50, ...(token ? { NextToken: token } : {}) }),
    );
    out.push(...(res.Parameters ?? []));
    token = res.NextToken;
  } while (token);
  return out;
}

/** Reads what is stored for `handle`'s environment (values of plain settings, references of secret ones). */
export async function readStoredSettings(handle: EnvironmentHandle): Promise<StoredSettings> {
  const names = parameterNames(handle.app, handle.name);
  const [values, descriptions, references] = await Promise.all([
    parametersUnder(handle, names.envPrefix),
    descriptionsUnder(handle, names.envPrefix),
    parametersUnder(handle, names.secretEnvPrefix),
  ]);
  const byCli = new Set(descriptions.filter((d) => d.Description === CLI_PARAMETER_DESCRIPTION).map((d) => d.Name));
  const plain = new Map<string, { value: string; byCli: boolean }>();
  for (const p of values) {
    if (!p.Name) continue;
    plain.set(p.Name.slice(names.envPrefix.length), { value: p.Value ?? '', byCli: byCli.has(p.Name) });
  }
  const secret = new Map<string, string>();
  for (const p of references) if (p.Name) secret.set(p.Name.slice(names.secretEnvPrefix.length), p.Value ?? '');
  return { plain, secret };
}

/** Whether a secret reference names a secret `herd config` made for `handle`'s environment. */
export function isCliSecret(handle: EnvironmentHandle, key: string, reference: string): boolean {
  return reference.includes(`:secret:${configSecretName(handle.app, handle.name, key)}-`);
}

/** The settings of `handle`'s environment, sorted by key, each with its owner and any problem. */
export function settingEntries(handle: EnvironmentHandle, stored: StoredSettings): SettingEntry[] {
  const env = handle.name;
  const inConfig = handle.config.appSettings;
  const entries: SettingEntry[] = [];
  for (const [key, { value, byCli }] of stored.plain) {
    if (isHerdSetting(key)) {
      entries.push({ key, source: 'herd', secret: false, value });
    } else if (byCli && key in inConfig) {
      entries.push({
        key, source: 'herd config', secret: false, value,
        problem: `set with herd config and also in herd.config.ts appSettings for ${env}: cdk deploy fails creating its parameter; run \`herd config ${env} unset ${key}\`, then cdk deploy`,
      });
    } else if (byCli) {
      entries.push({ key, source: 'herd config', secret: false, value });
    } else if (key in inConfig) {
      entries.push({ key, source: 'herd.config.ts', secret: false, value, ...(inConfig[key] !== value ? { problem: `herd.config.ts says ${JSON.stringify(inConfig[key])}: run cdk deploy to apply it` } : {}) });
    } else {
      entries.push({ key, source: 'herd.config.ts', secret: false, value, problem: `no longer in herd.config.ts appSettings for ${env}: the next cdk deploy removes it` });
    }
  }
  for (const [key, reference] of stored.secret) {
    const byCli = isCliSecret(handle, key, reference);
    entries.push({
      key, source: byCli ? 'herd config' : 'herd', secret: true,
      ...(stored.plain.has(key) ? { problem: `also set as a plain setting: boot renders both; run \`herd config ${env} unset ${key}\` and set it again once` } : {}),
    });
  }
  for (const key of Object.keys(inConfig)) {
    if (!stored.plain.has(key)) entries.push({ key, source: 'herd.config.ts', secret: false, value: inConfig[key] ?? '', problem: 'not deployed yet: run cdk deploy' });
  }
  return entries.sort((a, b) => a.key.localeCompare(b.key) || a.source.localeCompare(b.source));
}

/** Writes a plain setting (String, overwriting the one `herd config` wrote before). */
export async function putPlainSetting(handle: EnvironmentHandle, key: string, value: string): Promise<void> {
  const name = `${parameterNames(handle.app, handle.name).envPrefix}${key}`;
  await handle.clients.ssm.send(new PutParameterCommand({ Name: name, Value: value, Type: 'String', Overwrite: true, Description: CLI_PARAMETER_DESCRIPTION }));
}

/** Days a deleted config secret can be restored (Secrets Manager's shortest recovery window). */
export const SECRET_RECOVERY_DAYS = 7;

/**
 * Writes a secret setting: its secret (created, restored from a pending deletion, or given a
 * new value), then the reference boot reads. The value goes to Secrets Manager only.
 */
export async function putSecretSetting(handle: EnvironmentHandle, key: string, value: string): Promise<void> {
  const secretName = configSecretName(handle.app, handle.name, key);
  const sm = handle.clients.secretsManager;
  let arn: string | undefined;
  try {
    const found = await sm.send(new DescribeSecretCommand({ SecretId: secretName }));
    arn = found.ARN;
    // Unset earlier and still in its recovery window: CreateSecret would be refused.
    if (found.DeletedDate) await sm.send(new RestoreSecretCommand({ SecretId: secretName }));
  } catch (err) {
    if (!(err instanceof Error && err.name === 'ResourceNotFoundException')) throw err;
  }
  if (arn) {
    await sm.send(new PutSecretValueCommand({ SecretId: arn, SecretString: value }));
  } else {
    const created = await sm.send(
      new CreateSecretCommand({ Name: secretName, SecretString: value, Description: `herd ${handle.name}: app setting ${key}, set with herd config --secret` }),
    );
    arn = created.ARN;
  }
  if (!arn) throw new Error(`Secrets Manager returned no ARN for ${secretName}`);
  const name = `${parameterNames(handle.app, handle.name).secretEnvPrefix}${key}`;
  await handle.clients.ssm.send(new PutParameterCommand({ Name: name, Value: arn, Type: 'String', Overwrite: true, Description: CLI_PARAMETER_DESCRIPTION }));
}

/** Removes a plain setting `herd config` wrote. */
export async function deletePlainSetting(handle: EnvironmentHandle, key: string): Promise<void> {
  await handle.clients.ssm.send(new DeleteParameterCommand({ Name: `${parameterNames(handle.app, handle.name).envPrefix}${key}` }));
}

/**
 * Removes a secret setting `herd config` wrote: the reference first (a booting instance
 * never meets a reference to a deleted secret), then the secret, recoverable for
 * `SECRET_RECOVERY_DAYS` days.
 */
export async function deleteSecretSetting(handle: EnvironmentHandle, key: string, reference: string): Promise<void> {
  await handle.clients.ssm.send(new DeleteParameterCommand({ Name: `${parameterNames(handle.app, handle.name).secretEnvPrefix}${key}` }));
  await handle.clients.secretsManager.send(new DeleteSecretCommand({ SecretId: reference, RecoveryWindowInDays: SECRET_RECOVERY_DAYS }));
}
