/**
 * The role keeper's SQL against a real PostgreSQL. The master is made like RDS's: not a
 * superuser, CREATEROLE and CREATEDB, owner of the app's database (so of schema public).
 */
import { GetSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import { Client } from 'pg';
import { runKeeper } from '../../lambda/role-keeper/keeper';
import { keepAppRoles, type AppRoles } from '../../lambda/role-keeper/roles';
import { describeWith } from '../instance/support';
import { POSTGRES_REQUIREMENTS, startPostgres, type LocalPostgres } from '../support/postgres';

const MASTER = 'herd';
const MASTER_PASSWORD = 'master-pass-1';
const DATABASE = 'shop';
// Quotes and a backslash: the keeper must quote the password, not paste it.
const APP_PASSWORD = `app'pa"ss\\word 1`;
const ROLES: AppRoles = { database: DATABASE, owner: MASTER, group: 'shop_app_group', user: 'shop_app', password: APP_PASSWORD };

describeWith(POSTGRES_REQUIREMENTS, 'role keeper (real PostgreSQL)', () => {
  let pg: LocalPostgres;
  const open: Client[] = [];

  async function connect(user: string, password: string, database = DATABASE): Promise<Client> {
    const client = new Client({ host: '127.0.0.1', port: pg.port, user, password, database });
    await client.connect();
    open.push(client);
    return client;
  }
  const asMaster = () => connect(MASTER, MASTER_PASSWORD);
  const failure = (client: Client, sql: string) => client.query(sql).then(() => 'succeeded', (e: Error) => e.message);

  /** Roles, memberships, table and sequence ACLs and default ACLs: what a second run must leave as it is. */
  async function catalog(client: Client) {
    const roles = await client.query(`SELECT rolname, rolcanlogin, rolsuper, rolcreatedb, rolcreaterole, rolinherit
      FROM pg_roles WHERE rolname LIKE 'shop_app%' ORDER BY rolname`);
    const members = await client.query(`SELECT r.rolname AS role, m.rolname AS member FROM pg_auth_members a
      JOIN pg_roles r ON r.oid = a.roleid JOIN pg_roles m ON m.oid = a.member WHERE r.rolname LIKE 'shop_app%' ORDER BY 1, 2`);
    const acls = await client.query(`SELECT relnamespace::regnamespace::text AS schema, relname, relacl::text FROM pg_class
      WHERE relnamespace::regnamespace::text NOT IN ('pg_catalog', 'information_schema', 'pg_toast') ORDER BY 1, 2`);
    const defaults = await client.query('SELECT defaclnamespace::regnamespace::text AS schema, defaclobjtype, defaclacl::text FROM pg_default_acl ORDER BY 1, 2');
    const schema = await client.query(`SELECT nspname, nspacl::text FROM pg_namespace WHERE nspname NOT LIKE 'pg\\_%' AND nspname <> 'information_schema' ORDER BY 1`);
    const db = await client.query('SELECT datacl::text FROM pg_database WHERE datname = $1', [DATABASE]);
    return { roles: roles.rows, members: members.rows, acls: acls.rows, defaults: defaults.rows, schema: schema.rows, db: db.rows };
  }

  beforeAll(async () => {
    pg = await startPostgres('role-keeper', 'postgres', 'bootstrap-pass');
    const boot = await connect('postgres', 'bootstrap-pass', 'postgres');
    await boot.query(`CREATE ROLE ${MASTER} LOGIN CREATEROLE CREATEDB PASSWORD '${MASTER_PASSWORD}'`);
    await boot.query(`CREATE DATABASE ${DATABASE} OWNER ${MASTER}`);
  }, 60_000);

  afterAll(async () => {
    await Promise.all(open.map((c) => c.end().catch(() => undefined)));
    await pg?.stop();
  });

  test('creates the group and the user; tables a migration creates afterwards are the app\'s to read and write', async () => {
    const master = await asMaster();
    expect(await keepAppRoles(master, ROLES)).toEqual({ createdGroup: true, createdUser: true, schemas: ['public'] });
    // A migration, as the master, after the grants.
    await master.query('CREATE TABLE videos (id serial PRIMARY KEY, title text NOT NULL)');
    await master.query(`INSERT INTO videos (title) VALUES ('from the migration')`);

    const app = await connect('shop_app', APP_PASSWORD);
    expect((await app.query('SELECT title FROM videos')).rows).toEqual([{ title: 'from the migration' }]);
    await app.query(`INSERT INTO videos (title) VALUES ('from the app')`); // uses the sequence
    await app.query(`UPDATE videos SET title = 'edited' WHERE title = 'from the app'`);
    await app.query(`DELETE FROM videos WHERE title = 'edited'`);
    expect((await app.query('SELECT count(*)::int AS n FROM videos')).rows).toEqual([{ n: 1 }]);
  });

  test('the app user cannot change the schema, read the password hashes, or create roles or databases', async () => {
    const app = await connect('shop_app', APP_PASSWORD);
    expect(await failure(app, 'DROP TABLE videos')).toBe('must be owner of table videos');
    expect(await failure(app, 'ALTER TABLE videos ADD COLUMN views int')).toBe('must be owner of table videos');
    expect(await failure(app, 'CREATE TABLE mine (id int)')).toBe('permission denied for schema public');
    expect(await failure(app, 'TRUNCATE videos')).toBe('permission denied for table videos');
    expect(await failure(app, 'SELECT rolpassword FROM pg_authid')).toBe('permission denied for table pg_authid');
    expect(await failure(app, 'CREATE ROLE intruder')).toBe('permission denied to create role');
    expect(await failure(app, 'CREATE DATABASE other')).toBe('permission denied to create database');
    expect(await failure(app, 'CREATE SCHEMA other')).toBe('permission denied for database shop');
  });

  test('a migration that creates its own schema: the app is denied it until the keeper runs, then reads and writes there, now and later; a schema of another role stays out of reach', async () => {
    const master = await asMaster();
    await master.query('CREATE SCHEMA billing');
    await master.query('CREATE TABLE billing.invoices (id bigserial PRIMARY KEY, total int NOT NULL)');
    await master.query('INSERT INTO billing.invoices (total) VALUES (10)');
    // Another role's schema (an operator's, an extension's): not the app's business.
    const boot = await connect('postgres', 'bootstrap-pass');
    await boot.query('CREATE SCHEMA audit');
    await boot.query('CREATE TABLE audit.events (id int)');
    await boot.query('GRANT USAGE ON SCHEMA audit TO herd');

    const app = await connect('shop_app', APP_PASSWORD);
    expect(await failure(app, 'SELECT total FROM billing.invoices')).toBe('permission denied for schema billing');

    expect(await keepAppRoles(master, ROLES)).toEqual({ createdGroup: false, createdUser: false, schemas: ['public', 'billing'] });
    expect((await app.query('SELECT total FROM billing.invoices')).rows).toEqual([{ total: 10 }]);
    await app.query('INSERT INTO billing.invoices (total) VALUES (20)'); // uses the sequence
    await app.query('UPDATE billing.invoices SET total = 21 WHERE total = 20');
    await app.query('DELETE FROM billing.invoices WHERE total = 21');

    // A later migration in that schema: the owner's default privileges there cover it, without the keeper.
    await master.query('CREATE TABLE billing.payments (id serial PRIMARY KEY, invoice bigint NOT NULL)');
    await app.query('INSERT INTO billing.payments (invoice) VALUES (1)');
    expect((await app.query('SELECT count(*)::int AS n FROM billing.payments')).rows).toEqual([{ n: 1 }]);

    // Still nothing but DML: no DDL in the new schema, nothing in the other role's.
    expect(await failure(app, 'CREATE TABLE billing.mine (id int)')).toBe('permission denied for schema billing');
    expect(await failure(app, 'DROP TABLE billing.invoices')).toBe('must be owner of table invoices');
    expect(await failure(app, 'TRUNCATE billing.invoices')).toBe('permission denied for table invoices');
    expect(await failure(app, 'SELECT * FROM audit.events')).toBe('permission denied for schema audit');
  });

  test('a second run changes nothing', async () => {
    const master = await asMaster();
    const before = await catalog(master);
    expect(await keepAppRoles(master, ROLES)).toEqual({ createdGroup: false, createdUser: false, schemas: ['public', 'billing'] });
    expect(await catalog(master)).toEqual(before);
  });

  test('after a multi-user rotation (the clone made as Secrets Manager\'s function makes it), the clone works the same, and the keeper keeps it', async () => {
    const master = await asMaster();
    // What SecretsManagerRDSPostgreSQLRotationMultiUser's setSecret does for a new clone.
    await master.query(`CREATE ROLE shop_app_clone WITH LOGIN PASSWORD 'clone-pass-1'`);
    await master.query('GRANT shop_app TO shop_app_clone');
    await master.query('CREATE TABLE views (id bigserial PRIMARY KEY, video int NOT NULL)');

    const clone = await connect('shop_app_clone', 'clone-pass-1');
    await clone.query('INSERT INTO views (video) VALUES (1)');
    expect((await clone.query('SELECT count(*)::int AS n FROM views')).rows).toEqual([{ n: 1 }]);
    expect(await failure(clone, 'DROP TABLE views')).toBe('must be owner of table views');

    // The secret now names the clone: the keeper keeps its password and grants it the group directly.
    expect(await keepAppRoles(master, { ...ROLES, user: 'shop_app_clone', password: 'clone-pass-1' })).toMatchObject({ createdGroup: false, createdUser: false });
    const members = await master.query(`SELECT m.rolname FROM pg_auth_members a JOIN pg_roles r ON r.oid = a.roleid
      JOIN pg_roles m ON m.oid = a.member WHERE r.rolname = 'shop_app_group' ORDER BY 1`);
    expect(members.rows.map((r) => r.rolname)).toEqual(['shop_app', 'shop_app_clone']);
    await (await connect('shop_app_clone', 'clone-pass-1')).query('UPDATE views SET video = 2');
    // The previous user still logs in with its password (alternating users: valid until the next rotation).
    await (await connect('shop_app', APP_PASSWORD)).query('SELECT 1 FROM views');
  });

  test('refuses an application user named like the owner or the group, before any statement', async () => {
    const queries: string[] = [];
    const db = { query: async (text: string) => { queries.push(text); return { rows: [] }; } };
    await expect(keepAppRoles(db, { ...ROLES, user: MASTER })).rejects.toThrow('role keeper: the application user "herd" must differ from the owner and the group');
    await expect(keepAppRoles(db, { ...ROLES, password: '' })).rejects.toThrow('role keeper: the application secret has an empty password for user "shop_app"');
    await expect(keepAppRoles(db, { ...ROLES, group: 'g'.repeat(64) })).rejects.toThrow(`role keeper: group name "${'g'.repeat(64)}" must be 1 to 63 bytes`);
    expect(queries).toEqual([]);
  });

  test('runKeeper reads both secrets and connects as the master; the password never appears in what it returns', async () => {
    const secrets: Record<string, string> = {
      'arn:master': JSON.stringify({ username: MASTER, password: MASTER_PASSWORD, host: '127.0.0.1', port: pg.port }),
      'arn:app': JSON.stringify({ username: 'shop_app', password: APP_PASSWORD, host: '127.0.0.1', masterarn: 'arn:master' }),
    };
    const secretsManager = { send: async (c: GetSecretValueCommand) => ({ SecretString: secrets[c.input.SecretId ?? ''] }) };
    const result = await runKeeper(
      { masterSecretArn: 'arn:master', appSecretArn: 'arn:app', group: 'shop_app_group', database: DATABASE },
      { secretsManager: secretsManager as never, connect: (m) => connect(m.username, m.password, m.database) },
    );
    expect(result).toMatchObject({ user: 'shop_app', createdGroup: false, createdUser: false });
    expect(JSON.stringify(result)).not.toContain(APP_PASSWORD);
    secrets['arn:app'] = 'not json';
    await expect(runKeeper({ masterSecretArn: 'arn:master', appSecretArn: 'arn:app', group: 'g', database: DATABASE }, { secretsManager: secretsManager as never, connect: asMaster }))
      .rejects.toThrow('role keeper: secret arn:app is not JSON');
  });
});
