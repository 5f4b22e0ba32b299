import { Duration, Fn } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type * as elasticache from 'aws-cdk-lib/aws-elasticache';
import { Construct } from 'constructs';
import type { AlarmConfig } from './config/types';
import type { Notifications } from './notifications';

/**
 * The cache clusters (nodes) of a replication group with cluster mode disabled, which
 * ElastiCache names `<replication group id>-001`, `-002`, … (primary and replicas). ElastiCache
 * publishes host and engine metrics per node, with the `CacheClusterId` dimension.
 */
export function cacheNodeIds(replicationGroup: elasticache.CfnReplicationGroup, replicas: number): string[] {
  return Array.from({ length: 1 + replicas }, (_, i) => Fn.join('-', [replicationGroup.ref, String(i + 1).padStart(3, '0')]));
}

/** A Valkey engine metric of one node. */
export function cacheMetric(metricName: string, nodeId: string, statistic: string, period = Duration.minutes(5)): cloudwatch.Metric {
  return new cloudwatch.Metric({ namespace: 'AWS/ElastiCache', metricName, dimensionsMap: { CacheClusterId: nodeId }, statistic, period });
}

export interface CacheAlarmsProps {
  readonly replicationGroup: elasticache.CfnReplicationGroup;
  readonly replicas: number;
  readonly thresholds: AlarmConfig;
  readonly notifications: Notifications;
}

/**
 * Alarms on every node of the environment's Valkey cache, notifying the environment's topic:
 * memory used (DatabaseMemoryUsagePercentage: of maxmemory, what evictions follow), the
 * engine thread's CPU (EngineCPUUtilization: Valkey runs commands on one core, which the host's
 * CPUUtilization averages away) and evictions.
 */
export class CacheAlarms extends Construct {
  public readonly alarms: cloudwatch.Alarm[] = [];

  constructor(scope: Construct, id: string, props: CacheAlarmsProps) {
    super(scope, id);
    const t = props.thresholds;
    cacheNodeIds(props.replicationGroup, props.replicas).forEach((node, i) => {
      const n = i + 1;
      const add = (alarmId: string, alarmProps: cloudwatch.AlarmProps) => {
        this.alarms.push(props.notifications.notify(new cloudwatch.Alarm(this, `${alarmId}${n}`, { treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING, ...alarmProps })));
      };
      add('Memory', {
        alarmDescription: `Cache node ${n}: memory used above ${t.cacheMemoryPercent} % of maxmemory`,
        metric: cacheMetric('DatabaseMemoryUsagePercentage', node, 'Maximum'),
        threshold: t.cacheMemoryPercent,
        evaluationPeriods: 2,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      });
      add('EngineCpu', {
        alarmDescription: `Cache node ${n}: engine CPU above ${t.cacheCpuPercent} %`,
        metric: cacheMetric('EngineCPUUtilization', node, 'Average'),
        threshold: t.cacheCpuPercent,
        evaluationPeriods: 3,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      });
      add('Evictions', {
        alarmDescription: `Cache node ${n}: more than ${t.cacheEvictions} keys evicted in 5 minutes`,
        metric: cacheMetric('Evictions', node, 'Sum'),
        threshold: t.cacheEvictions,
        evaluationPeriods: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      });
    });
  }
}
