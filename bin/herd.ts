/** Entry point of the `herd` command (`bin/herd.js` loads it through tsx). */
import { defaultDeps } from '../lib/cli/deps';
import { main } from '../lib/cli/program';

main(process.argv.slice(2), defaultDeps()).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`herd: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);
