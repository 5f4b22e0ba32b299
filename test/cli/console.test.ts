/**
 * `herd console` against the simulated environment, with a stand-in `session-manager-plugin`
 * on PATH that records the arguments it was started with (as the AWS CLI starts the real one)
 * and exits with `PLUGIN_EXIT`. The fake cloud answers StartSession only for a running
 * instance whose SSM agent has registered (`services/session-manager.ts`).
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { TAGS } from '../../lib/names';
import { consoleCommand, PLUGIN_INSTALL_URL } from '../../lib/cli/session-manager';
import { configureRuns } from '../../lib/simulation/services/runs';
import { SSM_AGENT_ONLINE_SECONDS, sessionsOf, setSessionUserName } from '../../lib/simulation/services/session-manager';
import { runHerd, testDeps } from './support/harness';
import { SIMULATED_ACTOR, SimulatedEnvironment } from './support/simulated';

let dir: string;
let pluginLog: string;
const savedPath = process.env.PATH;
const savedRegion = process.env.AWS_REGION;

beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'herd-console-'));
  pluginLog = path.join(dir, 'plugin.log');
  writeFileSync(path.join(dir, 'session-manager-plugin'), `#!/bin/sh\nprintf '%s\\n' "$@" >"${pluginLog}"\nexit "\${PLUGIN_EXIT:-0}"\n`, { mode: 0o755 });
  process.env.PATH = `${dir}${path.delimiter}${savedPath}`;
  process.env.AWS_REGION = 'eu-west-1';
  delete process.env.PLUGIN_EXIT;
});

afterEach(() => {
  process.env.PATH = savedPath;
  if (savedRegion === undefined) delete process.env.AWS_REGION;
  else process.env.AWS_REGION = savedRegion;
  delete process.env.PLUGIN_EXIT;
  rmSync(dir, { recursive: true, force: true });
});

function setup() {
  const sim = new SimulatedEnvironment({ web: 2, worker: 1, serving: 'r1' });
  setSessionUserName(sim.world.cloud, 'alice');
  configureRuns(sim.world.cloud, { 'sleep 3600': { exitCode: 0, lines: [], seconds: 3600 } }); // --fresh's idle command
  sim.world.cloud.advance(SSM_AGENT_ONLINE_SECONDS); // the fleet's agents have registered
  const deps = () => testDeps({ clients: () => sim.clients(), now: () => sim.world.clock.now(), sleep: async (ms) => sim.world.cloud.advance(ms / 1000) });
  return { sim, deps };
}

const inService = (sim: SimulatedEnvironment, group: string) => sim.world.cloud.groups.get(group)!.instances.filter((i) => i.lifecycle === 'InService').map((i) => i.id);
const actions = (sim: SimulatedEnvironment) => [...sim.world.cloud.table.values()].filter((i) => i.pk === 'ACTION');
/** One argument a line (none holds a newline); an empty argument is an empty line. */
const pluginArgs = () => readFileSync(pluginLog, 'utf8').replace(/\n$/, '').split('\n');

describe('herd console', () => {
  test('opens a shell on the first InService web instance: StartSession with the app user\'s shell, the plugin started as the AWS CLI starts it, the session ended, recorded', async () => {
    const { sim, deps } = setup();
    const [target] = inService(sim, 'herd-staging-web');
    const run = await runHerd(['console', 'staging'], deps());
    expect(run.err).toBe('');
    expect(run.code).toBe(0);
    const [session] = sessionsOf(sim.world.cloud);
    expect(sessionsOf(sim.world.cloud)).toHaveLength(1);
    expect(session).toMatchObject({ target, documentName: 'AWS-StartInteractiveCommand', parameters: { command: [consoleCommand('shop')] }, reason: `herd console by ${SIMULATED_ACTOR}`, status: 'Terminated' });
    expect(session!.sessionId).toMatch(/^alice-[0-9a-f]{17}$/);
    const args = pluginArgs();
    expect(args).toHaveLength(6);
    expect(JSON.parse(args[0]!)).toEqual({ SessionId: session!.sessionId, TokenValue: expect.any(String), StreamUrl: expect.stringContaining(session!.sessionId) });
    expect(args.slice(1, 4)).toEqual(['eu-west-1', 'StartSession', process.env.AWS_PROFILE ?? '']);
    expect(JSON.parse(args[4]!)).toEqual({ Target: target, DocumentName: 'AWS-StartInteractiveCommand', Parameters: { command: [consoleCommand('shop')] } });
    expect(args[5]).toBe('https://ssm.eu-west-1.amazonaws.com');
    expect(run.out).toBe(`console on staging: ${target} (web) as shop; exit the shell to end the session\nsession ${session!.sessionId} ended\n`);
    expect(actions(sim).map((a) => [a.verb, a.actor, a.detail])).toEqual([['console', SIMULATED_ACTOR, `opened a console as shop on ${target} (web)`]]);
  });

  test('the shell reads the root-only env file as root, then runs as the app user in the release directory', () => {
    expect(consoleCommand('shop')).toBe(
      "sudo /bin/bash -c 'set -a && . /etc/herd/shop.env && set +a && cd /srv/shop/current && exec setpriv --reuid=shop --regid=shop --init-groups env HOME=/srv/shop USER=shop PATH=/srv/shop/current/.venv/bin:/srv/shop/current/bin:/usr/local/bin:/usr/bin:/bin bash -i'",
    );
  });

  test('--instance names an InService instance of either group; --role worker picks the worker', async () => {
    const { sim, deps } = setup();
    const [, second] = inService(sim, 'herd-staging-web');
    expect((await runHerd(['console', 'staging', '--instance', second!], deps())).code).toBe(0);
    const [worker] = inService(sim, 'herd-staging-worker');
    expect((await runHerd(['console', 'staging', '--role', 'worker'], deps())).code).toBe(0);
    expect(sessionsOf(sim.world.cloud).map((s) => s.target)).toEqual([second, worker]);
  });

  test('--fresh: a new instance of the serving release, the session once its agent is online, terminated after', async () => {
    const { sim, deps } = setup();
    const run = await runHerd(['console', 'staging', '--fresh', '--role', 'worker'], deps());
    expect(run.err).toBe('');
    expect(run.code).toBe(0);
    const fresh = [...sim.world.cloud.instances.values()].filter((i) => i.tags[TAGS.role] === 'run');
    expect(fresh).toHaveLength(1);
    expect(fresh[0]!.ltId).toBe(sim.world.env.fleets.worker!.launchTemplateId);
    expect(fresh[0]!.userData).toContain(`--role run --run-as worker --timeout-seconds 3600 --command-base64 ${Buffer.from('sleep 3600').toString('base64')}`);
    expect(sessionsOf(sim.world.cloud).map((s) => s.target)).toEqual([fresh[0]!.id]);
    expect(['shutting-down', 'terminated']).toContain(fresh[0]!.state);
    expect(run.out).toContain(`instance ${fresh[0]!.id} terminated\n`);
    expect(actions(sim)[0]!.detail).toMatch(new RegExp(`^opened a console as shop on a fresh instance ${fresh[0]!.id} \\(worker, release r1, run-\\S+\\)$`));
  });

  test('a plugin that fails: exit 1 naming its exit code, the session ended anyway', async () => {
    const { sim, deps } = setup();
    process.env.PLUGIN_EXIT = '255';
    const run = await runHerd(['console', 'staging'], deps());
    const [session] = sessionsOf(sim.world.cloud);
    expect(run.code).toBe(1);
    expect(run.err).toBe(`herd: the Session Manager plugin exited with 255 (session ${session!.sessionId} on ${session!.target})\n`);
    expect(session!.status).toBe('Terminated');
  });

  test('an instance whose SSM agent is not online yet: exit 1 saying so, no session, the plugin not started', async () => {
    const sim = new SimulatedEnvironment({ web: 1, worker: 1, serving: 'r1' });
    const [target] = inService(sim, 'herd-staging-web');
    sim.world.cloud.instances.get(target!)!.stateAt = sim.world.clock.now(); // it has just started running
    const run = await runHerd(['console', 'staging'], testDeps({ clients: () => sim.clients(), now: () => sim.world.clock.now() }));
    expect(run.code).toBe(1);
    expect(run.err).toBe(`herd: ${target} is not connected to Session Manager: its SSM agent is not online (an instance that booted seconds ago, or one that cannot reach the SSM endpoints); try again in a minute, pick another instance, or use --fresh\n`);
    expect(sessionsOf(sim.world.cloud)).toEqual([]);
    expect(existsSync(pluginLog)).toBe(false);
  });

  test('the operator\'s policy allows sessions only on the environment\'s own instances', async () => {
    const { sim, deps } = setup();
    const [target] = inService(sim, 'herd-staging-web');
    sim.world.cloud.instances.get(target!)!.tags[TAGS.environment] = 'production';
    await runHerd(['console', 'staging', '--instance', target!], deps());
    const denied = await sim.iam.denials();
    sim.iam.calls.splice(0);
    expect(denied.map((d) => `${d.request.action} ${d.request.resource}`)).toEqual([`ssm:StartSession arn:aws:ec2:eu-west-1:123456789012:instance/${target}`]);
  });

  describe('refuses before any session, saying what was wrong', () => {
    const footprint = (sim: SimulatedEnvironment) => ({ sessions: sessionsOf(sim.world.cloud).length, instances: sim.world.cloud.instances.size, actions: actions(sim).length });

    test('without the plugin on PATH: how to install it, before any AWS call', async () => {
      const { sim, deps } = setup();
      process.env.PATH = path.join(dir, 'empty');
      const calls = sim.world.cloud.calls.length;
      const run = await runHerd(['console', 'staging'], deps());
      expect(run).toEqual({ code: 2, out: '', err: `herd: session-manager-plugin is not on your PATH: herd console opens its shell through the AWS Session Manager plugin; install it (${PLUGIN_INSTALL_URL}), check with \`session-manager-plugin --version\`, and try again; nothing was changed\n` });
      expect(sim.world.cloud.calls.length).toBe(calls);
      expect(existsSync(pluginLog)).toBe(false);
    });

    test.each([
      ['an unknown environment', ['console', 'qa'], 'unknown environment "qa"; configured environments: staging, production (herd.config.ts)'],
      ['--instance with --fresh', ['console', 'staging', '--instance', 'i-0123456789abcdef0', '--fresh'], '--instance i-0123456789abcdef0 names the instance: it goes with neither --role nor --fresh; nothing was changed'],
      ['--instance that is not an id', ['console', 'staging', '--instance', 'web-1'], '--instance "web-1" is not an EC2 instance id (i- and 8 or 17 hex digits); `herd status staging` lists the instances; nothing was changed'],
      ['a role without a console', ['console', 'staging', '--role', 'release'], '--role "release" is not a role with a console: use web or worker; nothing was changed'],
    ])('%s', async (_what, argv, message) => {
      const { sim, deps } = setup();
      const before = footprint(sim);
      const run = await runHerd(argv, deps());
      expect(run).toEqual({ code: 2, out: '', err: `herd: ${message}\n` });
      expect(footprint(sim)).toEqual(before);
    });

    test('an instance that is not InService in the environment\'s groups: the list of those that are', async () => {
      const { sim, deps } = setup();
      const before = footprint(sim);
      const run = await runHerd(['console', 'staging', '--instance', 'i-0123456789abcdef0'], deps());
      const web = inService(sim, 'herd-staging-web').join(', ');
      const worker = inService(sim, 'herd-staging-worker').join(', ');
      expect(run).toEqual({ code: 2, out: '', err: `herd: instance i-0123456789abcdef0 is not an InService instance of staging (InService: herd-staging-web: ${web}; herd-staging-worker: ${worker}); pick one of those, or use --fresh; nothing was changed\n` });
      expect(footprint(sim)).toEqual(before);
    });
  });
});
