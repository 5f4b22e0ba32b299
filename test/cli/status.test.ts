/**
 * `herd status` while a `full` deploy holds processes it suspended itself: no advice to
 * resume them (the deploy resumes them); an operator's own suspensions still warn.
 */
import { renderStatus, type EnvironmentStatus } from '../../lib/cli/commands/status';
import { appDirectory } from './support/app';
import { runHerd, testDeps } from './support/harness';
import { SimulatedEnvironment } from './support/simulated';

describe('herd status during a full deploy', () => {
  test('says the deploy holds the processes it suspended, and never advises resuming them', async () => {
    const sim = new SimulatedEnvironment({ web: 2, worker: 1, serving: 'r1' });
    const deps = () => testDeps({ clients: () => sim.clients(), now: () => sim.world.clock.now(), sleep: () => sim.sleep() });
    const started = await runHerd(['deploy', 'staging', appDirectory('full'), '--strategy', 'full', '--detach'], deps());
    expect(started.code).toBe(3);
    let status = await runHerd(['status', 'staging', '--json'], deps());
    for (let i = 0; i < 400 && !/"heldByDeploy"/.test(status.out); i++) {
      await sim.run(15);
      status = await runHerd(['status', 'staging', '--json'], deps());
    }
    const json = JSON.parse(status.out) as EnvironmentStatus;
    const web = json.groups.find((g) => g.role === 'web')!;
    expect(web.heldByDeploy).toEqual(['AZRebalance', 'AlarmNotification', 'ScheduledActions']);
    const text = await runHerd(['status', 'staging'], deps());
    expect(text.err).toBe('');
    expect(text.out).not.toContain('autoscaling resume');
    expect(text.out).toMatch(
      new RegExp(`^note: web group herd-staging-web: AZRebalance, AlarmNotification, ScheduledActions suspended by deploy ${json.lock!.deployId} for its replacement \\(it resumes them when it ends; do not resume them yourself\\)$`, 'm'),
    );
    await sim.finish();
  });
});

describe('herd status and the dashboard', () => {
  test('prints the stack\'s DashboardUrl output under the environment line', async () => {
    const sim = new SimulatedEnvironment({ web: 1, worker: 1, serving: 'r1' });
    const url = 'https://console.aws.amazon.com/cloudwatch/home?region=eu-west-1#dashboards/dashboard/herd-mootube-staging';
    const stack = sim.world.cloud.stacks.get('herd-staging')!;
    sim.world.cloud.stacks.set('herd-staging', { ...stack, outputs: { ...stack.outputs, DashboardUrl: url } });
    const deps = () => testDeps({ clients: () => sim.clients(), now: () => sim.world.clock.now(), sleep: () => sim.sleep() });
    const json = JSON.parse((await runHerd(['status', 'staging', '--json'], deps())).out) as EnvironmentStatus;
    expect(json.dashboard).toBe(url);
    const text = await runHerd(['status', 'staging'], deps());
    expect(text.out).toMatch(new RegExp(`^environment staging  \\S+\ndashboard   ${url.replace(/[.?]/g, '\\$&')}$`, 'm'));
  });
});

describe('renderStatus', () => {
  const base: EnvironmentStatus = {
    environment: 'staging',
    url: 'http://x',
    instances: [],
    groups: [{ role: 'web', name: 'herd-staging-web', desired: 2, min: 2, max: 4, suspended: ['AZRebalance', 'Launch'], heldByDeploy: ['AZRebalance'] }],
    lock: { deployId: 'd1', actor: 'alice', release: 'r2', since: '2026-11-05T10:00:00Z' },
    refreshes: [],
    maintenance: { on: false },
  };

  test('warns about an operator\'s suspensions only, and notes the deploy\'s', () => {
    const lines = renderStatus(base).split('\n');
    expect(lines[0]).toBe('!! WARNING: web group herd-staging-web has suspended processes: Launch — resume with `herd autoscaling resume staging`');
    expect(lines[1]).toBe('note: web group herd-staging-web: AZRebalance suspended by deploy d1 for its replacement (it resumes them when it ends; do not resume them yourself)');
  });

  test('shows the dashboard under the environment line when the stack has one, and no line when it has none', () => {
    const url = 'https://console.aws.amazon.com/cloudwatch/home?region=eu-west-1#dashboards/dashboard/herd-mootube-staging';
    const lines = renderStatus({ ...base, dashboard: url }).split('\n');
    expect(lines[lines.indexOf('environment staging  http://x') + 1]).toBe(`dashboard   ${url}`);
    expect(renderStatus(base)).not.toContain('dashboard');
  });

  test('a deploy that needs attention: herd repair resumes them', () => {
    const text = renderStatus({ ...base, lock: { ...base.lock!, needsAttention: 'compensation failed' } });
    expect(text).toContain('note: web group herd-staging-web: AZRebalance suspended by deploy d1 for its replacement (`herd repair staging` resumes them)');
  });
});
