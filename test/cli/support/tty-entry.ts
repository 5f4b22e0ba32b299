/**
 * Test-only entry point: `herd` wired to a simulated environment, writing to the real
 * stdout, so a test can run it in a terminal (tmux) or through a pipe.
 *   node -r tsx/cjs test/cli/support/tty-entry.ts deploy staging <dir>
 * Each poll lets the simulated deploy run 60 virtual seconds and waits 60 real ms, so the
 * spinner has time to draw.
 */
import { cachedActor, type CliDeps } from '../../../lib/cli/deps';
import { main } from '../../../lib/cli/program';
import { testConfig } from './harness';
import { SimulatedEnvironment } from './simulated';

const sim = new SimulatedEnvironment({ web: 2, worker: 1, serving: 'r1' }, { iam: false });
sim.secondsPerPoll = 60;
const deps: CliDeps = {
  clients: () => sim.clients(),
  out: process.stdout,
  err: process.stderr,
  isTTY: process.stdout.isTTY === true,
  now: () => sim.world.clock.now(),
  sleep: async () => {
    await sim.sleep();
    await new Promise((resolve) => setTimeout(resolve, 60));
  },
  config: () => testConfig(),
  actor: cachedActor(),
  onInterrupt: (handler) => {
    process.on('SIGINT', handler);
    return () => process.off('SIGINT', handler);
  },
};

main(process.argv.slice(2), deps).then((code) => {
  process.exitCode = code;
});
