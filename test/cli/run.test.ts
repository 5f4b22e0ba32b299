/**
 * `herd run` against the simulated environment: the CLI launches the run instance on the fake
 * cloud (RunInstances, evaluated against the operator's policy after each test), which boots,
 * prints its command's lines into CloudWatch Logs, reports and powers off as `herd-boot --role
 * run` does (`lib/simulation/services/runs.ts`).
 */
import { lockedMessage } from '../../lambda/deploy/lock';
import { TAGS, parameterNames } from '../../lib/names';
import { configureRuns, type RunBehaviour } from '../../lib/simulation/services/runs';
import { runHerd, testDeps } from './support/harness';
import { SIMULATED_ACTOR, SimulatedEnvironment } from './support/simulated';

const CREATE_SUPERUSER = 'python manage.py createsuperuser --noinput';
const LOCK = { deployId: '20261105T090000Z-abcdef', actor: 'bob', release: 'r0', since: '2026-11-05T09:00:00.000Z' };

function setup(options: { spec?: ConstructorParameters<typeof SimulatedEnvironment>[0]; runs?: Record<string, RunBehaviour>; answer?: boolean; interruptAtPoll?: number } = {}) {
  const sim = new SimulatedEnvironment(options.spec ?? { web: 1, worker: 1, serving: 'r1' });
  configureRuns(sim.world.cloud, options.runs ?? {
    [CREATE_SUPERUSER]: { exitCode: 0, lines: ['Superuser created successfully.'], seconds: 20 },
  });
  const asked: string[] = [];
  let polls = 0;
  const deps = testDeps({
    clients: () => sim.clients(),
    now: () => sim.world.clock.now(),
    sleep: async (ms) => {
      polls += 1;
      if (polls === options.interruptAtPoll) deps.interrupt();
      const running = [...sim.executions.values()].some((x) => x.status === 'RUNNING');
      if (running) await sim.run(ms / 1000);
      else sim.world.cloud.advance(ms / 1000);
    },
  });
  const withConfirm = options.answer === undefined ? deps : Object.assign(deps, {
    confirm: async (question: string) => {
      asked.push(question);
      return options.answer ?? false;
    },
  });
  return { sim, deps: withConfirm, asked };
}

const runInstances = (sim: SimulatedEnvironment) => [...sim.world.cloud.instances.values()].filter((i) => i.tags[TAGS.role] === 'run');
const actions = (sim: SimulatedEnvironment) => [...sim.world.cloud.table.values()].filter((i) => i.pk === 'ACTION');
const runResults = (sim: SimulatedEnvironment) => [...sim.world.cloud.parameters.keys()].filter((k) => k.startsWith(parameterNames('shop', 'staging').runResultsPrefix));
/** What a refused run must leave as it was. */
const footprint = (sim: SimulatedEnvironment) => ({
  instances: sim.world.cloud.instances.size,
  actions: actions(sim).length,
  parameters: JSON.stringify([...sim.world.cloud.parameters.entries()]),
  logGroups: [...sim.world.cloud.logGroups.keys()],
});
const userData = (sim: SimulatedEnvironment) => runInstances(sim)[0]!.userData;

describe('herd run', () => {
  test('runs the command on a fresh instance of the serving release, streams its output, exits 0, terminates it, records it', async () => {
    const { sim, deps } = setup({ runs: { [CREATE_SUPERUSER]: { exitCode: 0, lines: ['Creating superuser admin', 'Superuser created successfully.'], seconds: 40 } } });
    const run = await runHerd(['run', 'staging', '--', 'python', 'manage.py', 'createsuperuser', '--noinput'], deps);
    expect(run.err).toBe('');
    expect(run.code).toBe(0);
    const [instance] = runInstances(sim);
    expect(runInstances(sim)).toHaveLength(1);
    const id = instance!.id;
    expect(run.out).toMatch(new RegExp(
      `^run-\\S+ on staging: instance ${id} runs release r1 as web, by ${SIMULATED_ACTOR.replace(/[()]/g, '\\$&')} \\(timeout 1h\\):\\n` +
      `  \\$ python manage.py createsuperuser --noinput\\n` +
      `\\(Ctrl-C asks whether to terminate it\\)\\n` +
      `Creating superuser admin\\nSuperuser created successfully\\.\\n` +
      `exit 0 after \\d+ s; instance ${id} terminated\\n$`,
    ));
    // The serving image, the web launch template, the runner's profile, shutdown = terminate, tagged as a run.
    const serving = sim.world.cloud.parameters.get(parameterNames('shop', 'staging').currentImage);
    expect(instance!.imageId).toBe(serving);
    expect(instance!.ltId).toBe(sim.world.env.fleets.web.launchTemplateId);
    expect(instance!.instanceProfileArn).toBe(sim.world.env.instances.runnerInstanceProfileArn);
    expect(instance!.shutdownBehavior).toBe('terminate');
    expect(instance!.tags).toMatchObject({ [TAGS.app]: 'shop', [TAGS.environment]: 'staging', [TAGS.role]: 'run', [TAGS.release]: 'r1', [TAGS.run]: expect.stringMatching(/^run-/) });
    expect(userData(sim)).toContain(`--role run --run-as web --timeout-seconds 3600 --command-base64 ${Buffer.from(CREATE_SUPERUSER).toString('base64')}`);
    expect(['shutting-down', 'terminated']).toContain(instance!.state);
    expect(runResults(sim)).toEqual([]); // the report was read and deleted
    const [action] = actions(sim);
    expect(actions(sim)).toHaveLength(1);
    expect(action).toMatchObject({ verb: 'run', actor: SIMULATED_ACTOR, environment: 'staging' });
    expect(action!.detail).toMatch(new RegExp(`^ran \`python manage.py createsuperuser --noinput\` as web on ${id} \\(release r1, run-\\S+\\): exit 0 after \\d+ s$`));
  });

  test('a failing command: exit 1 with the command\'s exit code named, the instance terminated, the history says so', async () => {
    const { sim, deps } = setup({ runs: { 'python manage.py fix_orders': { exitCode: 3, lines: ['Traceback (most recent call last):', 'ValueError: order 42'], seconds: 30 } } });
    const run = await runHerd(['run', 'staging', '--', 'python', 'manage.py', 'fix_orders'], deps);
    const id = runInstances(sim)[0]!.id;
    expect(run.code).toBe(1);
    expect(run.out).toContain('Traceback (most recent call last):\nValueError: order 42\n');
    expect(run.err).toMatch(new RegExp(`^herd: the command exited with 3 on ${id} after \\d+ s; the instance is terminated\\n$`));
    expect(['shutting-down', 'terminated']).toContain(runInstances(sim)[0]!.state);
    expect(actions(sim)[0]!.detail).toMatch(/: exit 3 after \d+ s$/);
  });

  test('lines the agent had not shipped when the instance went are printed from the report\'s tail, said so', async () => {
    const lines = ['Processed 1000 orders', 'Processed 2000 orders', 'Done: 2345 orders'];
    const { deps } = setup({ runs: { 'python manage.py backfill': { exitCode: 0, lines, seconds: 30, shipSeconds: 25 } } });
    const run = await runHerd(['run', 'staging', '--', 'python', 'manage.py', 'backfill'], deps);
    expect(run.code).toBe(0);
    // The first line ships before the command ends (at 10 + 25 s); the last two would ship after the instance is gone.
    expect(run.out).toContain('Processed 1000 orders\n(the last 2 line(s) did not reach CloudWatch Logs in time; from the instance\'s report:)\nProcessed 2000 orders\nDone: 2345 orders\nexit 0');
  });

  test('--role worker: the worker launch template and the worker\'s environment; arguments are quoted for the shell', async () => {
    const { sim, deps } = setup({ runs: { "python -c 'print(1)'": { exitCode: 0, lines: ['1'], seconds: 5 } } });
    const run = await runHerd(['run', 'staging', '--role', 'worker', '--timeout', '30m', '--', 'python', '-c', 'print(1)'], deps);
    expect(run.code).toBe(0);
    expect(runInstances(sim)[0]!.ltId).toBe(sim.world.env.fleets.worker!.launchTemplateId);
    expect(userData(sim)).toContain('--role run --run-as worker --timeout-seconds 1800 ');
    expect(run.out).toContain("  $ python -c 'print(1)'\n");
  });

  test('a command longer than --timeout is stopped on the instance (exit 124) and said so', async () => {
    const { sim, deps } = setup({ runs: { 'sleep 999': { exitCode: 0, lines: ['started'], seconds: 600 } } });
    const run = await runHerd(['run', 'staging', '--timeout', '2m', '--', 'sleep', '999'], deps);
    const id = runInstances(sim)[0]!.id;
    expect(run.code).toBe(1);
    expect(run.out).toContain('herd-boot: the command ran longer than 120s and was stopped\n');
    expect(run.err).toMatch(new RegExp(`^herd: the command exited with 124 \\(it ran longer than --timeout 2m and was stopped\\) on ${id} after \\d+ s; the instance is terminated\\n$`));
  });

  test('a run whose boot never starts the command (an image older than herd run): its watchdog ends it; exit 1 saying where its boot log is', async () => {
    const { sim, deps } = setup({ runs: { migrate: { neverStarts: true } } });
    const run = await runHerd(['run', 'staging', '--timeout', '1m', '--', 'migrate'], deps);
    const id = runInstances(sim)[0]!.id;
    expect(run.code).toBe(1);
    expect(run.err).toMatch(new RegExp(`^herd: instance ${id} is (shutting-down|terminated) and never reported \\(its boot log: /herd/shop/staging/boot, stream ${id}\\) after \\d+ s; the instance is terminated\\n$`));
    expect(sim.world.clock.now() - runInstances(sim)[0]!.launchedAt).toBeLessThan((1 + 15 + 1) * 60_000);
  });

  test('Ctrl-C asks; yes terminates the instance and records the run as interrupted', async () => {
    const { sim, deps, asked } = setup({ runs: { 'sleep 999': { lines: ['started'], seconds: 900 } }, answer: true, interruptAtPoll: 20 });
    const run = await runHerd(['run', 'staging', '--', 'sleep', '999'], deps);
    const id = runInstances(sim)[0]!.id;
    expect(asked).toEqual([`terminate the run on ${id}?`]);
    expect(run.code).toBe(1);
    expect(run.err).toMatch(/^herd: interrupted \(Ctrl-C\) after \d+ s; the instance is terminated\n$/);
    expect(['shutting-down', 'terminated']).toContain(runInstances(sim)[0]!.state);
    expect(actions(sim)[0]!.detail).toMatch(/: interrupted \(Ctrl-C\) after \d+ s, no exit code$/);
  });

  test('Ctrl-C answered no: detaches (exit 3), the instance goes on, how to follow and stop it is printed', async () => {
    const { sim, deps, asked } = setup({ runs: { 'sleep 999': { lines: ['started'], seconds: 900 } }, answer: false, interruptAtPoll: 20 });
    const run = await runHerd(['run', 'staging', '--', 'sleep', '999'], deps);
    const id = runInstances(sim)[0]!.id;
    expect(asked).toHaveLength(1);
    expect(run.code).toBe(3);
    expect(runInstances(sim)[0]!.state).toBe('running');
    expect(run.out).toContain(`detached: ${id} goes on\nfollow it: herd logs staging run --instance ${id} -f\n       or: aws logs tail /herd/shop/staging/run --log-stream-names ${id} --follow\nstop it:   aws ec2 terminate-instances --instance-ids ${id}\n`);
    expect(actions(sim)[0]!.detail).toMatch(/; the operator detached after \d+ s, it goes on$/);
  });

  test('Ctrl-C with no terminal to ask on: the instance is terminated', async () => {
    const { sim, deps } = setup({ runs: { 'sleep 999': { lines: ['started'], seconds: 900 } }, interruptAtPoll: 5 });
    const run = await runHerd(['run', 'staging', '--', 'sleep', '999'], deps);
    expect(run.code).toBe(1);
    expect(['shutting-down', 'terminated']).toContain(runInstances(sim)[0]!.state);
  });

  test('--detach: launches, prints how to follow and stop it, exits 3; the instance runs on and finishes by itself', async () => {
    const { sim, deps } = setup();
    const run = await runHerd(['run', 'staging', '--detach', '--', 'python', 'manage.py', 'createsuperuser', '--noinput'], deps);
    const [instance] = runInstances(sim);
    expect(run.code).toBe(3);
    expect(run.out).toContain(`follow it: herd logs staging run --instance ${instance!.id} -f\n`);
    expect(run.out).toContain(`stop it:   aws ec2 terminate-instances --instance-ids ${instance!.id}\n`);
    expect(instance!.state).toBe('pending');
    expect(actions(sim)[0]!.detail).toMatch(/^started `python manage\.py createsuperuser --noinput` as web on i-\w+ \(release r1, run-\S+\), detached$/);
    sim.world.cloud.advance(120);
    expect(['shutting-down', 'terminated']).toContain(instance!.state);
  });

  test('herd status lists a run instance still alive (a detached run, or one a dead CLI left), and none once it ended', async () => {
    const { sim, deps } = setup();
    await runHerd(['run', 'staging', '--detach', '--', 'python', 'manage.py', 'createsuperuser', '--noinput'], deps);
    const id = runInstances(sim)[0]!.id;
    const status = (...more: string[]) => runHerd(['status', 'staging', ...more], testDeps({ clients: () => sim.clients(), now: () => sim.world.clock.now() }));
    sim.world.cloud.advance(10); // DescribeInstances lists an instance launched seconds ago only after a while
    const during = await status();
    expect(during.out).toMatch(new RegExp(`\\nruns        ${id} (pending|running) \\(run-\\S+, launched [^)]+\\) — herd run instances; one whose CLI is gone stops at its --timeout; end it sooner with \`aws ec2 terminate-instances --instance-ids <id>\`\\n`));
    const json = JSON.parse((await status('--json')).out);
    expect(json.runs).toEqual([{ id, runId: expect.stringMatching(/^run-/), state: expect.stringMatching(/^(pending|running)$/), launchedAt: expect.any(String) }]);
    sim.world.cloud.advance(120);
    sim.world.cloud.advance(sim.world.cloud.timings.shutdownSeconds + 1);
    const after = await status();
    expect(after.out).not.toContain('runs ');
    expect(JSON.parse((await status('--json')).out).runs).toBeUndefined();
  });

  test('--during-deploy runs while a deploy holds the lock', async () => {
    const { sim, deps } = setup();
    sim.world.cloud.table.set('LOCK\u0000LOCK', { pk: 'LOCK', sk: 'LOCK', ...LOCK });
    const run = await runHerd(['run', 'staging', '--during-deploy', '--', 'python', 'manage.py', 'createsuperuser', '--noinput'], deps);
    expect(run.code).toBe(0);
    expect(runInstances(sim)).toHaveLength(1);
  });

  describe('refuses before any side effect, saying what was wrong', () => {
    const cases: [string, string[], (sim: SimulatedEnvironment) => void, string][] = [
      ['an unknown environment', ['run', 'qa', '--', 'true'], () => undefined,
        'unknown environment "qa"; configured environments: staging, production (herd.config.ts)'],
      ['no command', ['run', 'staging'], () => undefined,
        'no command given: put it after --, e.g. herd run staging -- python manage.py migrate --plan; nothing was changed'],
      ['a timeout that is not a duration', ['run', 'staging', '--timeout', '30', '--', 'true'], () => undefined,
        '--timeout "30" is not a duration from 1m to 6h: use a number with s, m or h, like 90s, 30m or 2h; nothing was changed'],
      ['a timeout over the limit', ['run', 'staging', '--timeout', '7h', '--', 'true'], () => undefined,
        '--timeout "7h" is not a duration from 1m to 6h: use a number with s, m or h, like 90s, 30m or 2h; nothing was changed'],
      ['a role herd does not run commands as', ['run', 'staging', '--role', 'release', '--', 'true'], () => undefined,
        '--role "release" is not a role herd runs commands as: use web or worker; nothing was changed'],
      ['a deploy holding the lock', ['run', 'staging', '--', 'true'], (sim) => sim.world.cloud.table.set('LOCK\u0000LOCK', { pk: 'LOCK', sk: 'LOCK', ...LOCK }),
        `${lockedMessage('staging', LOCK)}; herd run waits for deploys: run it after this one, or pass --during-deploy to run it now`],
    ];
    test.each(cases)('%s', async (_what, argv, arrange, message) => {
      const { sim, deps } = setup();
      arrange(sim);
      const before = footprint(sim);
      const run = await runHerd(argv, deps);
      expect(run).toEqual({ code: 2, out: '', err: `herd: ${message}\n` });
      expect(footprint(sim)).toEqual(before);
    });

    test('nothing serves yet', async () => {
      const { sim, deps } = setup({ spec: { web: 0, worker: 0, serving: 'none' } });
      const before = footprint(sim);
      const run = await runHerd(['run', 'staging', '--', 'true'], deps);
      expect(run.code).toBe(2);
      expect(run.err).toMatch(/^herd: nothing serves on staging yet \(current release: none, current image: [^)]+\): herd run starts the serving release; deploy one first with `herd deploy staging <app-dir>`; nothing was changed\n$/);
      expect(footprint(sim)).toEqual(before);
    });

    test('a stack deployed before the runner outputs existed', async () => {
      const { sim, deps } = setup();
      const stack = sim.world.cloud.stacks.get('herd-staging')!;
      const outputs = Object.fromEntries(Object.entries(sim.outputs()).filter(([k]) => !k.startsWith('Runner')));
      sim.world.cloud.stacks.set('herd-staging', { ...stack, outputs });
      const before = footprint(sim);
      const run = await runHerd(['run', 'staging', '--', 'true'], deps);
      expect(run).toEqual({ code: 2, out: '', err: 'herd: stack herd-staging has no runner outputs (RunnerInstanceProfileArn, RunnerRoleArn, RunnerSubnetIds); run npx cdk deploy herd-staging to bring it up to date; nothing was changed\n' });
      expect(footprint(sim)).toEqual(before);
    });
  });
});
