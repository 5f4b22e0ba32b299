/** A plan for people: the summary, the timeline as a terminal Gantt chart, and as an SVG. */
import type { DeployPlan, TimelineEntry } from './model';
import { DEFAULT_TIMINGS, TIMING_NAMES, type TimingName, type TimingTable } from './timings';

export function formatDuration(seconds: number): string {
  const s = Math.round(seconds);
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  return `${m} min ${String(s % 60).padStart(2, '0')} s`;
}

function clock(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  return `${String(Math.floor(s / 60)).padStart(2, '0')}:${String(s % 60).padStart(2, '0')}`;
}

const BAR: Record<TimelineEntry['kind'], string> = { stage: '█', batch: '▓', checkpoint: '░', maintenance: '▒', backup: '▚' };

/**
 * The timeline as a Gantt chart of `width` columns: one row per entry, its bar placed on a
 * common time axis (stages █, launch batches ▓, checkpoints ░, maintenance page ▒, DB snapshot ▚).
 */
export function ganttChart(plan: Pick<DeployPlan, 'timeline' | 'totalSeconds'>, width = 60): string {
  const total = Math.max(1, plan.totalSeconds);
  const labelWidth = Math.min(40, Math.max(...plan.timeline.map((e) => e.label.length), 8));
  const col = (t: number) => Math.min(width, Math.max(0, Math.round((t / total) * width)));
  const lines = plan.timeline.map((e) => {
    // Every entry shows at least one column, short ones at the end included.
    const a = Math.min(width - 1, col(e.start));
    const b = Math.min(width, Math.max(a + 1, col(e.end)));
    const bar = ' '.repeat(a) + BAR[e.kind].repeat(b - a);
    const label = e.label.length > labelWidth ? `${e.label.slice(0, labelWidth - 1)}…` : e.label.padEnd(labelWidth);
    return `${label} │${bar.padEnd(width)}│ ${clock(e.start)}–${clock(e.end)}`;
  });
  const axis = `${' '.repeat(labelWidth)} └${'─'.repeat(width)}┘`;
  const ticks = `${' '.repeat(labelWidth)}  ${clock(0)}${' '.repeat(Math.max(1, width - 10))}${clock(total)}`;
  return [...lines, axis, ticks].join('\n');
}

/** The text `herd plan` prints (without the Gantt chart). */
export function planSummary(plan: DeployPlan, title: string): string {
  const lines: string[] = [];
  lines.push(title);
  lines.push(
    `strategy ${plan.strategy}, migrations ${plan.migrates ? plan.migrationOrder : 'none'}, ${plan.bakes ? 'bakes a new image' : 'image exists (no bake)'}; ` +
      `web ${plan.fleets.web}${plan.fleets.worker !== undefined ? `, worker ${plan.fleets.worker}` : ''}`,
  );
  lines.push('');
  lines.push(`predicted total          ${formatDuration(plan.totalSeconds)}${plan.outcome === 'failed' ? ` — the modelled deploy FAILS: ${plan.failure ?? 'unknown cause'}` : ''}`);
  lines.push(
    `maintenance window       ${plan.maintenance ? `${formatDuration(plan.maintenanceWindowSeconds)} (${clock(plan.maintenance.on)}–${clock(plan.maintenance.off)})` : 'none'}`,
  );
  lines.push(`no healthy target        ${formatDuration(plan.downtimeSeconds)} outside a maintenance window`);
  lines.push(`minimum healthy capacity ${plan.minHealthyPercent} % of the web fleet`);
  lines.push(`code/schema skew         ${formatDuration(plan.skewSeconds)} (old code on the migrated schema, or new code before it)`);
  const calls = Object.entries(plan.awsCalls).sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
  lines.push(`AWS calls                ${plan.awsCallsTotal} (${calls.map(([api, n]) => `${api.replace(/^[a-zA-Z0-9]+:/, '')} ${n}`).join(', ')})`);
  lines.push('');
  lines.push('timeline');
  for (const e of plan.timeline) {
    const indent = e.kind === 'stage' ? '  ' : '    ';
    lines.push(`${indent}${clock(e.start)}–${clock(e.end)}  ${e.label}${e.detail ? ` (${e.detail})` : ''}`);
  }
  lines.push('');
  lines.push(`timing parameters ${plan.timingSource === 'history' ? 'from history' : 'from documented defaults'} (and the environment's configuration)`);
  for (const name of TIMING_NAMES) {
    const p = plan.timings[name];
    lines.push(`  ${name.padEnd(30)} ${String(p.value).padStart(5)}  ${p.origin}: ${p.source}`);
  }
  return lines.join('\n');
}

function esc(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

const COLOURS: Record<TimelineEntry['kind'], string> = { stage: '#4a78c2', batch: '#3a9d5d', checkpoint: '#c9a227', maintenance: '#c0392b', backup: '#8e44ad' };

/** The timeline as a standalone SVG document. */
export function planSvg(plan: DeployPlan, title: string): string {
  const rowH = 22;
  const labelW = 300;
  const chartW = 640;
  const top = 48;
  const total = Math.max(1, plan.totalSeconds);
  const x = (t: number) => labelW + (t / total) * chartW;
  const height = top + plan.timeline.length * rowH + 40;
  const width = labelW + chartW + 90;
  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`);
  parts.push(`<title>${esc(title)}</title>`);
  parts.push(`<rect width="100%" height="100%" fill="#ffffff"/>`);
  parts.push(`<text x="10" y="20" font-size="14" font-weight="bold">${esc(title)}</text>`);
  parts.push(
    `<text x="10" y="38">total ${esc(formatDuration(plan.totalSeconds))}; maintenance ${esc(formatDuration(plan.maintenanceWindowSeconds))}; no healthy target ${esc(formatDuration(plan.downtimeSeconds))}; min healthy ${plan.minHealthyPercent} %; ${plan.awsCallsTotal} AWS calls; timings ${plan.timingSource === 'history' ? 'from history' : 'from defaults'}</text>`,
  );
  plan.timeline.forEach((e, i) => {
    const y = top + i * rowH;
    const x0 = x(e.start);
    const w = Math.max(2, x(e.end) - x0);
    const indent = e.kind === 'stage' ? 10 : 24;
    parts.push(`<text x="${indent}" y="${y + 15}">${esc(e.label)}</text>`);
    parts.push(
      `<rect x="${x0.toFixed(1)}" y="${y + 3}" width="${w.toFixed(1)}" height="${rowH - 6}" fill="${COLOURS[e.kind]}" opacity="${e.kind === 'maintenance' ? 0.6 : 0.9}"><title>${esc(`${e.label}: ${e.start}–${e.end} s${e.detail ? ` (${e.detail})` : ''}`)}</title></rect>`,
    );
    parts.push(`<text x="${(x0 + w + 4).toFixed(1)}" y="${y + 15}" fill="#555">${e.end - e.start} s</text>`);
  });
  const axisY = top + plan.timeline.length * rowH + 8;
  parts.push(`<line x1="${labelW}" y1="${axisY}" x2="${labelW + chartW}" y2="${axisY}" stroke="#333"/>`);
  const step = niceStep(total);
  for (let t = 0; t <= total; t += step) {
    parts.push(`<line x1="${x(t).toFixed(1)}" y1="${axisY}" x2="${x(t).toFixed(1)}" y2="${axisY + 5}" stroke="#333"/>`);
    parts.push(`<text x="${x(t).toFixed(1)}" y="${axisY + 18}" text-anchor="middle">${clock(t)}</text>`);
  }
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}

function niceStep(total: number): number {
  for (const s of [10, 30, 60, 120, 300, 600, 900, 1800, 3600]) if (total / s <= 12) return s;
  return 7200;
}

/**
 * The timeline as a Mermaid gantt block (the README's timelines, regenerated by
 * `npm run readme`): one task per stage, the maintenance page marked critical; launch batches
 * and checkpoints are left to `herd plan`.
 */
export function mermaidGantt(plan: Pick<DeployPlan, 'timeline'>, title: string): string {
  const lines = ['```mermaid', 'gantt', `  title ${title.replace(/[:#;]/g, ' ')}`, '  dateFormat s', '  axisFormat %M:%S'];
  for (const e of plan.timeline.filter((t) => t.kind === 'stage' || t.kind === 'maintenance')) {
    const label = e.label.replace(/[:#;]/g, ' ');
    lines.push(`  ${label} :${e.kind === 'maintenance' ? 'crit, ' : ''}${Math.round(e.start)}, ${Math.max(1, Math.round(e.end - e.start))}s`);
  }
  lines.push('```');
  return lines.join('\n');
}

/** Human names of the timing parameters (the README's table). */
const TIMING_LABELS: Record<TimingName, string> = {
  bootSeconds: 'instance boot',
  appStartSeconds: 'app start',
  bakeSeconds: 'release bake (on a base image)',
  provisionSeconds: 'base provisioning (setup, herd/provision)',
  imageSeconds: 'image available',
  migrationSeconds: 'migration',
  dbSnapshotSeconds: 'RDS snapshot',
  shutdownSeconds: 'shutdown',
  healthCheckIntervalSeconds: 'health check interval',
  initialHealthyChecks: 'checks a new target needs',
  healthyThreshold: 'healthy threshold',
  unhealthyThreshold: 'unhealthy threshold',
  healthCheckGracePeriodSeconds: 'health check grace period',
  deregistrationDelaySeconds: 'deregistration delay',
  imageParameterSeconds: 'image parameter validation',
};

/** The default timing parameters as a Markdown table: value, source, and a link to check it. */
export function timingsMarkdown(table: TimingTable = DEFAULT_TIMINGS): string {
  const unit = (name: TimingName) => (name.endsWith('Seconds') ? ' s' : '');
  const rows = TIMING_NAMES.map((name) => {
    const p = table[name];
    const source = p.source.replace(/\|/g, '\\|');
    return `| ${TIMING_LABELS[name]} | ${p.value}${unit(name)} | ${source}${p.reference ? ` ([source](${p.reference}))` : ''} |`;
  });
  return ['| parameter | default | source |', '|---|---|---|', ...rows].join('\n');
}
