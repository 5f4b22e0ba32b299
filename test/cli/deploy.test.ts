/**
 * `herd deploy`, `rollback`, `bake`, `watch` and `status` against the deploy step's fake
 * cloud: the real deploy step runs one poll at a time, so instance refresh progress,
 * failures and the lock behave as in AWS.
 */
import { lockedMessage } from '../../lambda/deploy/lock';
import { ARTIFACT_PREFIX } from '../../lib/deploy-step';
import { RELEASES_PREFIX } from '../../lib/cli/environment';
import { parameterNames, TAGS } from '../../lib/names';
import { releaseIdOfTree } from '../../lib/release-id';
import { provisionHashOf } from '../../lib/cli/artifact';
import {
  AbortMultipartUploadCommand, CompleteMultipartUploadCommand, CreateMultipartUploadCommand, PutObjectCommand, UploadPartCommand,
} from '@aws-sdk/client-s3';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { FakeAwsError } from '../../lib/simulation/errors';
import { appDirectory, largeAppDirectory } from './support/app';
import { Collector, runHerd, testDeps } from './support/harness';
import { S3_LIMITS, SIMULATED_ACTOR, SimulatedEnvironment } from './support/simulated';

function setup(spec: ConstructorParameters<typeof SimulatedEnvironment>[0] = { web: 2, worker: 1, serving: 'r1' }) {
  const sim = new SimulatedEnvironment(spec);
  const deps = testDeps({ clients: () => sim.clients(), now: () => sim.world.clock.now(), sleep: () => sim.sleep() });
  return { sim, deps };
}

const currentRelease = (sim: SimulatedEnvironment) => sim.world.cloud.parameters.get(parameterNames('shop', 'staging').currentRelease);

test('the CLI looks for artifacts where the deploy step does', () => {
  expect(RELEASES_PREFIX).toBe(ARTIFACT_PREFIX);
});

describe('herd deploy <env> <path>', () => {
  test('uploads the artifact with its herd/provision\'s SHA-256 as metadata; the deploy bakes the base image of that provision once, then reuses it', async () => {
    const { sim, deps } = setup();
    const dir = appDirectory();
    const first = await runHerd(['deploy', 'staging', dir, '--label', 'v2'], deps);
    expect(first.code).toBe(0);
    const key = `${sim.bucket}/${ARTIFACT_PREFIX}${releaseIdOfTree(dir, 'v2')}.tar.gz`;
    expect(sim.metadata.get(key)).toEqual({ 'herd-provision': provisionHashOf(dir) });
    const history = () => [...sim.world.cloud.table.values()].filter((i) => i.pk === 'DEPLOY').sort((a, b) => String(a.startedAt).localeCompare(String(b.startedAt)));
    // The app's herd/provision is not the one the world's base was baked with: a new base.
    expect(history()[0]).toMatchObject({ status: 'succeeded', reusedBase: false });
    const base = history()[0]?.baseImageId;
    expect(sim.world.cloud.images.get(String(base))?.tags[TAGS.role]).toBe('base');
    writeFileSync(path.join(dir, 'app.py'), 'print("v3")\n');
    const second = await runHerd(['deploy', 'staging', dir, '--label', 'v3'], deps);
    expect(second.code).toBe(0);
    expect(history()[1]).toMatchObject({ status: 'succeeded', reusedBase: true, baseImageId: base });
    const text = await runHerd(['history', 'staging'], deps);
    expect(text.out).toContain(`base image ${String(base)} reused`);
    expect(text.out).toContain(`base image ${String(base)} baked`);
  });

  test('packs and uploads the app, runs the deploy to the end with progress, exits 0 once the release serves', async () => {
    const { sim, deps } = setup();
    const dir = appDirectory();
    const release = releaseIdOfTree(dir, 'v2');
    const run = await runHerd(['deploy', 'staging', dir, '--label', 'v2'], deps);
    expect(run.err).toBe('');
    expect(run.code).toBe(0);
    expect(sim.objects.has(`${sim.bucket}/releases/${release}.tar.gz`)).toBe(true);
    expect(currentRelease(sim)).toBe(release);
    const lines = run.out.trim().split('\n');
    // What was packed, before anything goes up.
    expect(lines.shift()).toMatch(/^packed 3 files, \d+ B \(\d+ B before compression\)$/);
    expect(lines[0]).toMatch(new RegExp(`^uploading s3://${sim.bucket}/releases/${release}\\.tar\\.gz \\(\\d+ B\\)$`));
    expect(lines[1]).toMatch(new RegExp(`^uploaded s3://${sim.bucket}/releases/${release}\\.tar\\.gz \\(\\d+ B in 0s\\)$`));
    // The actor is the caller's AWS identity (STS), not a name the caller chose.
    expect(lines[2]).toMatch(new RegExp(`^deploy \\S+ started on staging: release ${release} \\(rolling\\), by alice \\(arn:aws:iam::123456789012:user/alice\\)$`));
    // A first deploy: the phases and the total come from herd plan, before the first poll.
    expect(lines[3]).toMatch(new RegExp(`^release ${release} on staging, rolling: ETA ~\\d+m\\d+s \\(estimate from herd plan\\)$`));
    expect(lines.slice(4, 11).map((l) => l.replace(/~\S+$/, '~'))).toEqual(['lock', 'bake', 'launch template', 'migrate', 'rollout', 'verify', 'record'].map((p) => `  ${p.padEnd(16)}~`));
    // The step in words, with the count of instances replaced, and the time left from the first line on.
    // Web and worker roll at once: both counts on one line, and both refreshes' percentages while both run.
    expect(lines.some((l) => /^rollout: replacing [12] of 2 web instances; (replacing 1 of 1 worker instance|the worker instance replaced, finishing) · refresh (web \d+%|web \d+%, worker \d+%) · elapsed \S+ · ETA ~\S+$/.test(l))).toBe(true);
    expect(lines.some((l) => /^bake: waiting for the builder · bake ~\d+% · elapsed \S+ · ETA ~\S+$/.test(l))).toBe(true);
    // Piped, the bake's estimate prints a line per ten percent (heartbeats in between), not one a poll.
    const bakeLines = lines.filter((l) => /^bake: waiting for the builder · bake ~\d+%/.test(l));
    expect(bakeLines.length).toBeLessThanOrEqual(11);
    expect(new Set(bakeLines.map((l) => Math.floor(Number(/bake ~(\d+)%/.exec(l)?.[1]) / 10))).size).toBe(bakeLines.length);
    expect(lines.filter((l) => /^✔ lock {12}\d+s \(estimate ~\d+s\)$/.test(l))).toHaveLength(1);
    // Each instance of the rollout as it changes, the new ones launching to healthy, the old ones draining to terminated.
    expect(lines).toEqual(expect.arrayContaining([
      expect.stringMatching(new RegExp(`^  web {4}i-\\w+  ${release} +launching$`)),
      expect.stringMatching(new RegExp(`^  web {4}i-\\w+  ${release} +healthy$`)),
      expect.stringMatching(/^  web {4}i-\w+  r1 +draining$/),
      expect.stringMatching(/^  web {4}i-\w+  r1 +terminated$/),
    ]));
    // The summary: URL, instances per role, duration against the estimate, the way back; the verdict last.
    expect(lines.slice(-6)).toEqual([
      '  url        http://herd-staging-123.eu-west-1.elb.amazonaws.com',
      '  instances  web 2 · worker 1',
      expect.stringMatching(/^  duration   \d+m\d+s \(estimate ~\d+m\d+s from herd plan\)$/),
      '  previous   r1',
      '  roll back  herd rollback staging',
      expect.stringMatching(new RegExp(`^release ${release} serves on staging \\(deploy \\S+ in \\d+m\\d+s\\)$`)),
    ]);
    // Piped output: one line per change, never the same progress line twice in a row.
    const progress = lines.filter((l) => / · elapsed /.test(l)).map((l) => l.replace(/ · elapsed.*/, ''));
    for (let i = 1; i < progress.length; i++) expect(progress[i]).not.toBe(progress[i - 1]);
  });

  test('estimates the time left from the environment\'s history once there is one', async () => {
    const { sim, deps } = setup();
    expect((await runHerd(['deploy', 'staging', appDirectory('a')], deps)).code).toBe(0);
    const second = testDeps({ clients: () => sim.clients(), now: () => sim.world.clock.now(), sleep: () => sim.sleep() });
    const run = await runHerd(['deploy', 'staging', appDirectory('b')], second);
    expect(run.code).toBe(0);
    expect(run.out).toMatch(/ on staging, rolling: ETA ~\d+m\d+s \(estimate from 1 earlier deploy\)\n/);
    expect(run.out).toMatch(/bake: [a-z ]+ · bake ~\d+% · elapsed \S+ · ETA ~\d+m\d+s/);
    expect(run.out).not.toMatch(/ETA unknown/);
  });

  test('a release already uploaded is not uploaded again', async () => {
    const { sim, deps } = setup();
    const dir = appDirectory();
    const release = releaseIdOfTree(dir);
    sim.objects.set(`${sim.bucket}/releases/${release}.tar.gz`, Buffer.from('x'));
    const run = await runHerd(['deploy', 'staging', dir, '--detach'], deps);
    expect(run.out.split('\n')[1]).toBe(`release ${release}: artifact s3://${sim.bucket}/releases/${release}.tar.gz already uploaded`);
    expect(sim.objects.get(`${sim.bucket}/releases/${release}.tar.gz`)?.toString()).toBe('x');
  });

  test('--detach returns 3 after starting, saying how to follow the deploy', async () => {
    const { sim, deps } = setup();
    const run = await runHerd(['deploy', 'staging', appDirectory(), '--detach', '--strategy', 'full', '--migrate', 'after'], deps);
    expect(run.code).toBe(3);
    const [x] = [...sim.executions.values()];
    expect(x?.input).toMatchObject({ strategy: 'full', migrationOrder: 'after', actor: SIMULATED_ACTOR, deployId: x?.name });
    expect(run.out).toMatch(/detached: deploy (\S+) keeps running; follow it with `herd watch staging`, check it with `herd status staging`\n$/);
    expect(sim.polls).toBe(0);
  });

  test('Ctrl-C detaches without stopping the deploy (exit 3), and herd watch follows it to the end', async () => {
    const { sim, deps } = setup();
    sim.onPoll = (n) => {
      if (n === 3) deps.interrupt();
    };
    const run = await runHerd(['deploy', 'staging', appDirectory()], deps);
    expect(run.code).toBe(3);
    expect(run.out).toMatch(/detached: deploy \S+ keeps running; follow it with `herd watch staging`/);
    const [x] = [...sim.executions.values()];
    expect(x?.status).toBe('RUNNING');
    sim.onPoll = undefined;
    const watch = await runHerd(['watch', 'staging'], testDeps({ clients: () => sim.clients(), now: () => sim.world.clock.now(), sleep: () => sim.sleep() }));
    expect(watch.code).toBe(0);
    expect(watch.out).toMatch(/serves on staging/);
    expect(x?.status).toBe('SUCCEEDED');
  });

  test('fails when the deploy fails: exit 1 with the cause, the previous release keeps serving', async () => {
    const dir = appDirectory('broken');
    const release = releaseIdOfTree(dir);
    const { sim, deps } = setup({ web: 2, worker: 1, serving: 'r1', releases: { [release]: { migrationExitCode: 1 } } });
    const run = await runHerd(['deploy', 'staging', dir], deps);
    expect(run.code).toBe(1);
    expect(run.err).toMatch(
      /^herd: deploy \S+ failed in migrate: running the migrations: migration failed on runner i-\w+ \(exit 1\): django\.db\.utils\.ProgrammingError: column "sku" does not exist; rolled back; release r1 keeps serving\n$/,
    );
    // The display: the failed phase marked, the cause in words, what was rolled back.
    const lines = run.out.trim().split('\n');
    expect(lines.filter((l) => l.startsWith('✖ '))).toEqual([expect.stringMatching(/^✖ migrate {9}\d+s \(estimate ~\S+\) — failed$/)]);
    expect(lines).toContainEqual(expect.stringMatching(/^✔ roll back {7}\d+/));
    expect(lines.slice(-4)).toEqual([
      expect.stringMatching(/^deploy failed in migrate: running the migrations: migration failed on runner i-\w+ \(exit 1\): django\.db\.utils\.ProgrammingError: column "sku" does not exist$/),
      '  rolled back: release r1 keeps serving',
      '    - release parameters restored',
      '    - builder and runner terminated',
    ]);
    expect(currentRelease(sim)).toBe('r1');
  });

  test('fails when another deploy holds the lock: the lock message, nothing uploaded or started', async () => {
    const { sim, deps } = setup();
    const lock = { deployId: '20261105T090000Z-abcdef', actor: 'bob', release: 'r0', since: '2026-11-05T09:00:00.000Z' };
    sim.world.cloud.table.set('LOCK\u0000LOCK', { pk: 'LOCK', sk: 'LOCK', ...lock });
    const run = await runHerd(['deploy', 'staging', appDirectory()], deps);
    expect(run).toEqual({ code: 2, out: expect.stringMatching(/^packed 3 files, [^\n]+\n$/), err: `herd: ${lockedMessage('staging', lock)}\n` });
    expect(sim.objects.size).toBe(0);
    expect(sim.executions.size).toBe(0);
  });

  test('fails when the release id is not uploaded: names the key and what to do', async () => {
    const { sim, deps } = setup();
    const run = await runHerd(['deploy', 'staging', 'v9-0123456789ab'], deps);
    expect(run).toEqual({
      code: 2,
      out: '',
      err: `herd: unknown release v9-0123456789ab on staging: no image of shop is tagged with it and s3://${sim.bucket}/releases/v9-0123456789ab.tar.gz does not exist; \`herd releases staging\` lists the releases deploy and rollback accept, \`herd deploy staging <app directory or .tar.gz>\` uploads a new one\n`,
    });
    expect(sim.executions.size).toBe(0);
  });

  test('fails when the path does not exist, the label or the strategy is invalid', async () => {
    const { sim, deps } = setup();
    expect(await runHerd(['deploy', 'staging', './nowhere'], deps)).toMatchObject({ code: 2, err: 'herd: ./nowhere: no such file or directory (give an app directory, a .tar.gz or a release id)\n' });
    const d2 = setup().deps;
    expect(await runHerd(['deploy', 'staging', appDirectory(), '--label', 'V 2'], d2)).toMatchObject({
      code: 2,
      err: 'herd: invalid --label "V 2": must match /^[a-z0-9][a-z0-9.-]{0,31}$/ (lower-case letters, digits, dots and hyphens, at most 32)\n',
    });
    const d3 = setup().deps;
    const bad = await runHerd(['deploy', 'staging', 'r2', '--strategy', 'blue-green'], d3);
    expect(bad.code).toBe(2);
    expect(bad.err.split('\n')[0]).toBe("herd: option '--strategy <strategy>' argument 'blue-green' is invalid. Allowed choices are rolling, full.");
    expect(sim.executions.size).toBe(0);
  });
});

describe('herd bake', () => {
  test('bakes and tags the image without touching the fleets', async () => {
    const { sim, deps } = setup();
    const dir = appDirectory('bake');
    const release = releaseIdOfTree(dir);
    const before = sim.world.cloud.groups.get('herd-staging-web')?.instances.map((i) => i.id);
    const run = await runHerd(['bake', 'staging', dir], deps);
    expect(run.err).toBe('');
    expect(run.code).toBe(0);
    const image = [...sim.world.cloud.images.values()].find((i) => i.tags[TAGS.release] === release);
    expect(image?.state).toBe('available');
    expect(run.out).toMatch(new RegExp(`image ${image?.id} of release ${release} is ready in \\S+; deploy it with \`herd deploy staging ${release}\`\\n$`));
    expect(sim.world.cloud.groups.get('herd-staging-web')?.instances.map((i) => i.id)).toEqual(before);
    expect(currentRelease(sim)).toBe('r1');
    // Then the deploy reuses the image: no second builder. (The bake had two: the app's
    // herd/provision is not the world's base's, so a base image was baked first.)
    const deploy = await runHerd(['deploy', 'staging', release], testDeps({ clients: () => sim.clients(), now: () => sim.world.clock.now(), sleep: () => sim.sleep() }));
    expect(deploy.code).toBe(0);
    const builders = [...sim.world.cloud.instances.values()].filter((i) => i.tags[TAGS.role] === 'builder');
    expect(builders.map((b) => b.tags[TAGS.bake])).toEqual(['base', 'release']);
  });

  test('a release that already has an image is not baked again', async () => {
    const { sim, deps } = setup({ web: 1, serving: 'r1', baked: ['r0'] });
    sim.objects.set(`${sim.bucket}/releases/r0.tar.gz`, Buffer.from('x'));
    const run = await runHerd(['bake', 'staging', 'r0'], deps);
    expect(run).toEqual({ code: 0, err: '', out: `release r0 already has image ${sim.world.images.r0} nothing to bake (deploy it with \`herd deploy staging r0\`)\n`.replace(' nothing', '; nothing') });
    expect(sim.executions.size).toBe(0);
  });
});

describe('herd rollback', () => {
  test('deploys the previous successful release from its image, without a bake', async () => {
    const { sim, deps } = setup({ web: 2, worker: 1, serving: 'r2', baked: ['r1'] });
    sim.world.cloud.table.set('DEPLOY\u00002026-11-04T10:00:00.000Z#d1', {
      pk: 'DEPLOY', sk: '2026-11-04T10:00:00.000Z#d1', deployId: 'd1', release: 'r1', strategy: 'rolling', migrationOrder: 'before', actor: 'bob', status: 'succeeded',
      startedAt: '2026-11-04T10:00:00.000Z', endedAt: '2026-11-04T10:10:00.000Z', phases: [],
    });
    sim.world.cloud.table.set('DEPLOY\u00002026-11-05T09:00:00.000Z#d2', {
      pk: 'DEPLOY', sk: '2026-11-05T09:00:00.000Z#d2', deployId: 'd2', release: 'r2', strategy: 'rolling', migrationOrder: 'before', actor: 'bob', status: 'succeeded',
      startedAt: '2026-11-05T09:00:00.000Z', endedAt: '2026-11-05T09:10:00.000Z', phases: [],
    });
    const run = await runHerd(['rollback', 'staging', '--migrate', 'none'], deps);
    expect(run.err).toBe('');
    expect(run.code).toBe(0);
    expect(run.out.split('\n')[0]).toBe(`rolling staging back from r2 to r1 (image ${sim.world.images.r1}, no rebake)`);
    expect(currentRelease(sim)).toBe('r1');
    expect([...sim.world.cloud.instances.values()].filter((i) => i.tags[TAGS.role] === 'builder')).toHaveLength(0);
  });

  test('fails when the named release has neither an image nor an artifact', async () => {
    const { sim, deps } = setup();
    const run = await runHerd(['rollback', 'staging', 'r0'], deps);
    expect(run).toEqual({ code: 2, out: '', err: `herd: unknown release r0 on staging: no image of shop is tagged with it and s3://${sim.bucket}/releases/r0.tar.gz does not exist; \`herd releases staging\` lists the releases deploy and rollback accept, \`herd deploy staging <app directory or .tar.gz>\` uploads a new one\n` });
    expect(sim.executions.size).toBe(0);
  });

  test('fails when there is no earlier release to go back to', async () => {
    const { deps } = setup();
    const run = await runHerd(['rollback', 'staging'], deps);
    expect(run).toEqual({ code: 2, out: '', err: 'herd: no earlier successful release of staging to roll back to (serving: r1); name one: herd rollback staging <release>\n' });
  });
});

describe('herd status during a deploy', () => {
  test('shows the lock holder, the phase and the instance refresh percentage', async () => {
    const { sim, deps } = setup();
    await runHerd(['deploy', 'staging', appDirectory(), '--detach'], deps);
    // Run until the web refresh is under way.
    for (let i = 0; i < 200 && !sim.world.cloud.groups.get('herd-staging-web')?.refreshes.some((r) => r.status === 'InProgress' && r.percentage > 0); i++) await sim.run(10);
    const run = await runHerd(['status', 'staging', '--json'], testDeps({ clients: () => sim.clients(), now: () => sim.world.clock.now() }));
    expect(run.code).toBe(0);
    const status = JSON.parse(run.out) as { lock: { actor: string; phase: string; status: string }; refreshes: { role: string; percent: number }[]; release: string };
    expect(status.lock).toMatchObject({ actor: SIMULATED_ACTOR, phase: 'rollout', status: 'RUNNING' });
    expect(status.refreshes[0]).toMatchObject({ role: 'web', status: 'InProgress' });
    expect(status.refreshes[0]?.percent).toBeGreaterThan(0);
    const text = await runHerd(['status', 'staging'], testDeps({ clients: () => sim.clients(), now: () => sim.world.clock.now() }));
    expect(text.out).toMatch(/^deploy {6}\S+ running: rollout: replacing web and worker instances, release \S+, by alice \(arn:aws:iam::123456789012:user\/alice\) since /m);
    expect(text.out).toMatch(/^refresh {5}web InProgress \d+%$/m);
  });
});

describe('artifacts', () => {
  test('a directory packs to the same bytes every time, and its .tar.gz has the same release id', async () => {
    const { packDirectory } = await import('../../lib/cli/artifact');
    const { readFileSync, mkdtempSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const dir = appDirectory('tar');
    const out = mkdtempSync(`${tmpdir()}/herd-pack-`);
    await packDirectory(dir, `${out}/a.tar.gz`);
    await packDirectory(dir, `${out}/b.tar.gz`);
    expect(readFileSync(`${out}/a.tar.gz`).equals(readFileSync(`${out}/b.tar.gz`))).toBe(true);
    const { sim, deps } = setup();
    const run = await runHerd(['deploy', 'staging', `${out}/a.tar.gz`, '--detach'], deps);
    const release = releaseIdOfTree(dir);
    expect(run.code).toBe(3);
    const size = readFileSync(`${out}/a.tar.gz`).length;
    expect(run.out.split('\n').slice(0, 2)).toEqual([
      `uploading s3://${sim.bucket}/releases/${release}.tar.gz (${size} B)`,
      `uploaded s3://${sim.bucket}/releases/${release}.tar.gz (${size} B in 0s)`,
    ]);
    expect(sim.objects.get(`${sim.bucket}/releases/${release}.tar.gz`)?.equals(readFileSync(`${out}/a.tar.gz`))).toBe(true);
    // One part: a single PutObject of the whole body.
    expect(sim.s3Calls).toEqual(['HeadObject', 'PutObject']);
  });
});

describe('large artifacts: multipart upload', () => {
  const MiB = 1024 * 1024;
  const cleanup: string[] = [];
  afterAll(() => {
    for (const dir of cleanup.splice(0)) rmSync(dir, { recursive: true, force: true });
  });

  /** An app of `bytes` random bytes, and the exact tarball `herd` uploads for it. */
  async function largeApp(bytes: number): Promise<{ dir: string; release: string; tarball: Buffer }> {
    const { packDirectory } = await import('../../lib/cli/artifact');
    const dir = largeAppDirectory(bytes);
    const out = mkdtempSync(path.join(tmpdir(), 'herd-pack-'));
    cleanup.push(dir, out);
    await packDirectory(dir, path.join(out, 'a.tar.gz'));
    return { dir, release: releaseIdOfTree(dir), tarball: readFileSync(path.join(out, 'a.tar.gz')) };
  }

  const mib = (bytes: number) => `${(bytes / MiB).toFixed(1)} MiB`;

  test('an artifact larger than one 16 MiB part goes up in parts and arrives byte for byte; piped: a line at the start and one at the end', async () => {
    const { dir, release, tarball } = await largeApp(20 * MiB);
    const { sim, deps } = setup();
    const run = await runHerd(['deploy', 'staging', dir, '--detach'], deps);
    expect(run.err).toBe('');
    expect(run.code).toBe(3);
    const key = `${sim.bucket}/releases/${release}.tar.gz`;
    expect(sim.objects.get(key)?.equals(tarball)).toBe(true);
    expect(sim.s3Calls[0]).toBe('HeadObject');
    expect(sim.s3Calls[1]).toBe('CreateMultipartUpload');
    expect(sim.s3Calls.slice(2, 4).sort()).toEqual(['UploadPart 1', 'UploadPart 2']);
    expect(sim.s3Calls.slice(4)).toEqual(['CompleteMultipartUpload']);
    expect(sim.uploads.size).toBe(0);
    expect(run.out.split('\n').slice(0, 3)).toEqual([
      `packed 4 files, ${mib(tarball.length)} (20.0 MiB before compression)`,
      `uploading s3://${key} (${mib(tarball.length)})`,
      `uploaded s3://${key} (${mib(tarball.length)} in 0s)`,
    ]);
    expect(run.out).not.toMatch(/[\r\u001b]/);
    // The deploy starts on the uploaded release.
    expect([...sim.executions.values()][0]?.input).toMatchObject({ release });
  });

  test('on a terminal the upload shows bytes sent, total and percentage, redrawn in place, then one line kept', async () => {
    const { dir, release, tarball } = await largeApp(20 * MiB);
    const { sim } = setup();
    const out = new Collector(true);
    const deps = { ...testDeps({ clients: () => sim.clients(), now: () => sim.world.clock.now(), sleep: () => sim.sleep() }), out, isTTY: true };
    const run = await runHerd(['deploy', 'staging', dir, '--detach'], deps);
    expect(run.err).toBe('');
    expect(run.code).toBe(3);
    const key = `${sim.bucket}/releases/${release}.tar.gz`;
    expect(sim.objects.get(key)?.equals(tarball)).toBe(true);
    const total = mib(tarball.length);
    // A partial state was drawn: one part of the two sent, with its share of the total.
    const partial = [...out.text.matchAll(new RegExp(`uploading s3://${key} · (\\d+\\.\\d) MiB / ${total.replace('.', '\\.')} · (\\d+)%`, 'g'))];
    expect(partial.length).toBeGreaterThanOrEqual(2);
    expect(partial.map((m) => Number(m[2]))).toContain(0);
    expect(partial.some((m) => Number(m[2]) > 0 && Number(m[2]) < 100)).toBe(true);
    // Redrawn in place (the line cleared between frames), kept once when done.
    expect(out.text).toContain('\u001b[2K');
    expect(out.text.split(`✔ uploaded s3://${key} (${total} in 0s)\n`)).toHaveLength(2);
    expect(out.text).toMatch(/deploy \S+ started on staging/);
  });

  test('parts as small as S3 allows (5 MiB) when asked: three parts, the last one short', async () => {
    const { ensureArtifact } = await import('../../lib/cli/artifact');
    const { release, tarball } = await largeApp(11 * MiB);
    const { sim } = setup();
    const file = path.join(mkdtempSync(path.join(tmpdir(), 'herd-tarball-')), `${release}.tar.gz`);
    cleanup.push(path.dirname(file));
    writeFileSync(file, tarball);
    const out = new Collector();
    const uploaded = await ensureArtifact(
      { out, isTTY: false, now: () => 0, onInterrupt: () => () => undefined },
      sim.clients(),
      sim.bucket,
      { release, key: `releases/${release}.tar.gz`, tarball: file, cleanup: () => undefined },
      { partSize: S3_LIMITS.minPartBytes },
    );
    expect(uploaded).toBe(true);
    expect(sim.s3Calls.filter((c) => c.startsWith('UploadPart')).sort()).toEqual(['UploadPart 1', 'UploadPart 2', 'UploadPart 3']);
    expect(sim.objects.get(`${sim.bucket}/releases/${release}.tar.gz`)?.equals(tarball)).toBe(true);
  });

  test('a part that fails for good fails the command with the error; the multipart upload is aborted, nothing starts', async () => {
    const { dir, release } = await largeApp(20 * MiB);
    const { sim } = setup();
    sim.onS3 = (api, partNumber) => {
      if (api === 'UploadPart' && partNumber === 2) throw new FakeAwsError('AccessDenied', 'Access Denied', 403);
    };
    const out = new Collector(true);
    const deps = { ...testDeps({ clients: () => sim.clients(), now: () => sim.world.clock.now(), sleep: () => sim.sleep() }), out, isTTY: true };
    const run = await runHerd(['deploy', 'staging', dir], deps);
    expect(run.code).toBe(1);
    // In the operator's words: what AWS refused, the policy command for this environment, the README section.
    expect(run.err).toBe(
      `herd: AWS denied a call to your identity (AccessDenied, profile ${process.env.AWS_PROFILE || 'default'}): the operator's IAM policy is missing or out of date. ` +
        'Print it with `npx herd iam-policy staging` and attach it to your role, group or permission set (README, "The operator\'s IAM policy"); then run the command again\n',
    );
    expect(sim.s3Calls).toContain('AbortMultipartUpload');
    expect(sim.uploads.size).toBe(0);
    expect(sim.objects.has(`${sim.bucket}/releases/${release}.tar.gz`)).toBe(false);
    expect(sim.executions.size).toBe(0);
    expect(out.text).not.toContain('✔ uploaded');
  });

  test('Ctrl-C during the upload aborts the multipart upload: no parts left, nothing started', async () => {
    const { dir, release } = await largeApp(20 * MiB);
    const { sim, deps } = setup();
    sim.onS3 = (api, partNumber) => {
      if (api === 'UploadPart' && partNumber === 1) deps.interrupt();
    };
    const run = await runHerd(['deploy', 'staging', dir], deps);
    expect(run.code).toBe(1);
    expect(run.err).toBe(`herd: upload of s3://${sim.bucket}/releases/${release}.tar.gz interrupted (Ctrl-C): the multipart upload was aborted and nothing was started\n`);
    expect(sim.s3Calls).toContain('AbortMultipartUpload');
    expect(sim.uploads.size).toBe(0);
    expect(sim.objects.has(`${sim.bucket}/releases/${release}.tar.gz`)).toBe(false);
    expect(sim.executions.size).toBe(0);
  });

  test('any size up to S3\'s 5 TiB fits in 10,000 parts; larger is refused before anything is sent', async () => {
    const { uploadPlan } = await import('../../lib/cli/artifact');
    expect(uploadPlan(1000)).toEqual({ partSize: 16 * MiB, queueSize: 4, parts: 1 });
    expect(uploadPlan(20 * MiB)).toEqual({ partSize: 16 * MiB, queueSize: 4, parts: 2 });
    expect(uploadPlan(10_000 * 16 * MiB).parts).toBe(10_000);
    const tiB = 1024 ** 4;
    const largest = uploadPlan(5 * tiB);
    expect(largest.parts).toBeLessThanOrEqual(10_000);
    expect(largest.partSize * largest.parts).toBeGreaterThanOrEqual(5 * tiB);
    expect(largest.partSize % MiB).toBe(0);
    expect(largest.partSize).toBeLessThanOrEqual(5 * 1024 ** 3);
    expect(largest.queueSize).toBe(1); // ~525 MiB parts: one in memory at a time
    expect(() => uploadPlan(5 * tiB + 1)).toThrow('the artifact is 5.0 TiB: larger than S3\'s largest object (5 TiB)');
    expect(() => uploadPlan(100, { partSize: MiB })).toThrow('upload part size 1048576 is outside what S3 accepts (5 MiB to 5 GiB)');
  });

  test('the simulated S3 is as strict as S3 about completing a multipart upload', async () => {
    const { sim } = setup();
    const s3 = sim.clients().s3;
    const Bucket = sim.bucket;
    const Key = 'releases/x.tar.gz';
    const create = async () => (await s3.send(new CreateMultipartUploadCommand({ Bucket, Key }))).UploadId ?? '';
    const part = async (UploadId: string, PartNumber: number, bytes: number) =>
      (await s3.send(new UploadPartCommand({ Bucket, Key, UploadId, PartNumber, Body: Buffer.alloc(bytes, PartNumber) }))).ETag ?? '';
    const complete = (UploadId: string, Parts: { PartNumber: number; ETag: string }[]) =>
      s3.send(new CompleteMultipartUploadCommand({ Bucket, Key, UploadId, MultipartUpload: { Parts } }));
    const failure = (promise: Promise<unknown>) => promise.then(() => 'completed', (err: Error) => err.name);

    const id = await create();
    const e1 = await part(id, 1, 5 * MiB);
    const e2 = await part(id, 2, 5 * MiB);
    const e3 = await part(id, 3, 10);
    expect(await failure(complete(id, [{ PartNumber: 1, ETag: e1 }, { PartNumber: 3, ETag: e3 }, { PartNumber: 4, ETag: e3 }]))).toBe('InvalidPart');
    expect(await failure(complete(id, [{ PartNumber: 1, ETag: e1 }, { PartNumber: 2, ETag: e1 }]))).toBe('InvalidPart');
    expect(await failure(complete(id, [{ PartNumber: 2, ETag: e2 }, { PartNumber: 1, ETag: e1 }]))).toBe('InvalidPartOrder');
    expect(await failure(complete(id, [{ PartNumber: 3, ETag: e3 }, { PartNumber: 1, ETag: e1 }]))).toBe('InvalidPartOrder');
    expect(await failure(complete(id, [{ PartNumber: 1, ETag: e1 }, { PartNumber: 3, ETag: e3 }, { PartNumber: 2, ETag: e2 }]))).toBe('InvalidPartOrder');
    const small = await create();
    const s1 = await part(small, 1, 5 * MiB - 1);
    const s2 = await part(small, 2, 10);
    expect(await failure(complete(small, [{ PartNumber: 1, ETag: s1 }, { PartNumber: 2, ETag: s2 }]))).toBe('EntityTooSmall');
    expect(sim.objects.size).toBe(0);
    // Parts listed may skip numbers; the object is those parts in order.
    const done = await complete(id, [{ PartNumber: 1, ETag: e1 }, { PartNumber: 3, ETag: e3 }]);
    expect(done.ETag).toMatch(/^"[0-9a-f]{32}-2"$/);
    expect(sim.objects.get(`${Bucket}/${Key}`)?.equals(Buffer.concat([Buffer.alloc(5 * MiB, 1), Buffer.alloc(10, 3)]))).toBe(true);
    expect(await failure(complete(id, [{ PartNumber: 1, ETag: e1 }]))).toBe('NoSuchUpload');
    await s3.send(new AbortMultipartUploadCommand({ Bucket, Key, UploadId: small }));
    expect(await failure(part(small, 1, 10))).toBe('NoSuchUpload');
    expect(await failure(s3.send(new PutObjectCommand({ Bucket, Key: 'releases/k.tar.gz', Body: 'x' })))).toBe('completed');
  });
});

/** Fresh output collectors on the same simulated environment, for a second command. */
const again = (sim: SimulatedEnvironment) => testDeps({ clients: () => sim.clients(), now: () => sim.world.clock.now(), sleep: () => sim.sleep() });

describe('an execution Step Functions does not show yet, or that died', () => {
  test('herd deploy follows an execution DescribeExecution does not know yet for its first 20 s', async () => {
    const { sim, deps } = setup();
    sim.executionLagSeconds = 20;
    const run = await runHerd(['deploy', 'staging', appDirectory()], deps);
    expect(run.err).toBe('');
    expect(run.code).toBe(0);
    expect(run.out).toMatch(/^starting · elapsed \d+s · ETA ~\d+m\d+s$/m);
    expect(run.out).toMatch(/serves on staging/);
  });

  test('herd deploy whose execution Step Functions never shows says so once the grace is over', async () => {
    const { sim, deps } = setup();
    sim.executionLagSeconds = 3600;
    const watch = await runHerd(['deploy', 'staging', appDirectory()], deps);
    expect(watch.out).toMatch(/^starting · elapsed \d+s · ETA ~\d+m\d+s$/m);
    expect(watch.code).toBe(2);
    expect(watch.err).toMatch(/^herd: Step Functions does not know deploy \S+ on staging; see `herd history staging`\n$/);
  });

  test('stopped by hand mid-rollout: herd watch says so, follows the reaper\'s resume, and ends with the rollback; status and unlock see the resume', async () => {
    const { sim, deps } = setup();
    await runHerd(['deploy', 'staging', appDirectory(), '--detach'], deps);
    const [first] = [...sim.executions.values()];
    for (let i = 0; i < 200 && !sim.world.cloud.groups.get('herd-staging-web')?.refreshes.some((r) => r.status === 'InProgress' && r.percentage > 0); i++) await sim.run(10);
    await sim.kill(first!.name, 'ABORTED');
    expect(sim.reaped).toEqual(['resumed']);
    await sim.run(2);

    const status = await runHerd(['status', 'staging', '--json'], again(sim));
    expect(JSON.parse(status.out).lock).toMatchObject({ status: 'RUNNING (resumed by the reaper after its execution ended ABORTED)', phase: 'compensate' });
    const unlock = await runHerd(['unlock', 'staging', '--deploy', first!.name], again(sim));
    expect(unlock.code).toBe(2);
    expect(unlock.err).toMatch(/is still running on staging; its lock ends with it/);

    const watch = await runHerd(['watch', 'staging'], again(sim));
    expect(watch.out).toContain(`▲ execution ${first!.name} ended ABORTED; resumed by the reaper\n`);
    expect(watch.out).toMatch(/^✖ rollout {9}\d+m\d+s \(estimate ~\S+\) — failed$/m);
    expect(watch.code).toBe(1);
    expect(watch.err).toMatch(new RegExp(`^herd: deploy ${first!.name} failed in rollout: execution ${first!.name} ended ABORTED; rolled back; release r1 keeps serving\\n$`));
    expect(currentRelease(sim)).toBe('r1');
    expect(sim.world.cloud.table.has('LOCK\u0000LOCK')).toBe(false);
  });
});
