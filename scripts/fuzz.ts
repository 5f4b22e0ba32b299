/**
 * `npm run fuzz -- --runs N --seed S`: generated deploys against the fake cloud, checked by
 * the invariants an operator relies on (test/deploy/fuzz/). Prints progress; on a failure,
 * the shrunk counterexample as a scenario file and where to save it, and exits 1.
 * `--save` writes the file there.
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { asScenarioFile } from '../test/deploy/fuzz/counterexample';
import { search } from '../test/deploy/fuzz/search';

// herd pins its SDK (package-lock.json): the SDK's notice that its future releases need
// Node 22 says nothing about this run (bin/herd.js and jest.config.js do the same).
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      runs: { type: 'string', default: '200' },
      seed: { type: 'string', default: String(Date.now() % 2 ** 31) },
      save: { type: 'boolean', default: false },
    },
  });
  const runs = Number.parseInt(values.runs, 10);
  const seed = Number.parseInt(values.seed, 10);
  if (!Number.isInteger(runs) || runs < 1) throw new Error(`--runs must be a positive integer, got ${values.runs}`);
  if (!Number.isInteger(seed)) throw new Error(`--seed must be an integer, got ${values.seed}`);
  process.stdout.write(`fuzz: ${runs} generated deploy(s), seed ${seed}\n`);
  const started = Date.now();
  let done = 0;
  let shrinking = false;
  const result = await search({
    runs,
    seed,
    onRun: (_scenario, _ms, failed) => {
      done += 1;
      if (failed && !shrinking) {
        shrinking = true;
        process.stdout.write(`run ${done} failed; shrinking…\n`);
      }
      if (!shrinking && done % 25 === 0) process.stdout.write(`${done}/${runs} runs, ${Math.round((Date.now() - started) / 1000)} s\n`);
    },
  });
  const seconds = Math.round((Date.now() - started) / 1000);
  if (!result.failure) {
    process.stdout.write(`fuzz: ${result.runs} run(s), every invariant held (${seconds} s, seed ${seed})\n`);
    return 0;
  }
  const { scenario, path } = await asScenarioFile(result.failure.scenario, `generated (seed ${seed}): FILL IN what goes wrong`);
  const json = `${JSON.stringify(scenario, null, 2)}\n`;
  process.stdout.write(
    `fuzz: an invariant broke after ${result.runs} passing run(s) (seed ${seed}, ${result.failure.shrinks} shrink(s), ${seconds} s)\n` +
      `${result.failure.message}\n\nshrunk counterexample, to save as ${path}:\n${json}`,
  );
  if (values.save) {
    writeFileSync(path, json);
    process.stdout.write(`saved ${path}\n`);
  }
  return 1;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
    process.exit(2);
  },
);
