/**
 * A throwaway PostgreSQL for tests: initdb in a temp directory, password (scram) auth on a
 * loopback port, stopped by `stop()`. PostgreSQL refuses to run as root: its binaries run as
 * the `postgres` OS user then.
 */
import { spawnSync } from 'child_process';
import { chownSync, existsSync, writeFileSync } from 'fs';
import { createServer } from 'net';
import * as path from 'path';
import { IS_ROOT, hasCommand, run, runOrThrow, tempDir } from '../instance/support';

export const PG_BIN = '/usr/lib/postgresql/15/bin';

/** What `describeWith` needs to run PostgreSQL tests here. */
export const POSTGRES_REQUIREMENTS = {
  'PostgreSQL 15 (package postgresql)': hasCommand(path.join(PG_BIN, 'postgres')),
  'the postgres OS user (when root)': !IS_ROOT || spawnSync('id', ['postgres']).status === 0,
};

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** PostgreSQL refuses to run as root: run its binaries as `postgres` when we are root. */
export function asPostgres(binary: string, args: readonly string[]): [string, string[]] {
  const full = path.join(PG_BIN, binary);
  return IS_ROOT ? ['runuser', ['-u', 'postgres', '--', full, ...args]] : [full, [...args]];
}

export interface LocalPostgres {
  readonly port: number;
  /** The bootstrap superuser and its password. */
  readonly superuser: string;
  readonly password: string;
  /** The cluster's data directory (for `pg_ctl` as `asPostgres` runs it). */
  readonly dataDir: string;
  /** Stops the server at once, if it still runs. */
  stop(): Promise<void>;
}

export async function startPostgres(prefix: string, superuser: string, password: string): Promise<LocalPostgres> {
  const work = tempDir(prefix);
  const port = await freePort();
  const pgData = path.join(work, 'pg');
  const pwFile = path.join(work, 'pgpass');
  writeFileSync(pwFile, `${password}\n`);
  if (IS_ROOT) {
    const uid = Number(runOrThrow('id', ['-u', 'postgres']).trim());
    const gid = Number(runOrThrow('id', ['-g', 'postgres']).trim());
    chownSync(work, uid, gid);
    chownSync(pwFile, uid, gid);
  }
  runOrThrow(...asPostgres('initdb', ['-D', pgData, '-U', superuser, `--pwfile=${pwFile}`, '--auth=scram-sha-256', '-E', 'UTF8', '--no-sync']));
  runOrThrow(...asPostgres('pg_ctl', ['-D', pgData, '-l', path.join(work, 'pg.log'), '-w', '-o',
    `-c listen_addresses=127.0.0.1 -c port=${port} -k ${work} -c fsync=off`, 'start']));
  return {
    port,
    superuser,
    password,
    dataDir: pgData,
    async stop() {
      if (existsSync(path.join(pgData, 'postmaster.pid'))) await run(...asPostgres('pg_ctl', ['-D', pgData, '-m', 'immediate', 'stop']));
    },
  };
}
