/**
 * The modelled part of `npm run bench`, shared with the README's generated benchmark block
 * (`scripts/readme.ts`): herd's deploys on the fake cloud (`planDeploy`) with the default
 * timings and the production profile's deploy settings, their time by phase, the lower bound
 * of an image-based zero-downtime deploy, and the anchors (the tools herd replaces, on the
 * same timing parameters) with herd ÷ each.
 */
import { profileDefaults } from '../config/defaults';
import type { DeployConfig } from '../config/types';
import type { FakeTimings } from '../simulation/fake-cloud';
import { SEED_FABRIC_STEPS, anchorsFor, instanceReadySeconds, type AnchorResult, type AnchorTimings } from './anchors';
import { planDeploy, rollingBreakdown, type DeployPlan } from './model';
import { DEFAULT_TIMINGS, timingValues } from './timings';

export const BENCH_COLUMNS = [
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

export type BenchKey = (typeof BENCH_COLUMNS)[number][0];
export type BenchRow = Partial<Record<BenchKey, string>> & { readonly measure: string };

/** What the deploys should reach on the default timings (10 web servers for the rolling rows). */
export const TARGETS = { rollingNewImage: 420, rollingImageBaked: 180, windowOverMigration: 10 } as const;

export const seconds = (v: number): string => `${Math.round(v)} s`;
const ratio = (a: number, b: number) => (b === 0 ? '-' : `×${(a / b).toFixed(2)}`);

/** A table with the given columns (all by default), padded for a terminal and valid Markdown. */
export function benchTable(rows: readonly BenchRow[], keys: readonly BenchKey[] = BENCH_COLUMNS.map(([k]) => k)): string {
  const headers = Object.fromEntries(BENCH_COLUMNS.map(([k, h]) => [k, h])) as Record<BenchKey, string>;
  const cell = (r: Partial<Record<BenchKey, string>>, k: BenchKey) => r[k] ?? '';
  const widths = keys.map((k) => Math.max(...[headers, ...rows].map((r) => cell(r, k).length)));
  const line = (r: Partial<Record<BenchKey, string>>) => `| ${keys.map((k, i) => cell(r, k).padEnd(widths[i] ?? 0)).join(' | ')} |`;
  return [line(headers), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.map(line)].join('\n');
}

/**
 * Seconds of a plan by phase (`rollingBreakdown`, with a `full` deploy's page, staging,
 * switch and settle counted as its rollout). They add up to the total.
 */
export function phaseBreakdown(plan: Pick<DeployPlan, 'stepSeconds' | 'totalSeconds'>): ReturnType<typeof rollingBreakdown> {
  const b = rollingBreakdown(plan);
  const full = Object.entries(plan.stepSeconds).filter(([step]) => /^(replace|maintenance|hold|stage|switch|settle)\./.test(step)).reduce((s, [, v]) => s + v, 0);
  return { ...b, rollout: b.rollout + full, other: b.other - full };
}

/**
 * The lower bound of an image-based, zero-downtime deploy: one instance boots, its app
 * starts and passes the load balancer's first health check (the whole new fleet can do so
 * at once), then the old instances drain; plus, when the image is new, its bake on the
 * base image (provisioning unchanged) and the image becoming available. No lock, migration, checkpoint or alarm watch.
 */
export function lowerBound(t: FakeTimings, newImage: boolean): { seconds: number; parts: string } {
  const ready = instanceReadySeconds(t);
  const drain = t.deregistrationDelaySeconds;
  const bake = newImage ? t.bakeSeconds + t.imageSeconds : 0;
  const parts = [
    ...(newImage ? [`release bake ${t.bakeSeconds} s + image ${t.imageSeconds} s`] : []),
    `boot ${t.bootSeconds} s + app start and first health check ${ready - t.bootSeconds} s`,
    `drain ${drain} s`,
  ].join(' + ');
  return { seconds: bake + ready + drain, parts };
}

/** When the new release serves every request: the end of the rollout (before verify's alarm watch). */
export function servingAt(plan: Pick<DeployPlan, 'phases'>): number {
  const rollout = plan.phases.filter((p) => p.phase === 'rollout');
  return rollout.length === 0 ? 0 : Math.max(...rollout.map((p) => p.end));
}

function fleets(n: number) {
  return { web: { desired: n, min: n, max: 2 * n }, worker: { desired: 1, min: 1, max: 2 } };
}

function planRow(strategy: 'rolling' | 'full', n: number, p: DeployPlan, label: string, note: string): BenchRow {
  return {
    measure: label,
    web: String(n),
    value: seconds(p.totalSeconds),
    down: seconds(p.downtimeSeconds),
    skew: seconds(p.skewSeconds),
    maintenance: seconds(p.maintenanceWindowSeconds),
    minHealthy: `${p.minHealthyPercent} %`,
    calls: String(p.awsCallsTotal),
    note: `${note}; serving at ${seconds(servingAt(p))}${strategy === 'full' ? '' : `; ${p.timeline.filter((e) => e.kind === 'batch' && e.role === 'web').length} web batch(es)`}`,
  };
}

/**
 * Where a `full` deploy's window goes: the migrate phase (runner, and a backup it waits for)
 * when it runs behind the page (order `maintenance` or `after`), and the rest: the switch to
 * the new fleet, booted before the page went up.
 */
export function fullWindow(p: Pick<DeployPlan, 'migrationOrder' | 'phases' | 'maintenanceWindowSeconds'>): string {
  const inside = p.migrationOrder === 'maintenance' || p.migrationOrder === 'after';
  const migrate = inside ? p.phases.filter((ph) => ph.phase === 'migrate').reduce((n, ph) => n + ph.end - ph.start, 0) : 0;
  const rest = seconds(Math.max(0, p.maintenanceWindowSeconds - migrate));
  return inside ? `window = migrate ${seconds(migrate)} + ${rest}` : `window = ${rest}: the switch (migrations ${p.migrationOrder} the page)`;
}

/** One row per phase of `p` (what holds the deploy). */
export function phaseRows(p: DeployPlan): BenchRow[] {
  const b = phaseBreakdown(p);
  const share = (v: number) => (p.totalSeconds === 0 ? '' : `${Math.round((100 * v) / p.totalSeconds)} %`);
  const rows: [string, number][] = [
    ['bake (builder, image)', b.bake],
    ['backup (restore point, snapshot waits)', b.snapshot],
    ['migrate (runner)', b.migrate],
    [p.strategy === 'full' ? 'rollout (page, new fleet, switch, page off)' : 'rollout (web and worker refreshes)', b.rollout],
    ['verify (targets, alarm watch)', b.verify],
    ['other (lock, launch template, record)', b.other],
  ];
  return rows.filter(([, v]) => v > 0).map(([label, v]) => ({ measure: `  ↳ ${label}`, web: String(p.fleets.web), value: seconds(v), note: share(v) }));
}

export interface BenchModel {
  readonly deploy: DeployConfig;
  readonly timings: FakeTimings;
  readonly rows: BenchRow[];
  /** The modelled plans by fleet size. */
  readonly plans: ReadonlyMap<number, { readonly rolling: DeployPlan; readonly baked: DeployPlan; readonly full: DeployPlan }>;
}

/**
 * The modelled rows for the given fleet sizes: herd rolling (new image, and image already
 * baked) and full, each with its phases; rolling in one batch; the lower bound; the anchors
 * with herd ÷ each.
 */
export async function benchModel(fleetSizes: readonly number[], options: { phases?: boolean; oneBatch?: boolean } = {}): Promise<BenchModel> {
  const deploy = profileDefaults('production', 'bench').deploy;
  const timings = timingValues(DEFAULT_TIMINGS);
  const anchorTimings: AnchorTimings = { cloud: timings, fabric: SEED_FABRIC_STEPS, fabulawsSleepSeconds: 45, pollSeconds: 10 };
  const rows: BenchRow[] = [];
  const plans = new Map<number, { rolling: DeployPlan; baked: DeployPlan; full: DeployPlan }>();
  const lbNew = lowerBound(timings, true);
  const lbBaked = lowerBound(timings, false);
  for (const n of fleetSizes) {
    const plan = (strategy: 'rolling' | 'full', imageExists: boolean, d: DeployConfig = deploy) =>
      planDeploy({ fleets: fleets(n), deploy: d, strategy, imageExists, releaseCommand: true });
    const rolling = await plan('rolling', false);
    const baked = await plan('rolling', true);
    const full = await plan('full', false);
    plans.set(n, { rolling, baked, full });
    const parallel = deploy.rolling.parallelRoles ? ', web and worker in parallel' : '';
    rows.push(planRow('rolling', n, rolling, 'herd rolling, new image', `target ≤ ${TARGETS.rollingNewImage} s; ${rolling.outcome}${parallel}`));
    if (options.phases !== false) rows.push(...phaseRows(rolling));
    rows.push(planRow('rolling', n, baked, 'herd rolling, image already baked', `target ≤ ${TARGETS.rollingImageBaked} s; ${baked.outcome}${parallel}`));
    if (options.phases !== false) rows.push(...phaseRows(baked));
    rows.push(planRow('full', n, full, 'herd full, new image', `${full.outcome}; ${fullWindow(full)}`));
    if (options.phases !== false) rows.push(...phaseRows(full));
    // The issue's measure: migrations behind the page. The new fleet boots before it goes up,
    // so the window is the migration (and its snapshot) and the switch, whatever the fleet size.
    const behind = await planDeploy({ fleets: fleets(n), deploy, strategy: 'full', migrationOrder: 'maintenance', imageExists: false, releaseCommand: true });
    rows.push(planRow('full', n, behind, '  herd full, migrations behind the page', `target: window ≤ migration + ${TARGETS.windowOverMigration} s; ${fullWindow(behind)}`));
    if (options.phases !== false) {
      // Layered bake: the rows above reuse the base image (provisioning unchanged); a changed
      // herd/provision or a new Amazon Linux image bakes the base first.
      const newBase = await planDeploy({ fleets: fleets(n), deploy, strategy: 'rolling', imageExists: false, baseExists: false, releaseCommand: true });
      rows.push({
        ...planRow('rolling', n, newBase, '  herd rolling, provisioning changed (a new base image first)', `bake ${seconds(phaseBreakdown(newBase).bake)} (base reused: ${seconds(phaseBreakdown(rolling).bake)})`),
        skew: undefined,
        maintenance: undefined,
      });
    }
    if (options.oneBatch !== false) {
      // Production's max healthy 150 % rolls 10 web servers in two batches; 200 % (the small
      // profile's) launches the whole new fleet at once: one batch, twice the instances meanwhile.
      const oneBatch = await plan('rolling', false, { ...deploy, rolling: { ...deploy.rolling, maxHealthyPercentage: 200 } });
      rows.push({
        ...planRow('rolling', n, oneBatch, '  herd rolling at max healthy 200 % (one batch)', `rollout ${seconds(phaseBreakdown(oneBatch).rollout)} (150 %: ${seconds(phaseBreakdown(rolling).rollout)}); up to ${2 * n} web instances`),
        skew: undefined,
        maintenance: undefined,
      });
    }
    rows.push({ measure: 'lower bound, new image', web: String(n), value: seconds(lbNew.seconds), down: '0 s', minHealthy: '100 %', rolling: ratio(rolling.totalSeconds, lbNew.seconds), full: ratio(full.totalSeconds, lbNew.seconds), note: lbNew.parts });
    rows.push({ measure: 'lower bound, image baked', web: String(n), value: seconds(lbBaked.seconds), down: '0 s', minHealthy: '100 %', rolling: ratio(baked.totalSeconds, lbBaked.seconds), note: lbBaked.parts });
    for (const a of anchorsFor(n, anchorTimings)) rows.push(anchorRow(a, rolling, full));
  }
  return { deploy, timings, rows, plans };
}

function anchorRow(a: AnchorResult, rolling: DeployPlan, full: DeployPlan): BenchRow {
  const note =
    a.skewPerServer && a.skewPerServer.length > 1 && a.skewPerServer[0] !== a.skewPerServer[a.skewPerServer.length - 1]
      ? `skew per server ${a.skewPerServer.slice(0, 4).join(', ')}${a.skewPerServer.length > 4 ? ', …' : ''} s`
      : a.tool.startsWith('Fabric')
        ? 'SSH only; no image'
        : 'same bake timings as herd';
  return {
    measure: `anchor: ${a.tool}`,
    web: String(a.servers),
    value: seconds(a.totalSeconds),
    down: seconds(a.noHealthyTargetSeconds),
    skew: seconds(a.skewSeconds),
    maintenance: seconds(a.maintenanceWindowSeconds),
    minHealthy: `${a.minHealthyPercent} %`,
    calls: String(a.awsCalls),
    rolling: ratio(rolling.totalSeconds, a.totalSeconds),
    full: ratio(full.totalSeconds, a.totalSeconds),
    note,
  };
}
