/**
 * App settings: the environment variables herd renders into `/etc/herd/<app>.env` at boot
 * (`instance/boot.sh`), shared by the stack (`environment-stack.ts` writes herd's own and
 * `appSettings` of herd.config.ts), the configuration's validation, and `herd config`
 * (settings an operator manages from the command line).
 *
 * Who wins: a setting has exactly one owner. herd's own names (`HERD_SETTINGS`, and the
 * `HERD_` prefix) are herd's; a key in an environment's `appSettings` belongs to CloudFormation
 * (change it in herd.config.ts, then `cdk deploy`), and `herd config` refuses it; any other key
 * is `herd config`'s. A key set with `herd config` and later added to `appSettings` would make
 * `cdk deploy` fail creating a parameter that exists: `herd config list` flags it with the fix.
 */

/** Plain settings the stack writes under `envPrefix` (`environment-stack.ts`). */
export const HERD_PLAIN_SETTINGS = ['PORT', 'DATABASE_HOST', 'DATABASE_PORT', 'DATABASE_NAME', 'REDIS_HOST', 'REDIS_PORT', 'REDIS_TLS', 'ALLOWED_HOSTS'] as const;
/** Secret settings the stack references under `secretEnvPrefix` (`environment-stack.ts`). */
export const HERD_SECRET_SETTINGS = ['DATABASE_USER', 'DATABASE_PASSWORD', 'REDIS_PASSWORD', 'SECRET_KEY'] as const;
/** Every name herd sets itself (the boot script adds HERD_APP, HERD_ENV, HERD_ROLE, HERD_RELEASE, HERD_INSTANCE_ID: the `HERD_` prefix). */
export const HERD_SETTINGS: readonly string[] = [...HERD_PLAIN_SETTINGS, ...HERD_SECRET_SETTINGS];
/** Names the boot script sets, and any future one: reserved as a prefix. */
export const HERD_PREFIX = 'HERD_';

/** A setting's name: a shell variable name. */
export const SETTING_NAME = /^[A-Z_][A-Z0-9_]*$/;
/** Longest setting name `herd config` accepts. */
export const MAX_SETTING_NAME_CHARS = 128;
/** Largest plain value: SSM Parameter Store's standard tier holds at most 4,096 characters (PutParameter, `Value`). */
export const MAX_PLAIN_VALUE_CHARS = 4096;
/** Largest secret value: Secrets Manager's `SecretString` holds at most 65,536 bytes (CreateSecret). */
export const MAX_SECRET_VALUE_BYTES = 65536;

/** Whether herd sets `name` itself. */
export function isHerdSetting(name: string): boolean {
  return HERD_SETTINGS.includes(name) || name.startsWith(HERD_PREFIX);
}

/** Name of the Secrets Manager secret holding a `herd config --secret` setting. */
export function configSecretName(app: string, env: string, key: string): string {
  return `herd/${app}/${env}/config/${key}`;
}

/** The prefix of every `herd config` secret of an environment (IAM: the instance roles may read them). */
export function configSecretPrefix(app: string, env: string): string {
  return `herd/${app}/${env}/config/`;
}

/**
 * Description of a plain parameter `herd config` wrote: `herd config list` tells it from one
 * CloudFormation wrote (whose description is `herd <env>: app setting <KEY>`).
 */
export const CLI_PARAMETER_DESCRIPTION = 'herd config: set with herd config, not herd.config.ts';
