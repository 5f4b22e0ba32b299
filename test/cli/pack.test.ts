/**
 * Packing that cannot leak: what `herd deploy|bake <env> <dir>` puts into the artifact,
 * the app contract checked before any upload, the printed size and the size limit, all
 * through the CLI against the simulated environment (its bucket shows what went up).
 */
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import * as tar from 'tar';
import { resolveConfig } from '../../lib/config/validate';
import { prepareRelease } from '../../lib/cli/artifact';
import { BUILT_IN_EXCLUDES, selectFiles } from '../../lib/cli/pack';
import { releaseIdOfTree } from '../../lib/release-id';
import { appDirectory, largeAppDirectory } from './support/app';
import { runHerd, testDeps } from './support/harness';
import { SimulatedEnvironment } from './support/simulated';

function setup(config?: ReturnType<typeof resolveConfig>) {
  const sim = new SimulatedEnvironment({ web: 2, worker: 1, serving: 'r1' });
  const deps = testDeps({ clients: () => sim.clients(), now: () => sim.world.clock.now(), sleep: () => sim.sleep(), ...(config ? { config } : {}) });
  return { sim, deps };
}

function write(dir: string, files: Record<string, string>): void {
  for (const [name, content] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
    writeFileSync(path.join(dir, name), content);
  }
}

/** An app directory holding everything that must not leak, and one file its .gitignore leaves out. */
function leakyApp(): string {
  const dir = appDirectory('leaky');
  write(dir, {
    '.env': 'SECRET_KEY=hunter2\n',
    '.env.production': 'DATABASE_URL=postgres://prod\n',
    '.git/config': '[core]\n',
    '.git/objects/ab/cdef': 'blob',
    'venv/pyvenv.cfg': 'home = /usr/bin\n',
    'venv/lib/site.py': '# site\n',
    'pyenv-elsewhere/pyvenv.cfg': 'home = /usr/bin\n',
    'pyenv-elsewhere/bin/python': '#!/bin/sh\n',
    'node_modules/left-pad/index.js': 'module.exports = 1;\n',
    'key.pem': '-----BEGIN PRIVATE KEY-----\n',
    'app/__pycache__/views.cpython-312.pyc': 'bytecode',
    'app/views.py': 'def index(): pass\n',
    '.gitignore': 'local-notes.txt\n',
    'local-notes.txt': 'do not ship\n',
    'assets/.gitignore': '*.psd\n!keep.psd\n',
    'assets/logo.psd': 'layers',
    'assets/keep.psd': 'layers',
    'assets/logo.png': 'png',
  });
  return dir;
}

/** The entries of the artifact the simulated bucket holds for `release`. */
async function artifactEntries(sim: SimulatedEnvironment, release: string): Promise<string[]> {
  const body = sim.objects.get(`${sim.bucket}/releases/${release}.tar.gz`);
  if (!body) throw new Error(`no artifact for ${release}`);
  const work = mkdtempSync(path.join(tmpdir(), 'herd-pack-test-'));
  try {
    writeFileSync(path.join(work, 'a.tar.gz'), body);
    const names: string[] = [];
    await tar.list({ file: path.join(work, 'a.tar.gz'), onReadEntry: (e) => void names.push(e.path) });
    return names;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** The artifacts in the simulated bucket: none after a refusal. */
function releasesIn(sim: SimulatedEnvironment): string[] {
  return [...sim.objects.keys()].filter((k) => k.startsWith(`${sim.bucket}/releases/`));
}

describe('herd deploy <env> <dir> packs only what the app needs', () => {
  test('leaves out .git, .env*, keys, virtual environments, node_modules, __pycache__ and what .gitignore files leave out', async () => {
    const { sim, deps } = setup();
    const dir = leakyApp();
    const run = await runHerd(['deploy', 'staging', dir, '--label', 'v1', '--detach'], deps);
    expect(run.err).toBe('');
    const [, release] = /release (v1-[0-9a-f]{12})/.exec(run.out) ?? [];
    expect(release).toBeDefined();
    expect((await artifactEntries(sim, release!)).sort()).toEqual([
      '.gitignore',
      'Procfile',
      'VERSION',
      'app/views.py',
      'assets/.gitignore',
      'assets/keep.psd',
      'assets/logo.png',
      'herd/build',
    ]);
  });

  test('files left out do not change the release id: it is that of the packed tree', async () => {
    const { deps } = setup();
    const dir = leakyApp();
    const clean = appDirectory('leaky');
    write(clean, { '.gitignore': 'local-notes.txt\n', 'app/views.py': 'def index(): pass\n', 'assets/.gitignore': '*.psd\n!keep.psd\n', 'assets/keep.psd': 'layers', 'assets/logo.png': 'png' });
    const run = await runHerd(['deploy', 'staging', dir, '--label', 'v1', '--detach'], deps);
    expect(run.out).toContain(`release ${releaseIdOfTree(clean, 'v1')}`);
  });

  test('.herdignore re-includes node_modules with !node_modules, and leaves out more', async () => {
    const { sim, deps } = setup();
    const dir = leakyApp();
    write(dir, { '.herdignore': '!node_modules\ndocs/\n', 'docs/guide.md': '# guide\n' });
    const run = await runHerd(['deploy', 'staging', dir, '--label', 'v1', '--detach'], deps);
    const [, release] = /release (v1-[0-9a-f]{12})/.exec(run.out) ?? [];
    const entries = await artifactEntries(sim, release!);
    expect(entries).toContain('node_modules/left-pad/index.js');
    expect(entries).toContain('.herdignore');
    expect(entries.filter((e) => e.startsWith('docs/') || e.startsWith('.env') || e.startsWith('.git/') || e.startsWith('venv/'))).toEqual([]);
  });

  test('a .gitignore cannot re-include what herd leaves out by itself; .herdignore can, file by file', () => {
    const dir = appDirectory();
    write(dir, { '.gitignore': '!.env.example\n!node_modules/\n', '.env.example': 'SECRET_KEY=\n', 'node_modules/x.js': '' });
    expect(selectFiles(dir).files.map((f) => f.path)).toEqual(['.gitignore', 'Procfile', 'VERSION', 'herd/build']);
    write(dir, { '.herdignore': '!.env.example\n' });
    expect(selectFiles(dir).files.map((f) => f.path)).toEqual(['.env.example', '.gitignore', '.herdignore', 'Procfile', 'VERSION', 'herd/build']);
  });

  test('a virtual environment under any name is left out (it holds pyvenv.cfg)', () => {
    const dir = appDirectory();
    write(dir, { 'env3/pyvenv.cfg': 'home = /usr/bin\n', 'env3/lib/x.py': '' });
    expect(selectFiles(dir).files.map((f) => f.path)).not.toContain('env3/lib/x.py');
  });

  test('the built-in list is the documented one', () => {
    expect([...BUILT_IN_EXCLUDES]).toEqual(['.git', '.hg/', '.svn/', '.env', '.env.*', '*.pem', '*.key', 'venv/', '.venv/', 'node_modules/', '__pycache__/', '.herd/']);
  });

  test('prints the file count and the size before uploading', async () => {
    const { deps } = setup();
    const dir = appDirectory();
    const run = await runHerd(['deploy', 'staging', dir, '--detach'], deps);
    const lines = run.out.split('\n');
    expect(lines[0]).toMatch(/^packed 3 files, \d+ B \(\d+ B before compression\)$/);
    expect(lines[1]).toMatch(/^uploading s3:\/\//);
  });
});

describe('the app contract is checked before any upload', () => {
  test('fails when the Procfile has no web: line, with bake.sh\'s words, and uploads nothing', async () => {
    const { sim, deps } = setup();
    const dir = appDirectory();
    writeFileSync(path.join(dir, 'Procfile'), 'worker: run-worker\n');
    const run = await runHerd(['deploy', 'staging', dir], deps);
    expect(run.code).toBe(2);
    expect(run.err).toBe(`herd: ${dir}: artifact refused: Procfile: no web process (a 'web:' line is required); nothing was uploaded\n`);
    expect(run.out).toBe('');
    expect(releasesIn(sim)).toEqual([]);
  });

  test('fails when a hook is not executable (herd bake too), and uploads nothing', async () => {
    const { sim, deps } = setup();
    const dir = appDirectory();
    chmodSync(path.join(dir, 'herd', 'build'), 0o644);
    const run = await runHerd(['bake', 'staging', dir], deps);
    expect(run.code).toBe(2);
    expect(run.err).toBe(`herd: ${dir}: artifact refused: herd/build: present but not executable (chmod +x herd/build); nothing was uploaded\n`);
    expect(releasesIn(sim)).toEqual([]);
  });

  test('fails when .herdignore leaves the Procfile out', async () => {
    const dir = appDirectory();
    write(dir, { '.herdignore': 'Procfile\n' });
    await expect(prepareRelease(dir, undefined)).rejects.toThrow(`${dir}: artifact refused: Procfile: not found at the artifact's root; nothing was uploaded`);
  });

  test('checks a .tar.gz too', async () => {
    const dir = appDirectory();
    writeFileSync(path.join(dir, 'Procfile'), 'web python app.py\n');
    const file = path.join(mkdtempSync(path.join(tmpdir(), 'herd-pack-test-')), 'app.tar.gz');
    await tar.create({ cwd: dir, file, gzip: true }, readdirSync(dir));
    await expect(prepareRelease(file, undefined)).rejects.toThrow(`${file}: artifact refused: Procfile line 1: malformed, expected '<process>: <command>'; nothing was uploaded`);
  });
});

describe('the size limit (deploy.maxArtifactMiB)', () => {
  test('fails when the artifact is above the limit, naming the size, the limit and the largest entries, and uploads nothing', async () => {
    const config = resolveConfig({
      app: 'shop',
      environments: [{ name: 'staging', profile: 'small', network: { cidr: '10.20.0.0/16' }, maintenance: { bypassCidrs: ['203.0.113.0/24'] }, deploy: { maxArtifactMiB: 1 } }],
    });
    const { sim, deps } = setup(config);
    const dir = largeAppDirectory(2 * 1024 * 1024);
    write(dir, { 'static/a.bin': 'x'.repeat(1000) });
    const run = await runHerd(['deploy', 'staging', dir], deps);
    expect(run.code).toBe(2);
    expect(run.out).toMatch(/^packed 5 files, 2\.0 MiB \(2\.0 MiB before compression\)\n$/);
    expect(run.err).toMatch(
      new RegExp(
        `^herd: ${dir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: the artifact is 2\\.0 MiB, above the limit of 1 MiB \\(deploy\\.maxArtifactMiB\\); ` +
          'largest: media\\.bin \\(2\\.0 MiB\\), static/ \\(1000 B\\), static/a\\.bin \\(1000 B\\), Procfile \\(\\d+ B\\), herd/ \\(\\d+ B\\)\\. ' +
          'Leave out what the app does not need at run time with lines in .*/\\.herdignore \\(gitignore patterns, e\\.g\\. "media/"\\), or raise deploy\\.maxArtifactMiB in herd\\.config\\.ts; nothing was uploaded\\n$',
      ),
    );
    expect(releasesIn(sim)).toEqual([]);
  });

  test('fails when deploy.maxArtifactMiB is not a positive whole number of MiB', () => {
    expect(() =>
      resolveConfig({ app: 'shop', environments: [{ name: 'staging', network: { cidr: '10.20.0.0/16' }, deploy: { maxArtifactMiB: 0 } }] }),
    ).toThrow(/deploy\.maxArtifactMiB/);
  });
});

describe('the selection', () => {
  test('has the directories holding packed files (a hook that is a directory is refused as bake.sh refuses it)', async () => {
    const dir = appDirectory();
    rmSync(path.join(dir, 'herd', 'build'));
    write(dir, { 'herd/build/step.sh': '' });
    expect(selectFiles(dir).has('herd/build')).toBe(true);
    await expect(prepareRelease(dir, undefined)).rejects.toThrow(`${dir}: artifact refused: herd/build: must be a regular file; nothing was uploaded`);
  });
});
