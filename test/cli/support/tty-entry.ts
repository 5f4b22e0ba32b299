/**
 * Test-only entry point: `herd` wired to a simulated environment, writing to the real
 * stdout, so a test can run it in a terminal (tmux) or through a pipe.
 *   node -r tsx/cjs test/cli/support/tty-entry.ts deploy staging <dir>
 * Each poll lets the simulated deploy run `HERD_TTY_SECONDS_PER_POLL` virtual seconds (60)
 * and waits `HERD_TTY_WAIT_MS` real ms (60), so the spinner has time to draw. Scenario knobs:
 * - `HERD_TTY_RELEASE`: JSON `ReleaseBehaviour` of the release packed from the directory
 *   argument (`{"neverHealthy":true}`, `{"migrationExitCode":1}`);
 * - `HERD_TTY_WEB`: web instances (2);
 * - `HERD_TTY_HOLD_PAGE_MINUTES`: `deploy.holdMaintenanceMinutes` of the environment (0): a `full`
 *   deploy's page is otherwise up for seconds only (its new fleet boots before);
 * - `HERD_TTY_HOLD_WHEN` (`page`: the deploy's maintenance page is up; `rollout`: an instance
 *   refresh runs; `failing`: a new instance fails its health check) and `HERD_TTY_HOLD_FILE`:
 *   the first time the display has drawn that, the next poll waits until the file exists (a
 *   test captures the screen, then creates it).
 */
import { existsSync, statSync } from 'node:fs';
import { cachedActor, type CliDeps } from '../../../lib/cli/deps';
import { main } from '../../../lib/cli/program';
import { releaseIdOfTree } from '../../../lib/release-id';
import type { ReleaseBehaviour } from '../../../lib/simulation/fake-cloud';
import { testConfig } from './harness';
import { SimulatedEnvironment } from './simulated';

const argv = process.argv.slice(2);
const dir = argv.find((a) => existsSync(a) && statSync(a).isDirectory());
const behaviour = process.env.HERD_TTY_RELEASE ? (JSON.parse(process.env.HERD_TTY_RELEASE) as ReleaseBehaviour) : undefined;
const releases = behaviour && dir ? { [releaseIdOfTree(dir)]: behaviour } : {};
const holdPage = Number(process.env.HERD_TTY_HOLD_PAGE_MINUTES ?? 0);
const sim = new SimulatedEnvironment(
  { web: Number(process.env.HERD_TTY_WEB ?? 2), worker: 1, serving: 'r1', releases, ...(holdPage > 0 ? { deploy: { holdMaintenanceMinutes: holdPage } } : {}) },
  { iam: false },
);
sim.secondsPerPoll = Number(process.env.HERD_TTY_SECONDS_PER_POLL ?? 60);
const waitMs = Number(process.env.HERD_TTY_WAIT_MS ?? 60);
const holdFile = process.env.HERD_TTY_HOLD_FILE;

/** Whether the newest deploy's last state (the one the display drew) is what the test waits for. */
function holding(): boolean {
  const state = [...sim.executions.values()].at(-1)?.states.at(-1);
  if (!state || state.done) return false;
  switch (process.env.HERD_TTY_HOLD_WHEN) {
    case 'page': {
      // Up, and listed: DescribeRules leaves a rule created seconds ago out (eventual consistency), and so would the display.
      const { cloud, env } = sim.world;
      const rule = cloud.maintenanceRule(env.loadBalancer.listenerArn, env.loadBalancer.maintenancePriority);
      return state.maintenance?.onAt !== undefined && state.maintenance.offAt === undefined && rule !== undefined && cloud.visible('rule', rule.arn);
    }
    case 'rollout':
      return state.step === 'refresh.wait';
    case 'failing':
      return Object.keys(state.unhealthy?.watching ?? {}).length > 0;
    default:
      return false;
  }
}

let held = false;

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const deps: CliDeps = {
  clients: () => sim.clients(),
  out: process.stdout,
  err: process.stderr,
  isTTY: process.stdout.isTTY === true,
  now: () => sim.world.clock.now(),
  sleep: async () => {
    // The display drew what the test waits for after the last poll: hold it on screen, once.
    if (holdFile && !held && holding()) {
      held = true;
      while (!existsSync(holdFile)) await pause(50);
    }
    await sim.sleep();
    await pause(waitMs);
  },
  config: () => testConfig(),
  actor: cachedActor(),
  onInterrupt: (handler) => {
    process.on('SIGINT', handler);
    return () => process.off('SIGINT', handler);
  },
};

main(argv, deps).then((code) => {
  process.exitCode = code;
});
