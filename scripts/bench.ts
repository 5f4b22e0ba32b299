/**
 * herd's benchmark, printed as one table, measured in one run. Not a test: nothing here
 * fails on a slow machine; it reports.
 *
 *   npm run bench             synth of every environment, the jest suite, the deploy
 *                             Lambda's bundle (size, module load time), the real bake
 *                             script on examples/mootube (root only), modelled deploys of
 *                             2, 10 and 100 web servers (herd rolling with a new image and
 *                             with the image baked, full; each by phase), the lower bound,
 *                             and the anchors (Fabulaws, the seed's Fabric deploy) with
 *                             herd ÷ each (lib/plan/benchmark.ts)
 *   npm run bench -- --quick  the same without the jest suite
 *
 * The modelled rows run the deploy step's real logic against the fake cloud (`herd plan`'s
 * model, lib/plan/) with DEFAULT_TIMINGS and the production profile's deploy settings; the
 * anchors (lib/plan/anchors.ts) take the same timing parameters plus the seed's Fabric
 * step times.
 */
import { spawn, spawnSync } from 'child_process';
import * as esbuild from 'esbuild';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { SEED_FABRIC_STEPS } from '../lib/plan/anchors';
import { benchModel, benchTable, type BenchRow as Row } from '../lib/plan/benchmark';
import { DEFAULT_TIMINGS } from '../lib/plan/timings';

// herd pins its SDK (package-lock.json): the SDK's notice that its future releases need
// Node 22 says nothing about this run (bin/herd.js and jest.config.js do the same).
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const ROOT = path.join(__dirname, '..');

function timed(command: string, args: string[], env: NodeJS.ProcessEnv = {}): { seconds: number; ok: boolean; output: string } {
  const start = process.hrtime.bigint();
  const run = spawnSync(command, args, { cwd: ROOT, encoding: 'utf8', env: { ...process.env, ...env }, maxBuffer: 64 * 1024 * 1024 });
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  return { seconds, ok: run.status === 0, output: `${run.stdout}\n${run.stderr}` };
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? (sorted[mid] ?? 0) : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
}

/** The deploy Lambda as the CDK bundles it (lib/bundled-function.ts): esbuild, minified, SDK inside. */
async function bundleRows(): Promise<Row[]> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'herd-bench-bundle-'));
  try {
    const outfile = path.join(dir, 'index.js');
    const start = process.hrtime.bigint();
    await esbuild.build({
      entryPoints: [path.join(ROOT, 'lambda', 'deploy', 'handler.ts')],
      bundle: true,
      minify: true,
      sourcemap: true,
      platform: 'node',
      format: 'cjs',
      target: 'node24',
      outfile,
      logLevel: 'silent',
    });
    const buildSeconds = Number(process.hrtime.bigint() - start) / 1e9;
    const bytes = fs.statSync(outfile).size;
    const probe = `const t=process.hrtime.bigint();require(${JSON.stringify(outfile)});process.stdout.write(String(Number(process.hrtime.bigint()-t)/1e6))`;
    const loads: number[] = [];
    for (let i = 0; i < 7; i++) {
      const run = spawnSync(process.execPath, ['-e', probe], { encoding: 'utf8', env: { ...process.env, NODE_NO_WARNINGS: '1' } });
      const ms = Number(run.stdout);
      if (run.status === 0 && Number.isFinite(ms)) loads.push(ms);
    }
    return [
      { measure: 'deploy Lambda bundle (esbuild, minified, SDK clients inside)', value: `${(bytes / 1024).toFixed(0)} KiB`, note: `built in ${buildSeconds.toFixed(1)} s` },
      {
        measure: 'deploy Lambda module load (require in a fresh node)',
        value: loads.length ? `${median(loads).toFixed(0)} ms` : 'FAILED',
        note: `median of ${loads.length}, Node ${process.version}`,
      },
    ];
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * The real bake script (instance/bake.sh) on examples/mootube, into a scratch root: the release
 * installed, `herd/build` run as the app user (a venv from PyPI, collectstatic, bytecode), units
 * written. Measured, not modelled: the bake's own share of the modelled `bakeSeconds`, which
 * adds the builder's boot, the CloudWatch agent's install (already "installed" in the scratch
 * root here) and powering off. Needs root (bake.sh creates the app user) and PyPI.
 */
async function realBakeRow(): Promise<Row> {
  const measure = 'real bake.sh of examples/mootube on a scratch root (herd/build included)';
  if (process.getuid?.() !== 0) return { measure, value: 'skipped', note: 'needs root: bake.sh creates the app user' };
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'herd-bench-root-'));
  try {
    fs.chmodSync(root, 0o755);
    fs.mkdirSync(path.join(root, 'etc'));
    fs.writeFileSync(path.join(root, 'etc', 'passwd'), 'root:x:0:0:root:/root:/bin/bash\n');
    fs.writeFileSync(path.join(root, 'etc', 'group'), 'root:x:0:\n');
    fs.writeFileSync(path.join(root, 'etc', 'shadow'), 'root:*:19000:0:99999:7:::\n', { mode: 0o640 });
    fs.writeFileSync(path.join(root, 'etc', 'gshadow'), 'root:*::\n', { mode: 0o640 });
    // The agent is a package of the AMI's repository, absent here: bake.sh skips its install when present.
    const ctl = path.join(root, 'opt', 'aws', 'amazon-cloudwatch-agent', 'bin', 'amazon-cloudwatch-agent-ctl');
    fs.mkdirSync(path.dirname(ctl), { recursive: true });
    fs.writeFileSync(ctl, '#!/bin/sh\n', { mode: 0o755 });
    const started = process.hrtime.bigint();
    const at = () => Number(process.hrtime.bigint() - started) / 1e9;
    const lines: { t: number; line: string }[] = [];
    const code = await new Promise<number | null>((resolve) => {
      const child = spawn(path.join(ROOT, 'instance', 'bake.sh'), ['--app', 'mootube', '--artifact', path.join(ROOT, 'examples', 'mootube'), '--label', 'bench', '--root', root], {
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      let rest = '';
      child.stderr.on('data', (chunk: Buffer) => {
        const parts = (rest + chunk.toString('utf8')).split('\n');
        rest = parts.pop() ?? '';
        for (const line of parts) lines.push({ t: at(), line });
      });
      child.on('close', resolve);
    });
    const total = at();
    if (code !== 0) return { measure, value: 'FAILED', note: `exit ${code}: ${lines.slice(-3).map((l) => l.line).join(' / ')}` };
    const build = lines.findIndex((l) => l.line.includes('running herd/build'));
    const after = build >= 0 ? lines.slice(build + 1).find((l) => l.line.startsWith('herd bake:')) : undefined;
    const buildSeconds = build >= 0 ? (after?.t ?? total) - (lines[build]?.t ?? 0) : undefined;
    return {
      measure,
      value: `${total.toFixed(1)} s`,
      note: `herd/build ${buildSeconds === undefined ? '?' : `${buildSeconds.toFixed(1)} s`} (pip from PyPI, no cache); modelled release bake ${DEFAULT_TIMINGS.bakeSeconds.value} s (on a base image: no agent install) adds the builder's boot and power-off`,
    };
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const quick = process.argv.includes('--quick');
  const started = process.hrtime.bigint();
  const rows: Row[] = [];
  const outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'herd-bench-'));
  try {
    const cdk = path.join(ROOT, 'node_modules', '.bin', 'cdk');
    const synth = timed(cdk, ['synth', '--quiet', '--output', outdir]);
    const stacks = fs.readdirSync(outdir).filter((f) => f.endsWith('.template.json')).length;
    rows.push({ measure: `cdk synth, all environments (${stacks} stacks, with bundling, cdk-nag and cfn-guard)`, value: `${synth.seconds.toFixed(1)} s`, note: synth.ok ? 'ok (a cdk-nag or cfn-guard finding fails it)' : 'FAILED' });
  } finally {
    fs.rmSync(outdir, { recursive: true, force: true });
  }
  if (!quick) {
    const jest = path.join(ROOT, 'node_modules', '.bin', 'jest');
    const tests = timed(jest, ['--ci', '--maxWorkers=2', '--silent']);
    const summary = /Tests:\s+(.*)/.exec(tests.output)?.[1] ?? 'no summary';
    rows.push({ measure: 'jest, whole suite (2 workers)', value: `${tests.seconds.toFixed(1)} s`, note: `<= 240 s; ${tests.ok ? 'ok' : 'FAILED'}: ${summary}` });
  }
  rows.push(...(await bundleRows()));
  rows.push(await realBakeRow());
  const modelStart = process.hrtime.bigint();
  const modelled = await benchModel([2, 10, 100]);
  const modelSeconds = Number(process.hrtime.bigint() - modelStart) / 1e9;
  rows.push(...modelled.rows);
  const total = Number(process.hrtime.bigint() - started) / 1e9;
  const t = DEFAULT_TIMINGS;
  const f = SEED_FABRIC_STEPS;
  process.stdout.write(
    [
      `herd benchmark on ${os.cpus().length} cores, Node ${process.version}; whole run ${total.toFixed(1)} s (models ${modelSeconds.toFixed(1)} s)`,
      '',
      benchTable(rows),
      '',
      `Timing parameters (lib/plan/timings.ts DEFAULT_TIMINGS): boot ${t.bootSeconds.value} s, app start ${t.appStartSeconds.value} s, bake ${t.bakeSeconds.value} s on a base image (+ ${t.provisionSeconds.value} s setup and herd/provision for a base), ` +
        `image ${t.imageSeconds.value} s, migration ${t.migrationSeconds.value} s, DB snapshot ${t.dbSnapshotSeconds.value} s, health check ${t.healthCheckIntervalSeconds.value} s ` +
        `(new target: ${t.initialHealthyChecks.value} pass), deregistration delay ${t.deregistrationDelaySeconds.value} s; production deploy settings (max healthy 150 %, warmup 60 s, backup: point-in-time restore point + DB snapshot alongside the bake, web and worker refreshed in parallel); 1 worker.`,
      `Anchors (lib/plan/anchors.ts): Fabric steps ${f.deployCode}/${f.installRequirements}/${f.backupDb}/${f.migrate}/${f.collectstatic}/${f.switchRelease}/${f.reload} s (code/requirements/backup/migrate/collectstatic/switch/reload), Fabulaws sleep 45 s, wait loops poll every 10 s.`,
      'no healthy target: outside a maintenance window; code/schema skew: the seed\'s "potential downtime" (migration started while old code serves, or new code before it finished).',
      'herd ÷: herd\'s modelled duration over the anchor\'s (or the lower bound\'s), same fleet, same timing parameters (herd includes its bake; the Fabric anchors bake nothing). serving at: when the new release serves every request (before the alarm watch).',
      '',
    ].join('\n'),
  );
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});
