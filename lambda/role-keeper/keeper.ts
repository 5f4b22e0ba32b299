/**
 * One run of the role keeper: reads the master and application secrets, connects as the
 * master and keeps the application's roles (`roles.ts`). Called by the stack's custom resource
 * (create and update; a delete keeps the roles: the database may still serve) and by the
 * deploy step after each migration (`lambda/deploy/role-keeper.ts`): a migration may create
 * a schema the grants did not reach yet.
 */
import { GetSecretValueCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { Client } from 'pg';
import { keepAppRoles, type Queryable } from './roles';

export interface KeeperSettings {
  readonly masterSecretArn: string;
  readonly appSecretArn: string;
  readonly group: string;
  readonly database: string;
}

/** What the keeper reads from its environment; fails naming the first variable that is missing. */
export function keeperSettings(env: NodeJS.ProcessEnv): KeeperSettings {
  const read = (name: string) => {
    const value = env[name];
    if (value === undefined || value === '') throw new Error(`role keeper: environment variable ${name} is not set`);
    return value;
  };
  return { masterSecretArn: read('MASTER_SECRET_ARN'), appSecretArn: read('APP_SECRET_ARN'), group: read('GROUP_ROLE'), database: read('DATABASE_NAME') };
}

interface Credentials {
  readonly username: string;
  readonly password: string;
  readonly host?: string;
  readonly port?: number;
}

/** A database secret's JSON; names the secret (never the value) when it is not one. */
export function parseCredentials(arn: string, text: string | undefined): Credentials {
  let value: unknown;
  try {
    value = JSON.parse(text ?? '');
  } catch {
    throw new Error(`role keeper: secret ${arn} is not JSON`);
  }
  const v = (typeof value === 'object' && value !== null ? value : {}) as Record<string, unknown>;
  if (typeof v.username !== 'string' || typeof v.password !== 'string') throw new Error(`role keeper: secret ${arn} has no string username and password`);
  return {
    username: v.username,
    password: v.password,
    ...(typeof v.host === 'string' ? { host: v.host } : {}),
    ...(v.port !== undefined && Number.isInteger(Number(v.port)) ? { port: Number(v.port) } : {}),
  };
}

async function readCredentials(sm: Pick<SecretsManagerClient, 'send'>, arn: string): Promise<Credentials> {
  const res = await sm.send(new GetSecretValueCommand({ SecretId: arn }));
  return parseCredentials(arn, res.SecretString);
}

export interface KeeperDeps {
  readonly secretsManager: Pick<SecretsManagerClient, 'send'>;
  /** Opens a connection as the master; the handler's connects over TLS (the instance has `rds.force_ssl`). */
  readonly connect: (master: Credentials & { database: string }) => Promise<Queryable & { end(): Promise<void> }>;
}

export async function runKeeper(settings: KeeperSettings, deps: KeeperDeps): Promise<{ user: string; createdGroup: boolean; createdUser: boolean; schemas: string[] }> {
  const [master, app] = await Promise.all([readCredentials(deps.secretsManager, settings.masterSecretArn), readCredentials(deps.secretsManager, settings.appSecretArn)]);
  if (master.host === undefined) throw new Error(`role keeper: master secret ${settings.masterSecretArn} has no host (is it attached to the instance?)`);
  const db = await deps.connect({ ...master, database: settings.database });
  try {
    const result = await keepAppRoles(db, { database: settings.database, owner: master.username, group: settings.group, user: app.username, password: app.password });
    return { user: app.username, ...result };
  } finally {
    await db.end();
  }
}

/** The handler's connection: TLS verified against the CA bundle the Lambda runtime ships (NODE_EXTRA_CA_CERTS). */
export async function connectTls(master: Credentials & { database: string }): Promise<Client> {
  const client = new Client({
    host: master.host,
    port: master.port ?? 5432,
    user: master.username,
    password: master.password,
    database: master.database,
    ssl: { rejectUnauthorized: true },
    connectionTimeoutMillis: 10_000,
    statement_timeout: 30_000,
  });
  await client.connect();
  return client;
}
