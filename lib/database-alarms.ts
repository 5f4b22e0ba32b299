import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as rds from 'aws-cdk-lib/aws-rds';
import { Construct } from 'constructs';
import type { AlarmConfig, DatabaseConfig } from './config/types';
import type { Notifications } from './notifications';

const GIB = 1024 ** 3;

/** Whether an RDS class is burstable (db.t*), the only ones that earn and spend CPU credits. */
export function isBurstable(instanceType: string): boolean {
  return /^t\d/.test(instanceType.replace(/^db\./, ''));
}

/**
 * The free-storage threshold, GiB. Storage autoscaling grows the volume whenever free space
 * stays under 10 % of the allocation (and 6 hours passed since the last change) until
 * `maxAllocatedStorageGiB`; RDS publishes no AllocatedStorage metric, so the alarm cannot
 * compare free space with the current allocation. It alarms below `databaseFreeStoragePercent`
 * of the ceiling (what is left once the volume cannot grow), capped at half of what autoscaling
 * keeps free at the initial allocation: a threshold above that would fire on a healthy small
 * volume that autoscaling is about to grow. Free space under the threshold means autoscaling
 * has reached its ceiling or cannot keep up with the growth; either way an operator acts
 * (raise the ceiling, clean up).
 */
export function freeStorageThresholdGiB(database: Pick<DatabaseConfig, 'allocatedStorageGiB' | 'maxAllocatedStorageGiB'>, alarms: Pick<AlarmConfig, 'databaseFreeStoragePercent'>): number {
  const ofCeiling = (database.maxAllocatedStorageGiB * alarms.databaseFreeStoragePercent) / 100;
  return Math.min(ofCeiling, database.allocatedStorageGiB * 0.05);
}

export interface DatabaseAlarmsProps {
  readonly instance: rds.DatabaseInstance;
  readonly settings: DatabaseConfig;
  readonly thresholds: AlarmConfig;
  readonly notifications: Notifications;
}

/**
 * Alarms on the environment's PostgreSQL, notifying the environment's topic (never rolling a
 * deploy back: `alarms.ts`). No replica-lag alarm: a Multi-AZ DB instance replicates to its
 * standby synchronously and publishes no ReplicaLag (that metric is a read replica's, and herd
 * runs none).
 */
export class DatabaseAlarms extends Construct {
  public readonly alarms: cloudwatch.Alarm[] = [];

  constructor(scope: Construct, id: string, props: DatabaseAlarmsProps) {
    super(scope, id);
    const { instance, thresholds: t } = props;
    const period = Duration.minutes(5);
    const add = (alarmId: string, alarmProps: cloudwatch.AlarmProps) => {
      this.alarms.push(props.notifications.notify(new cloudwatch.Alarm(this, alarmId, { treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING, ...alarmProps })));
    };
    add('Cpu', {
      alarmDescription: `Database CPU above ${t.databaseCpuPercent} % for 15 minutes`,
      metric: instance.metricCPUUtilization({ period, statistic: 'Average' }),
      threshold: t.databaseCpuPercent,
      evaluationPeriods: 3,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
    });
    if (isBurstable(props.settings.instanceType)) {
      // RDS runs db.t3 and db.t4g in Unlimited mode (RDS pricing page, "T3/T4g CPU credits"):
      // an empty balance is not throttled but charged per vCPU-hour above the baseline.
      add('CpuCredits', {
        alarmDescription: `Database CPU credit balance below ${t.databaseCpuCreditBalance}: the burstable instance runs above its baseline and is about to be charged for surplus credits (consider a larger or non-burstable class)`,
        metric: instance.metric('CPUCreditBalance', { period, statistic: 'Minimum' }),
        threshold: t.databaseCpuCreditBalance,
        evaluationPeriods: 3,
        comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
      });
    }
    const freeGiB = freeStorageThresholdGiB(props.settings, t);
    add('FreeStorage', {
      alarmDescription: `Database free storage below ${Number(freeGiB.toFixed(2))} GiB (autoscaling ceiling ${props.settings.maxAllocatedStorageGiB} GiB reached or not keeping up)`,
      metric: instance.metricFreeStorageSpace({ period, statistic: 'Minimum' }),
      threshold: Math.round(freeGiB * GIB),
      evaluationPeriods: 2,
      comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
    });
    add('Connections', {
      alarmDescription: `More than ${t.databaseConnections} database connections`,
      metric: instance.metricDatabaseConnections({ period, statistic: 'Maximum' }),
      threshold: t.databaseConnections,
      evaluationPeriods: 2,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
    });
  }
}
