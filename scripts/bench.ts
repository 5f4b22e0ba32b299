/**
 * herd's benchmark: wall times measured on this machine, printed as one table.
 * Not a test: nothing here fails on a slow machine; it reports.
 *
 *   npm run bench            synth of every environment + the jest suite
 *   npm run bench -- --quick synth only
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

const ROOT = path.join(__dirname, '..');

interface Row {
  readonly measure: string;
  readonly value: string;
  readonly target: string;
  readonly note: string;
}

function timed(command: string, args: string[], env: NodeJS.ProcessEnv = {}): { seconds: number; ok: boolean; output: string } {
  const start = process.hrtime.bigint();
  const run = spawnSync(command, args, { cwd: ROOT, encoding: 'utf8', env: { ...process.env, ...env }, maxBuffer: 64 * 1024 * 1024 });
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  return { seconds, ok: run.status === 0, output: `${run.stdout}\n${run.stderr}` };
}

function table(rows: readonly Row[]): string {
  const headers: Row = { measure: 'measure', value: 'value', target: 'target', note: 'note' };
  const keys = ['measure', 'value', 'target', 'note'] as const;
  const widths = keys.map((k) => Math.max(...[headers, ...rows].map((r) => r[k].length)));
  const line = (r: Row) => `| ${keys.map((k, i) => r[k].padEnd(widths[i])).join(' | ')} |`;
  return [line(headers), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.map(line)].join('\n');
}

function main(): void {
  const quick = process.argv.includes('--quick');
  const rows: Row[] = [];
  const outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'herd-bench-'));
  try {
    const cdk = path.join(ROOT, 'node_modules', '.bin', 'cdk');
    const synth = timed(cdk, ['synth', '--quiet', '--output', outdir]);
    const stacks = fs.readdirSync(outdir).filter((f) => f.endsWith('.template.json')).length;
    rows.push({ measure: `cdk synth, all environments (${stacks} stacks, with bundling and cdk-nag)`, value: `${synth.seconds.toFixed(1)} s`, target: '<= 15 s', note: synth.ok ? 'ok' : 'FAILED' });
  } finally {
    fs.rmSync(outdir, { recursive: true, force: true });
  }
  if (!quick) {
    const jest = path.join(ROOT, 'node_modules', '.bin', 'jest');
    const tests = timed(jest, ['--ci', '--maxWorkers=2', '--silent']);
    const summary = /Tests:\s+(.*)/.exec(tests.output)?.[1] ?? 'no summary';
    rows.push({ measure: 'jest, whole suite (2 workers)', value: `${tests.seconds.toFixed(1)} s`, target: '<= 180 s', note: `${tests.ok ? 'ok' : 'FAILED'}: ${summary}` });
  }
  process.stdout.write(`herd benchmark on ${os.cpus().length} cores, Node ${process.version}\n\n${table(rows)}\n`);
}

main();
