/**
 * The real `herd` command in the sandbox, twice as two processes: a deploy, then `status`
 * in a new process, which finds the release the first one deployed (the state persists on
 * disk). The banner goes to stderr; stdout stays the command's own.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { MOOTUBE } from './support';

jest.setTimeout(60_000);

const ROOT = path.join(__dirname, '../..');

test('herd --sandbox deploy, then herd --sandbox status in another process: the release serves', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'herd-sandbox-process-'));
  const env = { ...process.env, HERD_SANDBOX_DIR: dir, HERD_SANDBOX_SPEED: '1000000', HERD_CONFIG: path.join(ROOT, 'herd.config.ts') };
  const herd = (...args: string[]) => spawnSync(process.execPath, [path.join(ROOT, 'bin/herd.js'), ...args], { cwd: ROOT, env, encoding: 'utf8' });
  try {
    const deploy = herd('--sandbox', 'deploy', 'staging', MOOTUBE);
    expect(deploy.stderr).toMatch(/^sandbox: simulated AWS, state in \S+ \(herd sandbox reset starts over\)\n/);
    expect(deploy.status).toBe(0);
    const release = /release (\S+) serves on staging/.exec(deploy.stdout)?.[1];
    expect(release).toMatch(/^[0-9a-f]{12}$/);

    const status = herd('status', 'staging', '--json', '--sandbox');

    expect(status.status).toBe(0);
    expect(status.stderr).toContain('sandbox: simulated AWS');
    expect(JSON.parse(status.stdout)).toMatchObject({ environment: 'staging', release });
    expect(fs.existsSync(path.join(dir, 'lock'))).toBe(false);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
