/**
 * herd's load-balancer alarms, in one place: the stack builds them from this table
 * (`load-balancer.ts`) and the fake cloud evaluates the same table over the metrics it
 * computes (`simulation/services/cloudwatch.ts`), so a change of period, statistic or
 * comparison reaches both.
 *
 * Which alarms roll an instance refresh back (`rollsBack`): only the app answering with 5xx.
 * A refresh launches new instances on purpose; while a slow-booting app warms up, its targets
 * fail health checks and UnHealthyHostCount rises for minutes, and the p99 latency of the
 * first requests to a cold app can be high. Those alarms would roll a healthy release back.
 * Auto Scaling already refuses to go on with instances that never turn healthy (the refresh
 * waits for health, herd's timeout fails it and compensates), so they add nothing to the
 * rollback but false positives; they still notify the environment's topic.
 */
import type { AlarmConfig } from './config/types';

/** The alarms herd creates for an environment, by construct id. */
export type HerdAlarmId = 'Target5xx' | 'UnhealthyHosts' | 'Latency';

export interface HerdAlarmShape {
  readonly description: string;
  /** The load balancer or target group metric (CloudWatch namespace AWS/ApplicationELB). */
  readonly metric: 'HTTPCode_Target_5XX_Count' | 'UnHealthyHostCount' | 'TargetResponseTime';
  readonly statistic: 'Sum' | 'Maximum' | 'p99';
  readonly periodSeconds: number;
  /** Consecutive breaching periods before ALARM (datapoints to alarm = evaluation periods). */
  readonly evaluationPeriods: number;
  readonly comparison: 'GreaterThanOrEqualToThreshold' | 'GreaterThanThreshold';
  /** The configured threshold. */
  readonly threshold: (config: AlarmConfig) => number;
  /** Whether an instance refresh with auto-rollback names this alarm. */
  readonly rollsBack: boolean;
}

export const HERD_ALARMS: Readonly<Record<HerdAlarmId, HerdAlarmShape>> = {
  Target5xx: {
    description: 'The app answers with 5xx errors',
    metric: 'HTTPCode_Target_5XX_Count',
    statistic: 'Sum',
    periodSeconds: 60,
    evaluationPeriods: 2,
    comparison: 'GreaterThanOrEqualToThreshold',
    threshold: (c) => c.target5xxPerMinute,
    rollsBack: true,
  },
  UnhealthyHosts: {
    description: 'Web targets fail their health check',
    metric: 'UnHealthyHostCount',
    statistic: 'Maximum',
    periodSeconds: 60,
    evaluationPeriods: 3,
    comparison: 'GreaterThanThreshold',
    threshold: (c) => c.unhealthyHosts,
    rollsBack: false,
  },
  Latency: {
    description: 'p99 response time of the app is high',
    metric: 'TargetResponseTime',
    statistic: 'p99',
    periodSeconds: 60,
    evaluationPeriods: 3,
    comparison: 'GreaterThanThreshold',
    threshold: (c) => c.latencyP99Seconds,
    rollsBack: false,
  },
};

export const HERD_ALARM_IDS = Object.keys(HERD_ALARMS) as HerdAlarmId[];

/** Whether a datapoint breaches an alarm's threshold. */
export function breaches(shape: Pick<HerdAlarmShape, 'comparison'>, value: number, threshold: number): boolean {
  return shape.comparison === 'GreaterThanOrEqualToThreshold' ? value >= threshold : value > threshold;
}
