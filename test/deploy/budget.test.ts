/**
 * Step Functions limits (REAL-AWS 12): an execution fails at 25,000 history events and at the
 * state machine's timeout, and no Catch runs for either. The worst case that configuration
 * validation accepts must stay below both, with margin.
 */
import { STEP_FUNCTIONS_HISTORY_LIMIT, stateMachineTimeoutSeconds, waitCost, worstCase, worstCaseOf } from '../../lambda/deploy/budget';
import { pollSeconds } from '../../lambda/deploy/step';
import type { DeployConfig, HerdSettings } from '../../lib/config/types';
import { resolveConfig } from '../../lib/config/validate';
import { runSimulatedDeploy } from '../../lib/simulation/run';
import { createWorld } from '../../lib/simulation/world';

/** The largest timeouts validation accepts, every other setting too. */
const LARGEST: HerdSettings = {
  app: 'shop',
  environments: [{
    name: 'production',
    profile: 'production',
    certificateArn: 'arn:aws:acm:eu-west-1:123456789012:certificate/0b5f3f4e-1111-2222-3333-444455556666',
    deploy: {
      holdMaintenanceMinutes: 240,
      maxFailedInstances: 50,
      timeouts: { bakeMinutes: 600, imageMinutes: 720, migrateMinutes: 600, rolloutMinutes: 720 },
    },
  }],
};

function largest(): DeployConfig {
  return resolveConfig(LARGEST).environments[0]!.deploy;
}

describe('one execution of the largest deploy validation accepts', () => {
  test('validation refuses anything larger', () => {
    expect(() => resolveConfig({ ...LARGEST, environments: [{ ...LARGEST.environments[0]!, deploy: { timeouts: { imageMinutes: 721 } } }] })).toThrow(
      'production.deploy.timeouts.imageMinutes (721) must be <= 720 minutes (a longer wait would not fit one Step Functions execution)',
    );
    expect(() => resolveConfig({ ...LARGEST, environments: [{ ...LARGEST.environments[0]!, deploy: { timeouts: { rolloutMinutes: 721 } } }] })).toThrow(/rolloutMinutes \(721\) must be <= 720/);
  });

  test.each(['rolling', 'full'] as const)('%s: every wait at its deadline stays under 25,000 history events and the timeout, with margin', (strategy) => {
    const deploy = largest();
    const worst = worstCaseOf(deploy, strategy);
    const timeout = stateMachineTimeoutSeconds(deploy);
    const margin = 1 - worst.events / STEP_FUNCTIONS_HISTORY_LIMIT;
    process.stdout.write(
      `worst case, ${strategy}: ${worst.events} history events of ${STEP_FUNCTIONS_HISTORY_LIMIT} (margin ${Math.round(margin * 100)} %), ` +
        `${Math.round(worst.seconds / 3600)} h of a ${Math.round(timeout / 3600)} h timeout (margin ${Math.round((1 - worst.seconds / timeout) * 100)} %)\n`,
    );
    expect(worst.events).toBeLessThan(STEP_FUNCTIONS_HISTORY_LIMIT * 0.75);
    expect(worst.seconds).toBeLessThan(timeout * 0.85);
    // Every long wait polls a hundred-odd times at most, not once per 15 seconds (the hold, once a minute).
    for (const w of worst.waits) expect([w.step, w.polls <= (w.step === 'hold.wait' ? 240 : 200)]).toEqual([w.step, true]);
  });

  test('the same waits polled every 15 seconds, as before, would not fit', () => {
    const deploy = largest();
    const naive = worstCase(deploy).waits.reduce((n, w) => n + Math.ceil((w.minutes * 60) / w.baseSeconds), 0) * 9;
    expect(naive).toBeGreaterThan(STEP_FUNCTIONS_HISTORY_LIMIT);
  });

  test('polls start at their base interval and space out to a tenth of the time waited, at most 10 minutes', () => {
    expect([0, 60, 150, 300, 1000, 6000, 40000].map((s) => pollSeconds(15, s))).toEqual([15, 15, 15, 30, 100, 600, 600]);
    // 10 polls of 20 s, then about 31 growing by a tenth (200 s → 1 h), the last overshooting the deadline by its interval.
    expect(waitCost(60, 20)).toEqual({ polls: 41, seconds: 3949 });
  });
});

describe('the model against a simulated execution', () => {
  test('an image that takes 11 of its 12 hours: the deploy succeeds within the model\'s history and time', async () => {
    const world = createWorld({
      web: 2,
      worker: 1,
      serving: 'r1',
      timings: { imageSeconds: 11 * 3600 },
      deploy: { timeouts: { bakeMinutes: 60, imageMinutes: 720, migrateMinutes: 30, rolloutMinutes: 60 } },
    });
    const run = await runSimulatedDeploy(world, { release: 'r2', actor: 'alice', deployId: 'deploy-0001' });
    expect(run.result.status).toBe('SUCCEEDED');
    const worst = worstCase(world.env.deploy);
    expect(run.result.historyEvents).toBeLessThan(worst.events);
    expect(run.result.seconds).toBeLessThan(stateMachineTimeoutSeconds(world.env.deploy));
    // 11 hours of image wait cost about a hundred polls (about 9 events each), not 2,000.
    const polls = run.states.filter((s) => s.step === 'bake.waitImage' && s.waitSeconds > 0).length;
    expect(polls).toBeGreaterThan(50);
    expect(polls).toBeLessThan(150);
  });
});
