/**
 * The application's PostgreSQL roles, kept by the role keeper with the master credentials:
 * - a NOLOGIN group role holding exactly what the app needs: CONNECT on its database, USAGE
 *   on schema public and on every other schema the owner owns (those migrations created),
 *   SELECT/INSERT/UPDATE/DELETE on every table and USAGE/SELECT/UPDATE on every sequence
 *   there, now and (default privileges of the owner, who runs the migrations) for those
 *   created later;
 * - the LOGIN user the application secret names, with that secret's password, a member of
 *   the group, and nothing else: no superuser, CREATEDB, CREATEROLE, no CREATE on public.
 * Secrets Manager's alternating-users rotation creates `<user>_clone` with `GRANT <user> TO
 * <user>_clone` (its setSecret step), so the clone holds the group through the user; the
 * keeper grants the group to both directly too, so dropping either never cuts the other off.
 *
 * Every statement is idempotent: the keeper runs on every stack create and update, and after
 * every migration (the deploy step's `migrate.keepRoles`), which a retry may repeat.
 * Identifiers and the password are quoted by `pg` (utility statements take no bind parameters);
 * nothing here logs the password.
 */
import { escapeIdentifier as ident, escapeLiteral as literal } from 'pg';

/** The one call the keeper needs from a `pg` client. */
export interface Queryable {
  query(text: string, values?: unknown[]): Promise<{ rows: Record<string, unknown>[] }>;
}

export interface AppRoles {
  /** The database the app connects to. */
  readonly database: string;
  /** The role that owns the schema and runs the migrations (the master user). */
  readonly owner: string;
  /** The NOLOGIN group role. */
  readonly group: string;
  /** The LOGIN user the application secret names now (`<user>` or `<user>_clone`). */
  readonly user: string;
  /** That secret's current password. */
  readonly password: string;
}

/** The suffix Secrets Manager's alternating-users rotation appends to the clone user. */
export const CLONE_SUFFIX = '_clone';

/** PostgreSQL's identifier limit (NAMEDATALEN - 1 bytes); a longer name would be truncated silently. */
const MAX_IDENTIFIER_BYTES = 63;

/** The user and its alternate, whichever the secret names now. */
export function alternatingUsers(user: string): [string, string] {
  const base = user.endsWith(CLONE_SUFFIX) ? user.slice(0, -CLONE_SUFFIX.length) : user;
  return [base, `${base}${CLONE_SUFFIX}`];
}

/** Fails naming the value when a role or database name cannot be used as given. */
export function checkRoles(roles: AppRoles): void {
  for (const [what, value] of [['database', roles.database], ['owner', roles.owner], ['group', roles.group], ['user', alternatingUsers(roles.user)[1]]] as const) {
    if (value === '' || Buffer.byteLength(value) > MAX_IDENTIFIER_BYTES) {
      throw new Error(`role keeper: ${what} name ${JSON.stringify(value)} must be 1 to ${MAX_IDENTIFIER_BYTES} bytes (PostgreSQL would truncate it)`);
    }
  }
  if (roles.password === '') throw new Error(`role keeper: the application secret has an empty password for user ${JSON.stringify(roles.user)}`);
  const reserved = new Set([roles.owner, roles.group]);
  for (const user of alternatingUsers(roles.user)) {
    if (reserved.has(user)) throw new Error(`role keeper: the application user ${JSON.stringify(user)} must differ from the owner and the group`);
  }
}

async function roleExists(db: Queryable, name: string): Promise<boolean> {
  const res = await db.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [name]);
  return res.rows.length > 0;
}

/**
 * Schemas besides public that `owner` owns, by name: those its migrations created. System
 * schemas (`pg_*`, `information_schema`) and schemas of other roles (an extension's, an
 * operator's) are left alone.
 */
async function ownedSchemas(db: Queryable, owner: string): Promise<string[]> {
  const res = await db.query(
    `SELECT n.nspname FROM pg_namespace n JOIN pg_roles r ON r.oid = n.nspowner
     WHERE r.rolname = $1 AND n.nspname <> 'public' AND n.nspname <> 'information_schema' AND n.nspname NOT LIKE 'pg\\_%'
     ORDER BY n.nspname`,
    [owner],
  );
  return res.rows.map((r) => String(r.nspname));
}

/**
 * What the app needs in one schema, now and (default privileges of the owner, who runs the
 * migrations) for tables and sequences created there later: USAGE, DML, sequences.
 */
async function grantSchema(db: Queryable, schema: string, group: string, owner: string): Promise<void> {
  await db.query(`GRANT USAGE ON SCHEMA ${schema} TO ${group}`);
  await db.query(`GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA ${schema} TO ${group}`);
  await db.query(`GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA ${schema} TO ${group}`);
  await db.query(`ALTER DEFAULT PRIVILEGES FOR ROLE ${owner} IN SCHEMA ${schema} GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO ${group}`);
  await db.query(`ALTER DEFAULT PRIVILEGES FOR ROLE ${owner} IN SCHEMA ${schema} GRANT USAGE, SELECT, UPDATE ON SEQUENCES TO ${group}`);
}

/** Creates or updates the group and the user; resolves with what it created, and the schemas it granted (public first). */
export async function keepAppRoles(db: Queryable, roles: AppRoles): Promise<{ createdGroup: boolean; createdUser: boolean; schemas: string[] }> {
  checkRoles(roles);
  const group = ident(roles.group);
  const user = ident(roles.user);
  const owner = ident(roles.owner);
  await db.query('BEGIN');
  try {
    // Two keepers at once (a stack update and a deploy) would race on CREATE ROLE.
    await db.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`herd-role-keeper:${roles.group}`]);
    const createdGroup = !(await roleExists(db, roles.group));
    if (createdGroup) await db.query(`CREATE ROLE ${group} NOLOGIN`);
    // SUPERUSER and REPLICATION are off from CREATE ROLE and only a superuser could set them (RDS's master is none).
    await db.query(`ALTER ROLE ${group} NOLOGIN NOCREATEDB NOCREATEROLE`);
    await db.query(`GRANT CONNECT ON DATABASE ${ident(roles.database)} TO ${group}`);
    // PostgreSQL before 15 lets everyone create in public; the owner keeps CREATE (it owns the database).
    await db.query('REVOKE CREATE ON SCHEMA public FROM PUBLIC');
    // public, and every other schema the owner owns: a migration may create one (CREATE SCHEMA
    // billing), and the owner's default privileges in public do not reach it.
    const schemas = ['public', ...(await ownedSchemas(db, roles.owner))];
    for (const name of schemas) await grantSchema(db, ident(name), group, owner);

    const createdUser = !(await roleExists(db, roles.user));
    const attributes = `LOGIN NOCREATEDB NOCREATEROLE INHERIT PASSWORD ${literal(roles.password)}`;
    await db.query(createdUser ? `CREATE ROLE ${user} ${attributes}` : `ALTER ROLE ${user} ${attributes}`);
    for (const name of alternatingUsers(roles.user)) {
      if (name === roles.user || (await roleExists(db, name))) await db.query(`GRANT ${group} TO ${ident(name)}`);
    }
    await db.query('COMMIT');
    return { createdGroup, createdUser, schemas };
  } catch (error) {
    await db.query('ROLLBACK').catch(() => undefined);
    throw error;
  }
}
