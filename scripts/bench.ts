/**
 * herd's benchmark, printed as one table, measured in one run. Not a test: nothing here
 * fails on a slow machine; it reports.
 *
 *   npm run bench             synth of every environment, the jest suite, the deploy
 *                             Lambda's bundle (size, module load time), modelled deploys
 *                             of 2, 10 and 100 web servers (herd rolling and full) and the
 *                             anchors (Fabulaws, the seed's Fabric deploy) with herd ÷ each
 *   npm run bench -- --quick  the same without the jest suite
 *
 * The modelled rows run the deploy step's real logic against the fake cloud (`herd plan`'s
 * model, lib/plan/) with DEFAULT_TIMINGS and the production profile's deploy settings; the
 * anchors (lib/plan/anchors.ts) take the same timing parameters plus the seed's Fabric
 * step times.
 */
import { spawnSync } from 'child_process';
import * as esbuild from 'esbuild';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { profileDefaults } from '../lib/config/defaults';
import { SEED_FABRIC_STEPS, anchorsFor, type AnchorResult, type AnchorTimings } from '../lib/plan/anchors';
import { planDeploy, rollingBreakdown, type DeployPlan } from '../lib/plan/model';
import { DEFAULT_TIMINGS, timingValues } from '../lib/plan/timings';

// herd pins its SDK (package-lock.json): the SDK's notice that its future releases need
// Node 22 says nothing about this run (bin/herd.js and jest.config.js do the same).
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const ROOT = path.join(__dirname, '..');

const COLUMNS = [
  ['measure', 'measure'],
  ['web', 'web'],
  ['value', 'value / duration'],
  ['down', 'no healthy target'],
  ['skew', 'code/schema skew'],
  ['maintenance', 'maintenance'],
  ['minHealthy', 'min healthy'],
  ['calls', 'AWS calls'],
  ['rolling', 'herd rolling ÷'],
  ['full', 'herd full ÷'],
  ['note', 'target / note'],
] as const;

type Key = (typeof COLUMNS)[number][0];
type Row = Partial<Record<Key, string>> & { readonly measure: string };

function timed(command: string, args: string[], env: NodeJS.ProcessEnv = {}): { seconds: number; ok: boolean; output: string } {
  const start = process.hrtime.bigint();
  const run = spawnSync(command, args, { cwd: ROOT, encoding: 'utf8', env: { ...process.env, ...env }, maxBuffer: 64 * 1024 * 1024 });
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  return { seconds, ok: run.status === 0, output: `${run.stdout}\n${run.stderr}` };
}

function table(rows: readonly Row[]): string {
  const keys = COLUMNS.map(([k]) => k);
  const headers: Record<Key, string> = Object.fromEntries(COLUMNS.map(([k, h]) => [k, h])) as Record<Key, string>;
  const cell = (r: Partial<Record<Key, string>>, k: Key) => r[k] ?? '';
  const widths = keys.map((k) => Math.max(...[headers, ...rows].map((r) => cell(r, k).length)));
  const line = (r: Partial<Record<Key, string>>) => `| ${keys.map((k, i) => cell(r, k).padEnd(widths[i] ?? 0)).join(' | ')} |`;
  return [line(headers), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.map(line)].join('\n');
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? (sorted[mid] ?? 0) : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
}

const s = (seconds: number) => `${Math.round(seconds)} s`;
const ratio = (a: number, b: number) => (b === 0 ? '-' : `×${(a / b).toFixed(2)}`);

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

const FLEETS = [2, 10, 100] as const;

async function modelRows(): Promise<Row[]> {
  const deploy = profileDefaults('production', 'bench').deploy;
  const values = timingValues(DEFAULT_TIMINGS);
  const anchorTimings: AnchorTimings = { cloud: values, fabric: SEED_FABRIC_STEPS, fabulawsSleepSeconds: 45, pollSeconds: 10 };
  const rows: Row[] = [];
  for (const n of FLEETS) {
    const plans: Record<'rolling' | 'full', DeployPlan> = {
      rolling: await planDeploy({ fleets: { web: { desired: n, min: n, max: 2 * n }, worker: { desired: 1, min: 1, max: 2 } }, deploy, strategy: 'rolling', imageExists: false, releaseCommand: true }),
      full: await planDeploy({ fleets: { web: { desired: n, min: n, max: 2 * n }, worker: { desired: 1, min: 1, max: 2 } }, deploy, strategy: 'full', imageExists: false, releaseCommand: true }),
    };
    for (const strategy of ['rolling', 'full'] as const) {
      const p = plans[strategy];
      rows.push({
        measure: `herd ${strategy} (modelled: real deploy step, fake cloud)`,
        web: String(n),
        value: s(p.totalSeconds),
        down: s(p.downtimeSeconds),
        skew: s(p.skewSeconds),
        maintenance: s(p.maintenanceWindowSeconds),
        minHealthy: `${p.minHealthyPercent} %`,
        calls: String(p.awsCallsTotal),
        note: `${p.outcome}; bake ${p.bakes ? 'yes' : 'no'}, migrate ${p.migrationOrder}; ${p.timeline.filter((e) => e.kind === 'batch' && e.role === 'web').length} web batch(es)${strategy === 'rolling' && deploy.rolling.parallelRoles ? ', web and worker refreshed in parallel' : ''}${strategy === 'full' ? `; ${fullWindow(p)}` : ''}`,
      });
      if (strategy === 'rolling') rows.push(...phaseRows(p));
    }
    // The issue's measure: migrations behind the page. The new fleet boots before it goes up,
    // so the window is the migration (and its snapshot) and the switch, whatever the fleet size.
    const inWindow = await planDeploy({ fleets: { web: { desired: n, min: n, max: 2 * n }, worker: { desired: 1, min: 1, max: 2 } }, deploy, strategy: 'full', migrationOrder: 'maintenance', imageExists: false, releaseCommand: true });
    rows.push({
      measure: '  herd full, migrations behind the page (migrationOrder maintenance)',
      web: String(n),
      value: s(inWindow.totalSeconds),
      down: s(inWindow.downtimeSeconds),
      skew: s(inWindow.skewSeconds),
      maintenance: s(inWindow.maintenanceWindowSeconds),
      minHealthy: `${inWindow.minHealthyPercent} %`,
      calls: String(inWindow.awsCallsTotal),
      note: `${inWindow.outcome}; ${fullWindow(inWindow)}`,
    });
    // Production's max healthy 150 % rolls 10 web servers in two batches; 200 % (the small
    // profile's) launches the whole new fleet at once: one batch, twice the instances meanwhile.
    const oneBatch = await planDeploy({
      fleets: { web: { desired: n, min: n, max: 2 * n }, worker: { desired: 1, min: 1, max: 2 } },
      deploy: { ...deploy, rolling: { ...deploy.rolling, maxHealthyPercentage: 200 } },
      strategy: 'rolling',
      imageExists: false,
      releaseCommand: true,
    });
    rows.push({
      measure: '  herd rolling at max healthy 200 % (one batch)',
      web: String(n),
      value: s(oneBatch.totalSeconds),
      down: s(oneBatch.downtimeSeconds),
      minHealthy: `${oneBatch.minHealthyPercent} %`,
      calls: String(oneBatch.awsCallsTotal),
      note: `rollout ${s(rollingBreakdown(oneBatch).rollout)} (150 %: ${s(rollingBreakdown(plans.rolling).rollout)}); up to ${2 * n} web instances during the refresh`,
    });
    for (const a of anchorsFor(n, anchorTimings)) rows.push(anchorRow(a, plans));
  }
  return rows;
}

/**
 * Where a `full` deploy's window goes: the migrate phase (snapshot and runner) when it runs
 * behind the page (order `maintenance` or `after`), and the rest: the switch (the new fleet
 * booted before the page went up).
 */
function fullWindow(p: DeployPlan): string {
  const inside = p.migrationOrder === 'maintenance' || p.migrationOrder === 'after';
  const migrate = inside ? p.phases.filter((ph) => ph.phase === 'migrate').reduce((n, ph) => n + ph.end - ph.start, 0) : 0;
  const rest = s(Math.max(0, p.maintenanceWindowSeconds - migrate));
  return inside ? `window = migrate ${s(migrate)} (snapshot and runner) + ${rest}` : `window = ${rest}: the switch (migrations ${p.migrationOrder} the page)`;
}

/** The rolling row's time by phase (`rollingBreakdown`): what holds the deploy, one row each. */
function phaseRows(p: DeployPlan): Row[] {
  const b = rollingBreakdown(p);
  const share = (v: number) => (p.totalSeconds === 0 ? '' : `${Math.round((100 * v) / p.totalSeconds)} % of the rolling row`);
  const rows: [string, number][] = [
    ['bake (builder, image)', b.bake],
    ['snapshot (before migrate)', b.snapshot],
    ['migrate (runner)', b.migrate],
    ['rollout (web and worker refreshes, floors)', b.rollout],
    ['verify (targets, alarm watch)', b.verify],
    ['other (lock, launch template, record)', b.other],
  ];
  return rows.map(([label, v]) => ({ measure: `  ↳ ${label}`, web: String(p.fleets.web), value: s(v), note: share(v) }));
}

function anchorRow(a: AnchorResult, plans: Record<'rolling' | 'full', DeployPlan>): Row {
  const note =
    a.skewPerServer && a.skewPerServer.length > 1 && a.skewPerServer[0] !== a.skewPerServer[a.skewPerServer.length - 1]
      ? `skew per server ${a.skewPerServer.slice(0, 4).join(', ')}${a.skewPerServer.length > 4 ? ', …' : ''} s`
      : a.tool.startsWith('Fabric')
        ? 'SSH only; no image'
        : 'same bake timings as herd';
  return {
    measure: `anchor: ${a.tool}`,
    web: String(a.servers),
    value: s(a.totalSeconds),
    down: s(a.noHealthyTargetSeconds),
    skew: s(a.skewSeconds),
    maintenance: s(a.maintenanceWindowSeconds),
    minHealthy: `${a.minHealthyPercent} %`,
    calls: String(a.awsCalls),
    rolling: ratio(plans.rolling.totalSeconds, a.totalSeconds),
    full: ratio(plans.full.totalSeconds, a.totalSeconds),
    note,
  };
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
    rows.push({ measure: `cdk synth, all environments (${stacks} stacks, with bundling, cdk-nag and cfn-guard)`, value: `${synth.seconds.toFixed(1)} s`, note: `<= 15 s; ${synth.ok ? 'ok' : 'FAILED'}` });
  } finally {
    fs.rmSync(outdir, { recursive: true, force: true });
  }
  if (!quick) {
    const jest = path.join(ROOT, 'node_modules', '.bin', 'jest');
    const tests = timed(jest, ['--ci', '--maxWorkers=2', '--silent']);
    const summary = /Tests:\s+(.*)/.exec(tests.output)?.[1] ?? 'no summary';
    rows.push({ measure: 'jest, whole suite (2 workers)', value: `${tests.seconds.toFixed(1)} s`, note: `<= 180 s; ${tests.ok ? 'ok' : 'FAILED'}: ${summary}` });
  }
  rows.push(...(await bundleRows()));
  const modelStart = process.hrtime.bigint();
  const modelled = await modelRows();
  const modelSeconds = Number(process.hrtime.bigint() - modelStart) / 1e9;
  rows.push(...modelled);
  const total = Number(process.hrtime.bigint() - started) / 1e9;
  const t = DEFAULT_TIMINGS;
  const f = SEED_FABRIC_STEPS;
  process.stdout.write(
    [
      `herd benchmark on ${os.cpus().length} cores, Node ${process.version}; whole run ${total.toFixed(1)} s (models ${modelSeconds.toFixed(1)} s)`,
      '',
      table(rows),
      '',
      `Timing parameters (lib/plan/timings.ts DEFAULT_TIMINGS): boot ${t.bootSeconds.value} s, app start ${t.appStartSeconds.value} s, bake ${t.bakeSeconds.value} s, ` +
        `image ${t.imageSeconds.value} s, migration ${t.migrationSeconds.value} s, DB snapshot ${t.dbSnapshotSeconds.value} s, health check ${t.healthCheckIntervalSeconds.value} s ` +
        `(new target: ${t.initialHealthyChecks.value} pass), deregistration delay ${t.deregistrationDelaySeconds.value} s; production deploy settings (max healthy 150 %, warmup 60 s, backup before migrate, web and worker refreshed in parallel); 1 worker.`,
      `Anchors (lib/plan/anchors.ts): Fabric steps ${f.deployCode}/${f.installRequirements}/${f.backupDb}/${f.migrate}/${f.collectstatic}/${f.switchRelease}/${f.reload} s (code/requirements/backup/migrate/collectstatic/switch/reload), Fabulaws sleep 45 s, wait loops poll every 10 s.`,
      'no healthy target: outside a maintenance window; code/schema skew: the seed\'s "potential downtime" (migration started while old code serves, or new code before it finished).',
      'herd ÷: herd\'s modelled duration over the anchor\'s, same fleet, same timing parameters (herd includes its bake; the Fabric anchors bake nothing).',
      '',
    ].join('\n'),
  );
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});
