/**
 * Which alarms roll an instance refresh back (lib/alarms.ts): the stack builds herd's alarms
 * from the shared table and names only the 5xx alarm to the deploy step; the fake computes
 * the same alarms from traffic and target health; a slow-booting healthy release trips the
 * unhealthy-hosts alarm, which is why that alarm only notifies.
 */
import type { Template } from 'aws-cdk-lib/assertions';
import { HERD_ALARMS, HERD_ALARM_IDS } from '../../lib/alarms';
import { runSimulatedDeploy } from '../../lib/simulation/run';
import { createWorld, type WorldSpec } from '../../lib/simulation/world';
import defaultSettings from '../../herd.config';
import { resolveConfig } from '../../lib/config/validate';
import { buildApp } from '../support/app';

describe('the stack', () => {
  let template: Template;
  beforeAll(() => {
    template = buildApp().template('staging');
  });

  test('builds each of herd\'s alarms from the shared table, with the configured thresholds', () => {
    const config = resolveConfig(defaultSettings).environments.find((e) => e.name === 'staging')!;
    // The load balancer's alarms (the database, cache, NAT and deploy alarms have their own tests:
    // test/stacks/observability.test.ts).
    const alarms = Object.entries(template.findResources('AWS::CloudWatch::Alarm'))
      .filter(([, alarm]) => (alarm.Properties as { Namespace?: string }).Namespace === 'AWS/ApplicationELB');
    expect(alarms).toHaveLength(HERD_ALARM_IDS.length);
    for (const id of HERD_ALARM_IDS) {
      const shape = HERD_ALARMS[id];
      const found = alarms.find(([logicalId]) => logicalId.includes(id));
      expect([id, found?.[1].Properties]).toEqual([
        id,
        expect.objectContaining({
          MetricName: shape.metric,
          Namespace: 'AWS/ApplicationELB',
          Period: shape.periodSeconds,
          EvaluationPeriods: shape.evaluationPeriods,
          ComparisonOperator: shape.comparison,
          Threshold: shape.threshold(config.alarms),
          TreatMissingData: 'notBreaching',
          ...(shape.statistic === 'p99' ? { ExtendedStatistic: 'p99' } : { Statistic: shape.statistic }),
        }),
      ]);
    }
  });

  test('the deploy step\'s refreshes name only the 5xx alarm for auto-rollback', () => {
    const fn = Object.values(template.findResources('AWS::Lambda::Function', { Properties: { Description: 'herd staging: advances a deploy by one step' } }))[0];
    const json = JSON.stringify((fn?.Properties as { Environment: { Variables: { DEPLOY_ENVIRONMENT: unknown } } }).Environment.Variables.DEPLOY_ENVIRONMENT);
    const refs = [...json.matchAll(/"alarmNames\\":\[\\""?,\{"Ref":"(\w+)"\}/g)].map((m) => m[1]);
    expect(refs).toHaveLength(1);
    expect(refs[0]).toMatch(/Target5xx/);
    expect(json).not.toMatch(/"Ref":"\w*(UnhealthyHosts|Latency)\w*"/);
  });
});

describe('the fake\'s CloudWatch', () => {
  const alarm = (w: ReturnType<typeof createWorld>, id: string) => w.cloud.alarms.get(`herd-staging-${id.toLowerCase()}`)!;

  test('the 5xx alarm: one datapoint a minute (the Sum of 5xx answers), ALARM after two breaching minutes, OK after one that is not', () => {
    // r1 serves and answers 10% of 600 requests a minute with 5xx: 60 a minute, over the threshold of 50.
    const w = createWorld({ web: 2, serving: 'r1', releases: { r1: { errorRate: 0.1 } } });
    const a = alarm(w, 'Target5xx');
    w.cloud.advance(60 - ((w.clock.now() / 1000) % 60)); // to a minute's end: a partial first period
    w.cloud.advance(120);
    expect(a.datapoints.slice(-2)).toEqual([60, 60]);
    expect(a.state).toBe('ALARM');
    expect(a.history.at(-1)).toMatchObject({ state: 'ALARM', reason: expect.stringMatching(/^HTTPCode_Target_5XX_Count Sum over 2 period\(s\) of 60 s: \[\d+, 60\], threshold 50$/) });
    // The release stops failing: no 5xx is no datapoint, which does not breach.
    (w.cloud.releases as Record<string, object>).r1 = {};
    w.cloud.advance(60);
    expect(a.datapoints.at(-1)).toBeUndefined();
    expect(a.state).toBe('OK');
  });

  test('no requests reach the targets behind a maintenance page: no 5xx and no latency datapoints', () => {
    const w = createWorld({ web: 2, serving: 'r1', maintenanceOn: true, releases: { r1: { errorRate: 1, p99Seconds: 9 } } });
    w.cloud.advance(300);
    expect(alarm(w, 'Target5xx').datapoints.every((v) => v === undefined)).toBe(true);
    expect(alarm(w, 'Latency').datapoints.every((v) => v === undefined)).toBe(true);
    expect(alarm(w, 'Target5xx').state).toBe('OK');
  });

  test('a slow release\'s p99 trips the latency alarm after three minutes', () => {
    const w = createWorld({ web: 2, serving: 'r1', releases: { r1: { p99Seconds: 2.5 } } });
    w.cloud.advance(240);
    expect(alarm(w, 'Latency').state).toBe('ALARM');
    expect(alarm(w, 'Target5xx').state).toBe('OK');
  });
});

describe('a healthy release on a slow-booting fleet', () => {
  const world = (rollsBack?: WorldSpec['alarms']) =>
    createWorld({
      web: 4,
      worker: 1,
      serving: 'r1',
      timings: { healthCheckGracePeriodSeconds: 300 },
      releases: { r2: { appStartSeconds: 150 } },
      ...(rollsBack ? { alarms: rollsBack } : {}),
    });

  test('with herd\'s choice (5xx only) it rolls out, though the unhealthy-hosts alarm fires while new instances boot', async () => {
    const w = world();
    const run = await runSimulatedDeploy(w, { release: 'r2', actor: 'alice', deployId: 'deploy-0001' });
    expect(run.result.state?.outcome).toBe('succeeded');
    expect(w.cloud.alarms.get('herd-staging-unhealthyhosts')!.history.map((h) => h.state)).toContain('ALARM');
  });

  test('had the unhealthy-hosts alarm rolled refreshes back, the same release would have been rolled back', async () => {
    const w = world({ rollsBack: ['Target5xx', 'UnhealthyHosts'] });
    const run = await runSimulatedDeploy(w, { release: 'r2', actor: 'alice', deployId: 'deploy-0001' });
    expect(run.result.state?.outcome).toBe('failed');
    expect(run.result.state?.failure?.cause).toMatch(/Alarm herd-staging-unhealthyhosts is in ALARM state; rolling back/);
  });
});
