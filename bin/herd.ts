/**
 * Entry point of the `herd` command (`bin/herd.js` loads it through tsx): against AWS, or,
 * with `--sandbox` or `HERD_SANDBOX=1`, against the local sandbox (`lib/sandbox/`).
 */
import { defaultDeps, type CliDeps } from '../lib/cli/deps';
import { CliError } from '../lib/cli/errors';
import { main } from '../lib/cli/program';
import { sandboxDeps } from '../lib/sandbox/deps';
import { sandboxSelection } from '../lib/sandbox/selection';

async function run(): Promise<number> {
  let selection: ReturnType<typeof sandboxSelection>;
  let deps: Awaited<ReturnType<typeof sandboxDeps>>;
  try {
    selection = sandboxSelection(process.argv.slice(2), process.env, process.cwd());
    if (!selection.sandbox) return await main(selection.argv, defaultDeps());
    deps = await sandboxDeps({ ...selection.sandbox, base: defaultDeps(), command: ['herd', ...process.argv.slice(2)].join(' ') });
  } catch (err) {
    // A bad HERD_SANDBOX_SPEED, the sandbox's lock held by another command.
    if (!(err instanceof CliError)) throw err;
    process.stderr.write(`herd: ${err.message}\n`);
    return err.exitCode;
  }
  try {
    return await main(selection.argv, deps satisfies CliDeps);
  } finally {
    deps.close();
  }
}

run().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`herd: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);
