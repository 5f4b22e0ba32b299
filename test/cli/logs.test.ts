/**
 * `herd logs` against the simulated environment: lines of every process and instance in
 * time order (through FilterLogEvents' pages), `--grep`, `--since`, `--instance`, `-f`
 * until Ctrl-C, and the refusals (exact message, no log read). The fake's FilterLogEvents
 * itself is as strict as its API reference.
 */
import { CloudWatchLogsClient, FilterLogEventsCommand } from '@aws-sdk/client-cloudwatch-logs';
import { FOLLOW_POLL_MS } from '../../lib/cli/commands/logs';
import { appendLogEvents, LOG_PAGE_EVENTS } from '../../lib/simulation/services/logs';
import { fakeClient } from '../../lib/simulation/transport';
import { TAGS } from '../../lib/names';
import { runHerd, testDeps } from './support/harness';
import { OPERATOR_PRINCIPALS, SimulatedEnvironment } from './support/simulated';

function setup() {
  const sim = new SimulatedEnvironment({ web: 2, worker: 1, serving: 'r1' });
  const cloud = sim.world.cloud;
  const [web1, web2] = cloud.groups.get(sim.world.env.fleets.web.autoScalingGroupName)!.instances.map((i) => i.id) as [string, string];
  const [worker1] = cloud.groups.get(sim.world.env.fleets.worker!.autoScalingGroupName)!.instances.map((i) => i.id) as [string];
  const t0 = cloud.now();
  const at = (secondsAgo: number) => t0 - secondsAgo * 1000;
  const write = (process: string, stream: string, events: [number, string][]) =>
    appendLogEvents(cloud, `/herd/shop/staging/${process}`, stream, events.map(([secondsAgo, message]) => ({ timestamp: at(secondsAgo), message })));
  const deps = (sleep?: (ms: number) => Promise<void>) =>
    testDeps({ clients: () => sim.clients(OPERATOR_PRINCIPALS['read-only']), now: () => cloud.now(), ...(sleep ? { sleep } : {}) });
  const filterCalls = () => cloud.callCounts()['logs:FilterLogEvents'] ?? 0;
  const iso = (secondsAgo: number) => new Date(at(secondsAgo)).toISOString();
  return { sim, cloud, web1, web2, worker1, write, deps, filterCalls, iso, at };
}

describe('herd logs', () => {
  test('prints the lines of every process and instance in time order, each prefixed with time, instance and process, across pages', async () => {
    const { web1, web2, worker1, write, deps, filterCalls, iso } = setup();
    write('web', web1, [[300, 'GET / 200'], [240, 'GET /cart 200'], [120, 'GET /pay 500']]);
    write('web', web2, [[280, 'GET /a 200'], [60, 'GET /b 200']]);
    write('worker', worker1, [[290, 'job 1 started'], [200, 'job 1 done'], [30, 'job 2 started']]);
    const run = await runHerd(['logs', 'staging'], deps());
    expect({ code: run.code, err: run.err }).toEqual({ code: 0, err: '' });
    expect(run.out).toBe(
      [
        `${iso(300)} ${web1} web | GET / 200`,
        `${iso(290)} ${worker1} worker | job 1 started`,
        `${iso(280)} ${web2} web | GET /a 200`,
        `${iso(240)} ${web1} web | GET /cart 200`,
        `${iso(200)} ${worker1} worker | job 1 done`,
        `${iso(120)} ${web1} web | GET /pay 500`,
        `${iso(60)} ${web2} web | GET /b 200`,
        `${iso(30)} ${worker1} worker | job 2 started`,
        '',
      ].join('\n'),
    );
    // 5 web events need 2 pages of the fake's 3; worker 1; release and boot have no group (1 call each).
    expect(LOG_PAGE_EVENTS).toBe(3);
    expect(filterCalls()).toBe(5);
  });

  test('one process, --json: one object per line', async () => {
    const { web1, worker1, write, deps, iso, at } = setup();
    write('web', web1, [[100, 'GET / 200']]);
    write('worker', worker1, [[90, 'job done']]);
    const run = await runHerd(['logs', 'staging', 'worker', '--json'], deps());
    expect(run.code).toBe(0);
    const lines = run.out.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines).toEqual([{ time: iso(90), timestamp: at(90), instance: worker1, process: 'worker', stream: worker1, message: 'job done', eventId: expect.stringMatching(/^\d{56}$/) }]);
  });

  test('--grep keeps the lines containing the exact text, quotes and backslashes included', async () => {
    const { web1, write, deps, iso } = setup();
    write('web', web1, [[50, 'user said "hi" at C:\\tmp'], [40, 'user said hi'], [30, 'USER SAID "HI" at C:\\tmp'], [20, 'again: user said "hi" at C:\\tmp!']]);
    const run = await runHerd(['logs', 'staging', '--grep', 'said "hi" at C:\\tmp'], deps());
    expect(run.out).toBe(`${iso(50)} ${web1} web | user said "hi" at C:\\tmp\n${iso(20)} ${web1} web | again: user said "hi" at C:\\tmp!\n`);
  });

  test('--since: 10 minutes by default, a duration, or an ISO time', async () => {
    const { web1, write, deps, iso, at } = setup();
    write('web', web1, [[7200, 'two hours ago'], [1200, 'twenty minutes ago'], [300, 'five minutes ago']]);
    expect((await runHerd(['logs', 'staging'], deps())).out).toBe(`${iso(300)} ${web1} web | five minutes ago\n`);
    expect((await runHerd(['logs', 'staging', '--since', '30m'], deps())).out).toBe(`${iso(1200)} ${web1} web | twenty minutes ago\n${iso(300)} ${web1} web | five minutes ago\n`);
    expect((await runHerd(['logs', 'staging', '--since', '1d'], deps())).out.split('\n')).toHaveLength(4);
    expect((await runHerd(['logs', 'staging', '--since', new Date(at(1200)).toISOString()], deps())).out.split('\n')).toHaveLength(3);
  });

  test('--instance keeps one instance\'s lines, its cloud-init output shown as process cloud-init', async () => {
    const { web1, web2, write, deps, iso } = setup();
    write('web', web1, [[50, 'GET / 200']]);
    write('web', web2, [[45, 'GET /other 200']]);
    write('boot', web1, [[60, 'herd-boot: starting web']]);
    write('boot', `${web1}-cloud-init`, [[70, 'Cloud-init v. 22.2.2 running']]);
    write('boot', web2, [[65, 'herd-boot: starting web']]);
    const run = await runHerd(['logs', 'staging', '--instance', web1], deps());
    expect(run.out).toBe(
      [`${iso(70)} ${web1} cloud-init | Cloud-init v. 22.2.2 running`, `${iso(60)} ${web1} boot | herd-boot: starting web`, `${iso(50)} ${web1} web | GET / 200`, ''].join('\n'),
    );
  });

  test('-f prints the lines written while it polls, each once, and ends with 0 on Ctrl-C', async () => {
    const { cloud, web1, worker1, write, deps, iso } = setup();
    write('web', web1, [[30, 'before']]);
    const sleeps: number[] = [];
    const expected = [`${iso(30)} ${web1} web | before`];
    const writeNow = (process: string, stream: string, msAgo: number, message: string) => {
      const timestamp = cloud.now() - msAgo;
      appendLogEvents(cloud, `/herd/shop/staging/${process}`, stream, [{ timestamp, message }]);
      expected.push(`${new Date(timestamp).toISOString()} ${stream} ${process} | ${message}`);
    };
    const d = deps(async (ms) => {
      sleeps.push(ms);
      cloud.advance(ms / 1000);
      // Written while -f waits: a line now; then a late one (an older timestamp the agent ships later) and a new one; then Ctrl-C.
      if (sleeps.length === 1) writeNow('worker', worker1, 0, 'during 1');
      if (sleeps.length === 2) {
        writeNow('web', web1, 5000, 'late but new');
        writeNow('web', web1, 0, 'during 2');
      }
      if (sleeps.length === 4) d.interrupt();
    });
    const run = await runHerd(['logs', 'staging', '-f'], d);
    expect({ code: run.code, err: run.err }).toEqual({ code: 0, err: '' });
    expect(run.out).toBe(`${expected.join('\n')}\n`);
    expect(sleeps).toEqual([FOLLOW_POLL_MS, FOLLOW_POLL_MS, FOLLOW_POLL_MS, FOLLOW_POLL_MS]);
  });
});

describe('herd logs refuses, before reading any log', () => {
  test.each([
    [['--since', 'yesterday'], '--since must be a duration (30s, 10m, 2h, 1d) or an ISO time (2026-11-05T09:30:00Z) (received "yesterday")'],
    [['--since', '0m'], '--since must be a positive duration (received "0m"); e.g. 30s, 10m, 2h, 1d'],
    [['--since', '10w'], '--since must be a duration (30s, 10m, 2h, 1d) or an ISO time (2026-11-05T09:30:00Z) (received "10w")'],
    [['--grep', ''], '--grep needs a text to search for (received an empty one)'],
    [['--grep', 'a\nb'], '--grep must be one line (received "a\\nb"): log events are searched line by line'],
    [['--grep', 'x'.repeat(501)], '--grep is at most 500 characters (received 501)'],
    [['--instance', 'web-1'], '--instance must be an EC2 instance id like i-0123456789abcdef0 (received "web-1")'],
  ].map(([args, message]) => [(args as string[]).map((a) => (a.length > 20 ? `<${a.length} characters>` : JSON.stringify(a))).join(' '), args, message] as const))('fails when %s', async (_label, args, message) => {
    const { deps, filterCalls, cloud } = setup();
    const run = await runHerd(['logs', 'staging', ...args], deps());
    expect({ code: run.code, err: run.err, out: run.out }).toEqual({ code: 2, err: `herd: ${message}\n`, out: '' });
    expect(filterCalls()).toBe(0);
    expect(cloud.calls).toEqual([]);
  });

  test('fails when --since is in the future', async () => {
    const { deps, filterCalls, cloud } = setup();
    const future = new Date(cloud.now() + 60_000).toISOString();
    const run = await runHerd(['logs', 'staging', '--since', future], deps());
    expect({ code: run.code, err: run.err }).toEqual({ code: 2, err: `herd: --since ${future} is in the future (now is ${new Date(cloud.now()).toISOString()}); give a time in the past\n` });
    expect(filterCalls()).toBe(0);
  });

  test('fails when the process is unknown, listing the serving release\'s processes, release and boot', async () => {
    const { deps, filterCalls } = setup();
    const run = await runHerd(['logs', 'staging', 'cron'], deps());
    expect({ code: run.code, err: run.err }).toEqual({ code: 2, err: 'herd: unknown process "cron" on staging; processes with logs (release r1): web, worker, release, boot\n' });
    expect(filterCalls()).toBe(0);
  });

  test('knows the processes from the serving image\'s herd:processes tag, or the fleets when it has none', async () => {
    const { cloud, deps, write, web1, iso } = setup();
    const image = cloud.images.get(cloud.parameters.get('/herd/shop/staging/current-image')!)!;
    image.tags[TAGS.processes] = 'web worker clock';
    write('clock', web1, [[10, 'tick']]);
    expect((await runHerd(['logs', 'staging', 'clock'], deps())).out).toBe(`${iso(10)} ${web1} clock | tick\n`);
    expect((await runHerd(['logs', 'staging', 'cron'], deps())).err).toBe('herd: unknown process "cron" on staging; processes with logs (release r1): web, worker, clock, release, boot\n');
    delete image.tags[TAGS.processes];
    expect((await runHerd(['logs', 'staging', 'clock'], deps())).err).toBe('herd: unknown process "clock" on staging; processes with logs (release r1): web, worker, release, boot\n');
  });

  test('fails when --instance names another environment\'s instance', async () => {
    const { cloud, deps, filterCalls } = setup();
    const other = cloud.newInstance({ imageId: 'ami-0', instanceType: 't3.small', tags: { [TAGS.app]: 'shop', [TAGS.environment]: 'production' }, userData: '', shutdownBehavior: 'terminate', state: 'running' });
    const run = await runHerd(['logs', 'staging', '--instance', other], deps());
    expect({ code: run.code, err: run.err }).toEqual({ code: 2, err: `herd: instance ${other} is not an instance of shop/staging: it belongs to shop/production; \`herd status staging\` lists its instances\n` });
    expect(filterCalls()).toBe(0);
  });
});

describe('the fake FilterLogEvents', () => {
  function client() {
    const { cloud, web1, write } = setup();
    write('web', web1, [[10, 'a'], [9, 'b'], [8, 'c'], [7, 'd']]);
    return { logs: fakeClient(CloudWatchLogsClient, cloud, 'logs'), cloud };
  }

  test('pages: a caller that ignores nextToken misses events; a token of another query is refused', async () => {
    const { logs } = client();
    const first = await logs.send(new FilterLogEventsCommand({ logGroupName: '/herd/shop/staging/web' }));
    expect(first.events?.map((e) => e.message)).toEqual(['a', 'b', 'c']);
    const second = await logs.send(new FilterLogEventsCommand({ logGroupName: '/herd/shop/staging/web', nextToken: first.nextToken }));
    expect(second.events?.map((e) => e.message)).toEqual(['d']);
    expect(second.nextToken).toBeUndefined();
    await expect(logs.send(new FilterLogEventsCommand({ logGroupName: '/herd/shop/staging/web', filterPattern: 'a', nextToken: first.nextToken }))).rejects.toThrow('The specified nextToken is invalid.');
  });

  test('refuses names and a prefix together, a bad limit, and a missing group', async () => {
    const { logs } = client();
    await expect(logs.send(new FilterLogEventsCommand({ logGroupName: '/herd/shop/staging/web', logStreamNames: ['x'], logStreamNamePrefix: 'x' }))).rejects.toMatchObject({ name: 'InvalidParameterException' });
    await expect(logs.send(new FilterLogEventsCommand({ logGroupName: '/herd/shop/staging/web', limit: 0 }))).rejects.toMatchObject({ name: 'InvalidParameterException' });
    await expect(logs.send(new FilterLogEventsCommand({ logGroupName: '/herd/shop/staging/nope' }))).rejects.toMatchObject({ name: 'ResourceNotFoundException' });
  });

  test('startTime and endTime are inclusive milliseconds', async () => {
    const { logs, cloud } = client();
    const res = await logs.send(new FilterLogEventsCommand({ logGroupName: '/herd/shop/staging/web', startTime: cloud.now() - 9000, endTime: cloud.now() - 8000 }));
    expect(res.events?.map((e) => e.message)).toEqual(['b', 'c']);
  });
});
