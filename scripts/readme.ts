/**
 * Regenerates the README's generated blocks from the code: the cost table, the operator IAM
 * policies, and the deploy model's blocks (timing parameters, timelines, benchmark). Run it
 * after changing any of them: `npm run readme`. Tests fail when a block is stale.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { README_POLICY_TARGET, operatorPolicy } from '../lib/cli/iam-policy';
import { readmeCostTable } from '../lib/cost/estimate';
import { planReadmeBlocks, replaceBlocks } from '../lib/plan/readme-blocks';
import { buildApp } from '../test/support/app';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

async function main(): Promise<void> {
  const file = path.join(__dirname, '..', 'README.md');
  const built = buildApp();
  const blocks: Record<string, string> = {
    cost: readmeCostTable({ testing: built.template('testing').toJSON(), production: built.template('production').toJSON() }),
  };
  for (const mode of ['deploy', 'read-only'] as const) {
    blocks[`iam-policy:${mode}`] = `\`\`\`json\n${JSON.stringify(operatorPolicy(README_POLICY_TARGET, mode), null, 2)}\n\`\`\``;
  }
  Object.assign(blocks, await planReadmeBlocks());
  writeFileSync(file, replaceBlocks(readFileSync(file, 'utf8'), blocks));
  process.stdout.write(`README.md: regenerated ${Object.keys(blocks).join(', ')}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});
