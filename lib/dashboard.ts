import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as elbv2 from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import { Construct } from 'constructs';
import { cacheMetric, cacheNodeIds } from './cache-alarms';
import type { Cache } from './cache';
import type { Database } from './database';
import type { Fleet } from './fleet';
import type { LoadBalancer } from './load-balancer';

/**
 * The dashboard's name: `herd-<app>-<env>`. CloudWatch allows letters, digits, `-` and `_`,
 * up to 255 characters (PutDashboard DashboardName); app and environment names are DNS-safe
 * and at most 32 characters each, so the name always fits.
 */
export function dashboardName(app: string, env: string): string {
  return `herd-${app}-${env}`;
}

export interface DashboardProps {
  readonly app: string;
  readonly environment: string;
  readonly loadBalancer: LoadBalancer;
  readonly fleets: readonly Fleet[];
  readonly database: Database;
  readonly cache: Cache;
  readonly cacheReplicas: number;
}

/**
 * One CloudWatch dashboard per environment: traffic, errors and latency at the load balancer,
 * the fleets, the database and the cache, one row each.
 */
export class Dashboard extends Construct {
  public readonly dashboard: cloudwatch.Dashboard;

  constructor(scope: Construct, id: string, props: DashboardProps) {
    super(scope, id);
    const minute = Duration.minutes(1);
    const five = Duration.minutes(5);
    const alb = props.loadBalancer.alb.metrics;
    const db = props.database.instance;
    const nodes = cacheNodeIds(props.cache.replicationGroup, props.cacheReplicas);
    const graph = (title: string, left: cloudwatch.IMetric[], right: cloudwatch.IMetric[] = []) =>
      new cloudwatch.GraphWidget({ title, left, right, width: 8, height: 6 });
    const fleetMetric = (fleet: Fleet, namespace: string, metricName: string, statistic: string) =>
      new cloudwatch.Metric({ namespace, metricName, dimensionsMap: { AutoScalingGroupName: fleet.autoScalingGroup.autoScalingGroupName }, statistic, period: minute, label: fleet.role });

    this.dashboard = new cloudwatch.Dashboard(this, 'Resource', {
      dashboardName: dashboardName(props.app, props.environment),
      defaultInterval: Duration.hours(3),
      widgets: [
        [
          graph('Requests', [alb.requestCount({ period: minute, statistic: 'Sum', label: 'requests' })]),
          graph('Errors', [
            alb.httpCodeTarget(elbv2.HttpCodeTarget.TARGET_4XX_COUNT, { period: minute, statistic: 'Sum', label: 'app 4xx' }),
            alb.httpCodeTarget(elbv2.HttpCodeTarget.TARGET_5XX_COUNT, { period: minute, statistic: 'Sum', label: 'app 5xx' }),
            alb.httpCodeElb(elbv2.HttpCodeElb.ELB_5XX_COUNT, { period: minute, statistic: 'Sum', label: 'load balancer 5xx' }),
          ]),
          graph('Latency (seconds)', [
            alb.targetResponseTime({ period: minute, statistic: 'p50', label: 'p50' }),
            alb.targetResponseTime({ period: minute, statistic: 'p99', label: 'p99' }),
          ]),
        ],
        [
          graph('Instances in service', props.fleets.map((f) => fleetMetric(f, 'AWS/AutoScaling', 'GroupInServiceInstances', 'Average'))),
          graph('Fleet CPU (%)', props.fleets.map((f) => fleetMetric(f, 'AWS/EC2', 'CPUUtilization', 'Average'))),
          graph('Unhealthy web targets', [props.loadBalancer.targetGroup.metrics.unhealthyHostCount({ period: minute, statistic: 'Maximum' })]),
        ],
        [
          graph('Database CPU (%) and connections', [db.metricCPUUtilization({ period: five, label: 'CPU %' })], [db.metricDatabaseConnections({ period: five, statistic: 'Maximum', label: 'connections' })]),
          graph('Database free storage (bytes)', [db.metricFreeStorageSpace({ period: five, statistic: 'Minimum', label: 'free storage' })]),
          graph('Database latency (seconds)', [
            db.metric('ReadLatency', { period: five, statistic: 'Average', label: 'read' }),
            db.metric('WriteLatency', { period: five, statistic: 'Average', label: 'write' }),
          ]),
        ],
        [
          graph('Cache memory used (%) and engine CPU (%)', nodes.flatMap((n, i) => [
            cacheMetric('DatabaseMemoryUsagePercentage', n, 'Maximum', five).with({ label: `node ${i + 1} memory` }),
            cacheMetric('EngineCPUUtilization', n, 'Average', five).with({ label: `node ${i + 1} engine CPU` }),
          ])),
          graph('Cache evictions', nodes.map((n, i) => cacheMetric('Evictions', n, 'Sum', five).with({ label: `node ${i + 1}` }))),
          graph('Cache hits and misses', nodes.flatMap((n, i) => [
            cacheMetric('CacheHits', n, 'Sum', five).with({ label: `node ${i + 1} hits` }),
            cacheMetric('CacheMisses', n, 'Sum', five).with({ label: `node ${i + 1} misses` }),
          ])),
        ],
      ],
    });
  }
}
