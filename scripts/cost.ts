/**
 * `npm run cost`: what each synthesized environment costs a month (`lib/cost/estimate.ts`),
 * read from `cdk.out/herd-<env>.template.json` — run `npm run synth` first (it reads your
 * configuration's templates, so it prices your instance types, capacities and options).
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { costTable, estimateMonthlyCost, type CostTemplate } from '../lib/cost/estimate';

const out = path.join(process.cwd(), 'cdk.out');
const files = existsSync(out) ? readdirSync(out).filter((f) => /^herd-.+\.template\.json$/.test(f) && !f.endsWith('-release-state.template.json')).sort() : [];
if (files.length === 0) {
  process.stderr.write(`no synthesized environment in ${out}: run \`npm run synth\` first\n`);
  process.exit(2);
}
const environments = files.map((f) => {
  const estimate = estimateMonthlyCost(JSON.parse(readFileSync(path.join(out, f), 'utf8')) as CostTemplate);
  return { title: f.replace(/^herd-/, '').replace(/\.template\.json$/, ''), estimate };
});
process.stdout.write(`${costTable(environments)}\n`);
const unknown = [...new Set(environments.flatMap((e) => e.estimate.unknownPrices))];
if (unknown.length > 0) process.stdout.write(`\nno price in lib/cost/prices.ts for: ${unknown.join(', ')} (left out of the totals)\n`);
