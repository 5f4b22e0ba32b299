/**
 * The README's blocks that come from the deploy model: the default timing parameters, the
 * rolling and full timelines, and the modelled benchmark table. `npm run readme` writes them
 * between `<!-- name -->` and `<!-- /name -->` markers; test/plan/readme.test.ts fails when
 * the README no longer matches the model.
 */
import { benchModel, benchTable, fullWindow, phaseBreakdown, servingAt, seconds, type BenchRow } from './benchmark';
import { planDeploy } from './model';
import { formatDuration, mermaidGantt, timingsMarkdown } from './render';

/** Fleet sizes whose `full` maintenance window the README shows next to the 10-server rows. */
const WINDOW_FLEETS = [2, 100] as const;

export async function planReadmeBlocks(): Promise<Record<string, string>> {
  const model = await benchModel([10], { oneBatch: false });
  const fleets = (n: number) => ({ web: { desired: n, min: n, max: 2 * n }, worker: { desired: 1, min: 1, max: 2 } });
  const ten = model.plans.get(10);
  if (!ten) throw new Error('the bench model has no plans for 10 web servers');
  const { rolling, full } = ten;
  const windows: BenchRow[] = [];
  for (const n of WINDOW_FLEETS) {
    const p = await planDeploy({ fleets: fleets(n), deploy: model.deploy, strategy: 'full', migrationOrder: 'maintenance', imageExists: false, releaseCommand: true });
    windows.push({ measure: 'herd full, migrations behind the page', web: String(n), value: seconds(p.totalSeconds), down: seconds(p.downtimeSeconds), maintenance: seconds(p.maintenanceWindowSeconds), minHealthy: `${p.minHealthyPercent} %`, calls: String(p.awsCallsTotal), note: `${fullWindow(p)}; serving at ${seconds(servingAt(p))}` });
  }
  const b = phaseBreakdown(rolling);
  return {
    timings: timingsMarkdown(),
    'timeline:rolling': mermaidGantt(
      rolling,
      `rolling deploy, 10 web servers + worker, new image - serving at ${formatDuration(servingAt(rolling))}, done at ${formatDuration(rolling.totalSeconds)} after the ${formatDuration(b.verify)} alarm watch`,
    ),
    'timeline:full': mermaidGantt(full, `full deploy, 10 web servers + worker, new image - maintenance page up ${formatDuration(full.maintenanceWindowSeconds)}`),
    'bench:model': benchTable([...model.rows, ...windows], ['measure', 'web', 'value', 'down', 'skew', 'maintenance', 'minHealthy', 'calls', 'rolling', 'full', 'note']),
  };
}

/** `readme` with each named block's content replaced; throws if a marker pair is missing. */
export function replaceBlocks(readme: string, blocks: Record<string, string>): string {
  let out = readme;
  for (const [name, content] of Object.entries(blocks)) {
    const re = new RegExp(`<!-- ${name} -->\\n[\\s\\S]*?\\n<!-- /${name} -->`);
    if (!re.test(out)) throw new Error(`README.md has no <!-- ${name} --> … <!-- /${name} --> block`);
    out = out.replace(re, () => `<!-- ${name} -->\n${content}\n<!-- /${name} -->`);
  }
  return out;
}
