import { createHash } from 'crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, readlinkSync, statSync, writeFileSync } from 'fs';
import * as path from 'path';
import { releaseIdOfTree } from '../../lib/release-id';
import {
  AGENT_CTL, BAKE, BakeStubs, CACHE_DIR, EXAMPLE_APP, IS_ROOT, bakeStubs, describeWith, hasCommand, run, runOrThrow,
  scratchRoot, tempDir, treeListing, uidIn, writeApp,
} from './support';

/** Values a boot would render; none may appear anywhere in a baked image. */
const CANARY_SECRET = 'canary-s3cret-7f3a9c';
const CANARY_SETTING = 'db.canary-setting.internal';

/**
 * bake.sh with secrets in its own environment, to prove none leaks into the image, and
 * the dnf stub (`stubs`, fresh unless given) first on PATH.
 */
function bake(args: readonly string[], stubs: BakeStubs = bakeStubs(), extraEnv: NodeJS.ProcessEnv = {}) {
  return run(BAKE, args, {
    env: {
      ...stubs.env,
      DATABASE_PASSWORD: CANARY_SECRET,
      DATABASE_HOST: CANARY_SETTING,
      AWS_SECRET_ACCESS_KEY: CANARY_SECRET,
      ...extraEnv,
    },
  });
}

function expectNoEnvironmentData(root: string): void {
  for (const canary of [CANARY_SECRET, CANARY_SETTING]) {
    const grep = runOrThrow('bash', ['-c', 'grep -rlF -- "$1" "$2" || true', '_', canary, root]);
    expect(grep).toBe('');
  }
  expect(existsSync(path.join(root, 'etc', 'herd', 'fixture.env'))).toBe(false);
}

const FIXTURE_PROCFILE = [
  '# a fixture app',
  'web: python3 -m http.server $PORT --bind 127.0.0.1',
  '',
  'worker: sh -c \'while true; do echo "50% done"; sleep 5; done\'',
  'release: echo "migrating $HERD_RELEASE"',
  '',
].join('\n');

/** What the agent's config template holds for app `fixture` with `processes`. */
function expectedCollectList(processes: readonly string[]) {
  const entry = (file: string, group: string, stream: string) => ({
    file_path: file,
    log_group_name: `/herd/fixture/@HERD_ENV@/${group}`,
    log_stream_name: stream,
    timezone: 'UTC',
    retention_in_days: '@HERD_LOG_RETENTION_DAYS@',
  });
  return [
    ...processes.map((p) => entry(`/var/log/herd/fixture/${p}.log`, p, '{instance_id}')),
    entry('/var/log/herd/fixture/boot.log', 'boot', '{instance_id}'),
    entry('/var/log/cloud-init-output.log', 'boot', '{instance_id}-cloud-init'),
  ];
}

function templateOf(root: string, app = 'fixture') {
  return JSON.parse(readFileSync(path.join(root, 'opt', 'herd', 'share', app, 'cloudwatch-agent.json.tmpl'), 'utf8'));
}

function fixtureApp(): string {
  return writeApp({
    'Procfile': FIXTURE_PROCFILE,
    'herd/build': '#!/usr/bin/env bash\nset -euo pipefail\nid -u > built-by\n',
    'app.py': 'print("hello")\n',
  }, ['herd/build']);
}

describeWith({ 'root (bake creates users)': IS_ROOT, 'jq': hasCommand('jq'), 'useradd': hasCommand('useradd') },
  'bake.sh', () => {
    describe('given a valid app', () => {
      let root: string;
      let app: string;
      let releaseId: string;
      let releaseDir: string;
      let stubs: BakeStubs;

      beforeAll(async () => {
        root = scratchRoot();
        app = fixtureApp();
        stubs = bakeStubs();
        const result = await bake(['--app', 'fixture', '--artifact', app, '--label', 'v1', '--root', root], stubs);
        expect(result.stderr).toContain('herd bake: installed fixture release');
        expect(result.code).toBe(0);
        releaseId = result.stdout.trim().split('\n').pop() ?? '';
        releaseDir = path.join(root, 'srv', 'fixture', 'releases', releaseId);
      });

      test('prints the content-addressed release id that releaseIdOfTree computes', () => {
        expect(releaseId).toMatch(/^v1-[0-9a-f]{12}$/);
        expect(releaseIdOfTree(app, 'v1')).toBe(releaseId);
      });

      test('installs the release and points current at it', () => {
        expect(readlinkSync(path.join(root, 'srv', 'fixture', 'current'))).toBe(`releases/${releaseId}`);
        expect(readFileSync(path.join(releaseDir, 'Procfile'), 'utf8')).toBe(FIXTURE_PROCFILE);
        expect(readFileSync(path.join(root, 'etc', 'herd', 'release'), 'utf8')).toBe(
          `HERD_APP=fixture\nHERD_RELEASE=${releaseId}\nHERD_RELEASE_DIR=/srv/fixture/releases/${releaseId}\n`);
      });

      test('creates a system app user without login, which owns the release and ran herd/build', () => {
        const passwd = readFileSync(path.join(root, 'etc', 'passwd'), 'utf8');
        expect(passwd).toMatch(/^fixture:x:\d+:\d+:herd app fixture:\/srv\/fixture:\/usr\/sbin\/nologin$/m);
        const uid = uidIn(root, 'fixture');
        expect(uid).toBeLessThan(1000);
        expect(uid).toBeGreaterThan(0);
        expect(statSync(releaseDir).uid).toBe(uid);
        expect(statSync(path.join(releaseDir, 'app.py')).uid).toBe(uid);
        expect(readFileSync(path.join(releaseDir, 'built-by'), 'utf8').trim()).toBe(String(uid));
      });

      test('writes one hardened unit per long-running process, none for release', () => {
        const unitDir = path.join(root, 'etc', 'systemd', 'system');
        const web = readFileSync(path.join(unitDir, 'fixture-web.service'), 'utf8');
        const worker = readFileSync(path.join(unitDir, 'fixture-worker.service'), 'utf8');
        expect(existsSync(path.join(unitDir, 'fixture-release.service'))).toBe(false);
        for (const unit of [web, worker]) {
          expect(unit).toContain('\nUser=fixture\n');
          expect(unit).toContain('\nWorkingDirectory=/srv/fixture/current\n');
          expect(unit).toContain('\nEnvironmentFile=/etc/herd/fixture.env\n');
          expect(unit).toContain('\nRestart=on-failure\n');
          expect(unit).toContain('\nNoNewPrivileges=yes\n');
          expect(unit).toContain('\nProtectSystem=strict\n');
        }
        expect(web).toContain('\nExecStart=/bin/bash -c "python3 -m http.server $$PORT --bind 127.0.0.1"\n');
        expect(web).toContain('\nStandardOutput=append:/var/log/herd/fixture/web.log\n');
        expect(worker).toContain(
          '\nExecStart=/bin/bash -c "sh -c \'while true; do echo \\"50%% done\\"; sleep 5; done\'"\n');
      });

      test('units pass systemd-analyze verify', async () => {
        if (!hasCommand('systemd-analyze')) {
          if (process.env.CI === 'true') throw new Error('systemd-analyze missing (package systemd)');
          return;
        }
        const unitDir = path.join(root, 'etc', 'systemd', 'system');
        const result = await run('systemd-analyze', ['verify',
          path.join(unitDir, 'fixture-web.service'), path.join(unitDir, 'fixture-worker.service')]);
        expect(result.stderr).toBe('');
        expect(result.code).toBe(0);
      });

      test('installs the CloudWatch agent into the root with dnf', () => {
        expect(stubs.dnfCalls()).toEqual([`--installroot ${root} install -y amazon-cloudwatch-agent`]);
        expect(statSync(path.join(root, AGENT_CTL)).mode & 0o111).toBe(0o111);
      });

      test('installs the boot script, the log template with environment and retention placeholders, log rotation', () => {
        const boot = path.join(root, 'opt', 'herd', 'bin', 'herd-boot');
        expect(statSync(boot).mode & 0o777).toBe(0o755);
        expect(readFileSync(boot, 'utf8')).toBe(readFileSync(path.join(path.dirname(BAKE), 'boot.sh'), 'utf8'));
        // Every Procfile process (release has its line), then herd-boot's log and cloud-init's.
        expect(templateOf(root)).toEqual({
          logs: { logs_collected: { files: { collect_list: expectedCollectList(['web', 'worker', 'release']) } } },
        });
        expect(readFileSync(path.join(root, 'etc', 'logrotate.d', 'herd-fixture'), 'utf8'))
          .toContain('/var/log/herd/fixture/*.log {');
        expect(statSync(path.join(root, 'var', 'log', 'herd', 'fixture')).mode & 0o777).toBe(0o750);
      });

      test('writes no secret and no environment setting', () => {
        expectNoEnvironmentData(root);
      });

      test('is idempotent: a second run changes nothing, installs nothing more and prints the same id', async () => {
        const before = treeListing(root);
        const mtimeBefore = statSync(path.join(root, 'etc', 'passwd')).mtimeMs;
        const again = await bake(['--app', 'fixture', '--artifact', app, '--label', 'v1', '--root', root], stubs);
        expect(again.code).toBe(0);
        expect(again.stderr).toContain('herd bake: amazon-cloudwatch-agent is installed\n');
        expect(stubs.dnfCalls()).toEqual([`--installroot ${root} install -y amazon-cloudwatch-agent`]);
        expect(again.stdout.trim().split('\n').pop()).toBe(releaseId);
        expect(treeListing(root)).toBe(before);
        expect(statSync(path.join(root, 'etc', 'passwd')).mtimeMs).toBe(mtimeBefore);
        expect(readFileSync(path.join(root, 'etc', 'passwd'), 'utf8').match(/^fixture:/gm)).toHaveLength(1);
      });

      test('a tarball of the same tree gives the same release id', async () => {
        const tarball = path.join(tempDir('tar'), 'fixture.tar.gz');
        runOrThrow('tar', ['-czf', tarball, '-C', app, '.']);
        const fromTar = await bake(['--app', 'fixture', '--artifact', tarball, '--label', 'v1', '--root', scratchRoot()]);
        expect(fromTar.code).toBe(0);
        expect(fromTar.stdout.trim()).toBe(releaseId);
      });
    });

    describe('refuses an artifact that breaks the contract, installing nothing', () => {
      const cases: Array<[string, Record<string, string>, string[], string]> = [
        ['fails when there is no Procfile', { 'app.py': '' }, [],
          "Procfile: not found at the artifact's root"],
        ['fails when the Procfile has no web process', { Procfile: 'worker: run-worker\n' }, [],
          "Procfile: no web process (a 'web:' line is required)"],
        ['fails when a Procfile line is malformed', { Procfile: 'web: serve\njust a command\n' }, [],
          "Procfile line 2: malformed, expected '<process>: <command>'"],
        ['fails when a process name is invalid', { Procfile: 'web: serve\nBad_Name: x\n' }, [],
          "Procfile line 2: process name 'Bad_Name' is invalid (must match [a-z][a-z0-9_-]*)"],
        ['fails when a process has no command', { Procfile: 'web:\n' }, [],
          "Procfile line 1: process 'web' has an empty command"],
        ['fails when a process is defined twice', { Procfile: 'web: a\nweb: b\n' }, [],
          "Procfile line 2: process 'web' is defined twice"],
        ['fails when a process is named boot (herd-boot\'s log)', { Procfile: 'web: a\nboot: b\n' }, [],
          "Procfile line 2: process name 'boot' is reserved (herd-boot logs to /var/log/herd/<app>/boot.log)"],
        ['fails when herd/build is not executable', { 'Procfile': 'web: serve\n', 'herd/build': '#!/bin/sh\n' }, [],
          'herd/build: present but not executable (chmod +x herd/build)'],
        ['fails when herd/provision is not executable', { 'Procfile': 'web: serve\n', 'herd/provision': '#!/bin/sh\n' }, [],
          'herd/provision: present but not executable (chmod +x herd/provision)'],
      ];
      test.each(cases)('%s', async (_name, files, executables, message) => {
        const root = scratchRoot();
        const before = treeListing(root);
        const stubs = bakeStubs();
        const result = await bake(['--app', 'fixture', '--artifact', writeApp(files, executables), '--root', root], stubs);
        expect(result.stderr).toBe(`herd bake: artifact refused: ${message}\n`);
        expect(result.stdout).toBe('');
        expect(result.code).toBe(3);
        expect(treeListing(root)).toBe(before);
        expect(stubs.dnfCalls()).toEqual([]);
      });

      test('fails when the label is invalid', async () => {
        const root = scratchRoot();
        const result = await bake(['--app', 'fixture', '--artifact', fixtureApp(), '--label', 'V1', '--root', root]);
        expect(result.stderr).toBe("herd bake: --label 'V1' is invalid (must match ^[a-z0-9][a-z0-9.-]{0,31}$)\n");
        expect(result.code).toBe(2);
      });

      test('fails when herd/build fails, leaving no release behind', async () => {
        const root = scratchRoot();
        const app = writeApp({ 'Procfile': 'web: serve\n', 'herd/build': '#!/bin/sh\necho broken >&2\nexit 7\n' },
          ['herd/build']);
        const result = await bake(['--app', 'fixture', '--artifact', app, '--root', root]);
        expect(result.code).toBe(1);
        expect(result.stderr).toContain('broken\n');
        expect(result.stderr).toMatch(/herd bake: herd\/build failed; release [0-9a-f]{12} not installed\n$/);
        expect(runOrThrow('find', [path.join(root, 'srv', 'fixture', 'releases'), '-mindepth', '1'])).toBe('');
        expect(existsSync(path.join(root, 'srv', 'fixture', 'current'))).toBe(false);
      });
    });

    describe('the CloudWatch agent', () => {
      test('is not installed again when the image already has it', async () => {
        const root = scratchRoot();
        mkdirSync(path.dirname(path.join(root, AGENT_CTL)), { recursive: true });
        writeFileSync(path.join(root, AGENT_CTL), '#!/bin/sh\n');
        chmodSync(path.join(root, AGENT_CTL), 0o755);
        const stubs = bakeStubs();
        const result = await bake(['--app', 'fixture', '--artifact', fixtureApp(), '--root', root], stubs);
        expect(result.code).toBe(0);
        expect(result.stderr).toContain('herd bake: amazon-cloudwatch-agent is installed\n');
        expect(stubs.dnfCalls()).toEqual([]);
      });

      test('fails when dnf cannot install it, leaving nothing behind', async () => {
        const root = scratchRoot();
        const before = treeListing(root);
        const stubs = bakeStubs();
        writeFileSync(path.join(stubs.stubDir, 'dnf-error'), 'Error: Unable to find a match: amazon-cloudwatch-agent\n');
        const app = fixtureApp();
        const result = await bake(['--app', 'fixture', '--artifact', app, '--root', root], stubs);
        expect(result.code).toBe(1);
        expect(result.stdout).toBe('');
        expect(result.stderr).toContain('Error: Unable to find a match: amazon-cloudwatch-agent\n');
        expect(result.stderr.endsWith(`herd bake: cannot install amazon-cloudwatch-agent: dnf --installroot ${root} ` +
          `install -y amazon-cloudwatch-agent failed (exit 1); release ${releaseIdOfTree(app)} not installed\n`)).toBe(true);
        expect(stubs.dnfCalls()).toEqual([`--installroot ${root} install -y amazon-cloudwatch-agent`]);
        expect(treeListing(root)).toBe(before);
      });

      test('fails when dnf succeeds without installing its control script, leaving nothing behind', async () => {
        const root = scratchRoot();
        const before = treeListing(root);
        const stubs = bakeStubs();
        writeFileSync(path.join(stubs.stubDir, 'dnf-installs-nothing'), '');
        const app = fixtureApp();
        const result = await bake(['--app', 'fixture', '--artifact', app, '--root', root], stubs);
        expect(result.code).toBe(1);
        expect(result.stderr.endsWith(`herd bake: cannot install amazon-cloudwatch-agent: dnf succeeded but ${root}${AGENT_CTL} ` +
          `is missing; release ${releaseIdOfTree(app)} not installed\n`)).toBe(true);
        expect(treeListing(root)).toBe(before);
      });

      test('the template lists a release log even without a release: line, and any other process', async () => {
        const root = scratchRoot();
        const app = writeApp({ Procfile: 'web: serve\nclock: tick\n' });
        const result = await bake(['--app', 'fixture', '--artifact', app, '--root', root]);
        expect(result.code).toBe(0);
        expect(templateOf(root).logs.logs_collected.files.collect_list).toEqual(expectedCollectList(['web', 'clock', 'release']));
      });
    });

    describe('given the example app (mootube)', () => {
      let root: string;
      let releaseId: string;

      beforeAll(async () => {
        // Wheels are downloaded once, by the Python herd/build will find on bake's PATH (its
        // version decides which dependencies apply), so herd/build installs offline and fast.
        const bakePath = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
        const buildPython = runOrThrow('env', ['-i', bakePath,
          'python3', '-c', 'import platform; print(platform.python_version())']).trim();
        const wheels = path.join(CACHE_DIR, `mootube-wheels-py${buildPython}`);
        if (!existsSync(path.join(wheels, '.complete'))) {
          const downloader = path.join(tempDir('pip'), 'venv');
          runOrThrow('env', ['-i', bakePath, 'python3', '-m', 'venv', downloader]);
          runOrThrow(path.join(downloader, 'bin', 'pip'), ['download', '--quiet', '--disable-pip-version-check',
            '-d', wheels, '-r', path.join(EXAMPLE_APP, 'requirements.txt')]);
          runOrThrow('touch', [path.join(wheels, '.complete')]);
        }
        // herd/build runs as the app user, who may not traverse the checkout (a CI clone can
        // live in a 0700 directory): hand it a world-readable copy of the wheels.
        const readableWheels = tempDir('wheels');
        runOrThrow('cp', ['-R', `${wheels}/.`, readableWheels]);
        runOrThrow('chmod', ['-R', 'a+rX', readableWheels]);
        root = scratchRoot();
        const result = await bake(['--app', 'mootube', '--artifact', EXAMPLE_APP, '--label', 'v1', '--root', root],
          bakeStubs(), { PIP_NO_INDEX: '1', PIP_FIND_LINKS: readableWheels });
        if (result.code !== 0) throw new Error(`bake failed: ${result.stderr}`);
        releaseId = result.stdout.trim().split('\n').pop() ?? '';
      }, 300_000);

      test('its release id equals releaseIdOfTree of the example directory', () => {
        expect(releaseId).toBe(releaseIdOfTree(EXAMPLE_APP, 'v1'));
      });

      test('herd/build made a venv and collected static files, owned by the app user', () => {
        const releaseDir = path.join(root, 'srv', 'mootube', 'releases', releaseId);
        const uid = uidIn(root, 'mootube');
        expect(statSync(path.join(releaseDir, '.venv', 'bin', 'gunicorn')).uid).toBe(uid);
        expect(existsSync(path.join(releaseDir, 'staticfiles', 'mootube', 'site.css'))).toBe(true);
      });

      test('units run the Procfile commands as the app user', () => {
        const unitDir = path.join(root, 'etc', 'systemd', 'system');
        const web = readFileSync(path.join(unitDir, 'mootube-web.service'), 'utf8');
        const worker = readFileSync(path.join(unitDir, 'mootube-worker.service'), 'utf8');
        expect(web).toContain('\nUser=mootube\n');
        expect(web).toMatch(/\nExecStart=\/bin\/bash -c "gunicorn .*--bind 0\.0\.0\.0:\$\$PORT.*"\n/);
        expect(worker).toContain('\nUser=mootube\n');
        expect(worker).toContain('\nExecStart=/bin/bash -c "python manage.py process_views"\n');
        expect(existsSync(path.join(unitDir, 'mootube-release.service'))).toBe(false);
      });

      test('writes no secret and no environment setting', () => {
        for (const canary of [CANARY_SECRET, CANARY_SETTING]) {
          expect(runOrThrow('bash', ['-c', 'grep -rlF -- "$1" "$2" || true', '_', canary, root])).toBe('');
        }
        expect(existsSync(path.join(root, 'etc', 'herd', 'mootube.env'))).toBe(false);
      });

      test('is idempotent: a second run leaves the same tree', async () => {
        const before = treeListing(root);
        const again = await bake(['--app', 'mootube', '--artifact', EXAMPLE_APP, '--label', 'v1', '--root', root]);
        expect(again.code).toBe(0);
        expect(again.stdout.trim()).toBe(releaseId);
        expect(treeListing(root)).toBe(before);
      });
    });
  });

/** SHA-256 (hex) of a herd/provision, as herd uploads it (the artifact's herd-provision metadata). */
function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

describeWith({ 'root (bake creates users)': IS_ROOT, 'jq': hasCommand('jq'), 'useradd': hasCommand('useradd') },
  'bake.sh --layer (layered bake: a base image, then a release on it)', () => {
    // herd/provision counts its runs in the image (HERD_ROOT is the scratch root).
    const PROVISION = '#!/usr/bin/env bash\nset -euo pipefail\necho run >> "$HERD_ROOT/etc/provision-runs"\n';
    const layeredApp = (provision = PROVISION) => writeApp({
      'Procfile': FIXTURE_PROCFILE,
      'herd/provision': provision,
      'herd/build': '#!/usr/bin/env bash\nset -euo pipefail\nid -u > built-by\n',
      'app.py': 'print("hello")\n',
    }, ['herd/provision', 'herd/build']);
    const runs = (root: string) => readFileSync(path.join(root, 'etc', 'provision-runs'), 'utf8').split('\n').filter(Boolean).length;

    describe('a base, then a release on it', () => {
      let root: string;
      let app: string;
      let base: Awaited<ReturnType<typeof bake>>;
      let release: Awaited<ReturnType<typeof bake>>;
      let stubs: BakeStubs;

      beforeAll(async () => {
        root = scratchRoot();
        app = layeredApp();
        stubs = bakeStubs();
        base = await bake(['--app', 'fixture', '--artifact', app, '--label', 'v1', '--root', root, '--layer', 'base', '--provision', sha256(PROVISION)], stubs);
        release = await bake(['--app', 'fixture', '--artifact', app, '--label', 'v1', '--root', root, '--layer', 'release', '--provision', sha256(PROVISION)], stubs);
      });

      test('the base runs the instance setup and herd/provision, installs no release, and records what it was provisioned with', () => {
        expect(base.code).toBe(0);
        expect(base.stderr).toContain('herd bake: baked the base image of fixture');
        expect(readFileSync(path.join(root, 'etc', 'herd', 'base'), 'utf8')).toBe(`HERD_APP=fixture\nHERD_PROVISION=${sha256(PROVISION)}\n`);
        expect(stubs.dnfCalls()).toHaveLength(1);
        expect(uidIn(root, 'fixture')).toBeGreaterThan(0);
      });

      test('the release on the base skips herd/provision (it ran once, in the base) and the agent install, and installs and builds the release', () => {
        expect(release.code).toBe(0);
        expect(release.stderr).toContain('herd/provision: run by the base image');
        expect(runs(root)).toBe(1);
        expect(stubs.dnfCalls()).toHaveLength(1);
        const releaseId = release.stdout.trim().split('\n').pop() ?? '';
        expect(readlinkSync(path.join(root, 'srv', 'fixture', 'current'))).toBe(`releases/${releaseId}`);
        expect(readFileSync(path.join(root, 'srv', 'fixture', 'releases', releaseId, 'built-by'), 'utf8').trim()).toBe(String(uidIn(root, 'fixture')));
        expect(existsSync(path.join(root, 'etc', 'systemd', 'system', 'fixture-web.service'))).toBe(true);
      });
    });

    test('a base leaves no release, unit, boot script or current symlink', async () => {
      const root = scratchRoot();
      const result = await bake(['--app', 'fixture', '--artifact', layeredApp(), '--root', root, '--layer', 'base', '--provision', sha256(PROVISION)]);
      expect(result.code).toBe(0);
      expect(runs(root)).toBe(1);
      expect(existsSync(path.join(root, 'srv', 'fixture', 'current'))).toBe(false);
      expect(runOrThrow('ls', ['-A', path.join(root, 'srv', 'fixture', 'releases')]).trim()).toBe('');
      expect(existsSync(path.join(root, 'etc', 'systemd', 'system', 'fixture-web.service'))).toBe(false);
      expect(existsSync(path.join(root, 'opt', 'herd', 'bin', 'herd-boot'))).toBe(false);
    });

    test.each([
      ['a release layer on an image that is no herd base', 'none-yet', sha256(PROVISION), 'not a herd base image'],
      ['a release layer on the base of another herd/provision', 'other', sha256(PROVISION), 'the base image was provisioned with herd/provision'],
      ['a --provision that is not the artifact\'s herd/provision', 'none-yet', sha256('#!/bin/sh\n'), `herd/provision has SHA-256 ${sha256(PROVISION)}, not --provision`],
    ])('refuses (exit 3, nothing written) %s', async (_what, baseOf, provision, message) => {
      const root = scratchRoot();
      if (baseOf === 'other') {
        const other = '#!/usr/bin/env bash\necho other >> "$HERD_ROOT/etc/provision-runs"\n';
        expect((await bake(['--app', 'fixture', '--artifact', layeredApp(other), '--root', root, '--layer', 'base', '--provision', sha256(other)])).code).toBe(0);
      }
      const before = treeListing(root);
      const result = await bake(['--app', 'fixture', '--artifact', layeredApp(), '--root', root, '--layer', 'release', '--provision', provision]);
      expect(result.code).toBe(3);
      expect(result.stderr).toContain(message);
      expect(treeListing(root)).toBe(before);
    });

    test.each([
      [['--layer', 'middle', '--provision', 'none'], "--layer 'middle' is invalid (base or release)"],
      [['--layer', 'base'], '--layer base needs --provision'],
      [['--provision', 'none'], '--provision goes with --layer'],
    ])('refuses bad layer usage %j (exit 2)', async (args, message) => {
      const result = await bake(['--app', 'fixture', '--artifact', layeredApp(), '--root', scratchRoot(), ...args]);
      expect(result.code).toBe(2);
      expect(result.stderr).toContain(message);
    });
  });
