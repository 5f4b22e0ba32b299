import { ChildProcess, spawn } from 'child_process';
import { readFileSync, writeFileSync } from 'fs';
import * as path from 'path';
import { Client } from 'pg';
import { keepAppRoles } from '../../lambda/role-keeper/roles';
import { PG_BIN, POSTGRES_REQUIREMENTS, asPostgres, freePort, startPostgres, type LocalPostgres } from '../support/postgres';
import {
  EXAMPLE_APP, describeWith, ensureVenv, hasCommand, run, runOrThrow, tempDir,
} from './support';

/**
 * The example app, run from its Procfile against a real PostgreSQL and Redis that this
 * test starts on loopback ports in temp directories. As in an environment, `release:` runs
 * as the database's owner (the master user) and web and worker as the application user the
 * role keeper makes (`lambda/role-keeper/roles.ts`): DML only, no schema changes.
 */

const DB_PASSWORD = 'db-pass-123';
const APP_DB_USER = 'mootube_app';
const APP_DB_PASSWORD = 'app-db-pass-789';
const REDIS_PASSWORD = 'redis-pass-456';
const RELEASE_ID = 'v9-0123456789ab';
const INSTANCE_ID = 'i-0feedc0ffee000001';

function procfileCommand(appDir: string, process: string): string {
  const line = readFileSync(path.join(appDir, 'Procfile'), 'utf8').split('\n')
    .find((l) => l.startsWith(`${process}:`));
  if (line === undefined) throw new Error(`no ${process}: in Procfile`);
  return line.slice(process.length + 1).trim();
}

async function waitFor<T>(what: string, attempt: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await attempt().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

describeWith({
  ...POSTGRES_REQUIREMENTS,
  'redis-server (package redis-server)': hasCommand('redis-server'),
  'python3 with venv (package python3-venv)': hasCommand('python3'),
}, 'example app mootube', () => {
  let work: string;
  let appDir: string;
  let pg: LocalPostgres | undefined;
  let redis: ChildProcess | undefined;
  let web: ChildProcess | undefined;
  let webLog = '';
  let baseUrl: string;
  let appEnv: NodeJS.ProcessEnv;
  /** What `release:` runs with: the owner's credentials (the `secret-env-owner/` prefix). */
  let ownerEnv: NodeJS.ProcessEnv;

  /**
   * Runs a Procfile command the way a unit does: bash -c, in the release dir, venv first on
   * PATH (--norc: bash reads ~/.bashrc when stdin is a socket, as under jest).
   */
  function procfile(command: string, extraEnv: NodeJS.ProcessEnv = {}) {
    return run('/bin/bash', ['--norc', '-c', command], { cwd: appDir, env: { ...appEnv, ...extraEnv } });
  }

  beforeAll(async () => {
    const python = ensureVenv();
    work = tempDir('mootube');
    appDir = path.join(work, 'app');
    runOrThrow('cp', ['-a', EXAMPLE_APP, appDir]);

    // PostgreSQL, password-authenticated, on a loopback port.
    pg = await startPostgres('mootube-pg', 'mootube', DB_PASSWORD);
    const pgPort = pg.port;
    const [redisPort, webPort] = [await freePort(), await freePort()];
    runOrThrow(path.join(PG_BIN, 'createdb'), ['-h', '127.0.0.1', '-p', String(pgPort), '-U', 'mootube', 'mootube'],
      { env: { ...process.env, PGPASSWORD: DB_PASSWORD } });

    // Redis with a password, no persistence.
    redis = spawn('redis-server', ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '',
      '--appendonly', 'no', '--dir', work, '--requirepass', REDIS_PASSWORD], { stdio: 'ignore' });

    const releaseFile = path.join(work, 'release');
    writeFileSync(releaseFile, `HERD_APP=mootube\nHERD_RELEASE=${RELEASE_ID}\nHERD_RELEASE_DIR=/srv/mootube/releases/${RELEASE_ID}\n`);
    appEnv = {
      PATH: `${path.dirname(python)}:/usr/local/bin:/usr/bin:/bin`,
      LANG: 'C.UTF-8',
      PYTHONDONTWRITEBYTECODE: '1',
      DATABASE_HOST: '127.0.0.1',
      DATABASE_PORT: String(pgPort),
      DATABASE_NAME: 'mootube',
      DATABASE_USER: APP_DB_USER,
      DATABASE_PASSWORD: APP_DB_PASSWORD,
      REDIS_HOST: '127.0.0.1',
      REDIS_PORT: String(redisPort),
      REDIS_PASSWORD,
      REDIS_TLS: 'false',
      SECRET_KEY: 'test-secret-key-not-for-production-0123456789abcdef',
      ALLOWED_HOSTS: '127.0.0.1,localhost',
      PORT: String(webPort),
      HERD_RELEASE_FILE: releaseFile,
      HERD_INSTANCE_ID: INSTANCE_ID,
    };

    ownerEnv = { DATABASE_USER: 'mootube', DATABASE_PASSWORD: DB_PASSWORD };
    const master = new Client({ host: '127.0.0.1', port: pgPort, user: 'mootube', password: DB_PASSWORD, database: 'mootube' });
    await master.connect();
    try {
      await keepAppRoles(master, { database: 'mootube', owner: 'mootube', group: 'mootube_app_group', user: APP_DB_USER, password: APP_DB_PASSWORD });
    } finally {
      await master.end();
    }

    const collected = await procfile('python manage.py collectstatic --noinput --verbosity 0');
    if (collected.code !== 0) throw new Error(`collectstatic failed: ${collected.stderr}`);

    baseUrl = `http://127.0.0.1:${webPort}`;
  }, 120_000);

  afterAll(async () => {
    web?.kill('SIGTERM');
    redis?.kill('SIGTERM');
    await pg?.stop();
  });

  test('release: (migrate) runs twice without error', async () => {
    const command = procfileCommand(appDir, 'release');
    expect(command).toBe('python manage.py migrate --noinput');
    const first = await procfile(command, ownerEnv);
    expect(first.stderr).toBe('');
    expect(first.stdout).toContain('Applying videos.0001_initial... OK');
    expect(first.code).toBe(0);
    const second = await procfile(command, ownerEnv);
    expect(second.stdout).toContain('No migrations to apply.');
    expect(second.code).toBe(0);
  });

  test('web and worker\'s database user cannot change the schema: unapplying a migration as it fails', async () => {
    const undo = await procfile('python manage.py migrate videos zero --noinput');
    expect(undo.code).not.toBe(0);
    expect(undo.stderr).toMatch(/must be owner of (table|relation)/);
    const still = await procfile('python manage.py showmigrations videos', ownerEnv);
    expect(still.stdout).toContain('[X] 0001_initial');
  });

  test('web: (gunicorn on $PORT) answers /health 200 when PostgreSQL and Redis answer', async () => {
    web = spawn('/bin/bash', ['--norc', '-c', procfileCommand(appDir, 'web')], { cwd: appDir, env: appEnv });
    web.stdout?.on('data', (chunk: Buffer) => { webLog += chunk.toString(); });
    web.stderr?.on('data', (chunk: Buffer) => { webLog += chunk.toString(); });
    const response = await waitFor('gunicorn', async () => {
      const r = await fetch(`${baseUrl}/health`);
      return r.status === 200 ? r : undefined;
    }).catch((error: Error) => { throw new Error(`${error.message}\n${webLog}`); });
    expect(response.headers.get('content-type')).toBe('application/json');
    expect(await response.json()).toEqual({
      status: 'ok',
      checks: { database: 'ok', redis: 'ok' },
      release: RELEASE_ID,
      instance: INSTANCE_ID,
    });
  });

  test('/health answers whatever the Host header (load balancer checks use the instance IP)', async () => {
    const result = await run('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', '-H', 'Host: 10.1.2.3:8000', `${baseUrl}/health`]);
    expect(result.stdout).toBe('200');
  });

  test('pages show the release and instance that served them; videos, views and sessions work', async () => {
    const home = await fetch(`${baseUrl}/`);
    expect(home.status).toBe(200);
    expect(home.headers.get('x-herd-release')).toBe(RELEASE_ID);
    const homeHtml = await home.text();
    expect(homeHtml).toContain(`served by release <code class="release">${RELEASE_ID}</code>`);
    expect(homeHtml).toContain(`on instance <code class="instance">${INSTANCE_ID}</code>`);
    expect(homeHtml).toContain('/static/mootube/site.');

    // Add a video through the form (CSRF cookie + token).
    const csrfCookie = /csrftoken=([^;]+)/.exec(home.headers.get('set-cookie') ?? '')?.[1];
    const csrfToken = /name="csrfmiddlewaretoken" value="([^"]+)"/.exec(homeHtml)?.[1];
    expect(csrfCookie).toBeDefined();
    const added = await fetch(`${baseUrl}/`, {
      method: 'POST',
      redirect: 'manual',
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'cookie': `csrftoken=${csrfCookie}` },
      body: new URLSearchParams({ csrfmiddlewaretoken: csrfToken ?? '', title: 'Cows at dawn', url: 'https://example.com/cows.mp4' }).toString(),
    });
    expect(added.status).toBe(302);
    const videoPath = added.headers.get('location') ?? '';
    expect(videoPath).toMatch(/^\/videos\/\d+\/$/);

    // Two views in one session (kept in Redis), counted by the worker into PostgreSQL.
    const first = await fetch(`${baseUrl}${videoPath}`);
    const sessionCookie = /sessionid=([^;]+)/.exec(first.headers.get('set-cookie') ?? '')?.[1];
    expect(sessionCookie).toBeDefined();
    expect(await first.text()).toContain('0 views');
    await fetch(`${baseUrl}${videoPath}`, { headers: { cookie: `sessionid=${sessionCookie}` } });
    const worker = await procfile(`${procfileCommand(appDir, 'worker')} --once`);
    expect(worker.stderr).toContain('counted 2 views of 1 videos');
    expect(worker.code).toBe(0);
    const third = await fetch(`${baseUrl}${videoPath}`, { headers: { cookie: `sessionid=${sessionCookie}` } });
    expect(await third.text()).toContain('2 views');
    const again = await fetch(`${baseUrl}/`, { headers: { cookie: `sessionid=${sessionCookie}` } });
    expect(await again.text()).toContain(`Recently watched by you: <a href="${videoPath}">Cows at dawn</a>`);
  });

  test('/health answers 503 quickly once PostgreSQL is stopped', async () => {
    runOrThrow(...asPostgres('pg_ctl', ['-D', pg!.dataDir, '-m', 'fast', '-w', 'stop']));
    const started = Date.now();
    const response = await fetch(`${baseUrl}/health`);
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(response.status).toBe(503);
    const body = await response.json() as { status: string; checks: Record<string, string> };
    expect(body.status).toBe('unhealthy');
    expect(body.checks.redis).toBe('ok');
    expect(body.checks.database).toMatch(/^error: /);
  });
});
