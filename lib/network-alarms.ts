import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import { Construct } from 'constructs';
import type { AlarmConfig } from './config/types';
import type { Notifications } from './notifications';

/** The NAT gateways of a VPC, in construct order (one per public subnet that has one). */
export function natGatewaysOf(vpc: ec2.Vpc): ec2.CfnNatGateway[] {
  return vpc.node.findAll().filter((c): c is ec2.CfnNatGateway => c instanceof ec2.CfnNatGateway);
}

/** A NAT gateway metric (AWS/NATGateway, dimension NatGatewayId). */
export function natMetric(metricName: string, natGateway: ec2.CfnNatGateway): cloudwatch.Metric {
  return new cloudwatch.Metric({ namespace: 'AWS/NATGateway', metricName, dimensionsMap: { NatGatewayId: natGateway.ref }, statistic: 'Sum', period: Duration.minutes(5) });
}

export interface NetworkAlarmsProps {
  readonly vpc: ec2.Vpc;
  readonly thresholds: AlarmConfig;
  readonly notifications: Notifications;
}

/**
 * Alarms on each NAT gateway, notifying the environment's topic: ErrorPortAllocation (the
 * gateway ran out of source ports: connections from the fleets to one destination fail) and
 * PacketsDropCount (packets the gateway dropped).
 */
export class NetworkAlarms extends Construct {
  public readonly alarms: cloudwatch.Alarm[] = [];

  constructor(scope: Construct, id: string, props: NetworkAlarmsProps) {
    super(scope, id);
    natGatewaysOf(props.vpc).forEach((nat, i) => {
      const n = i + 1;
      this.alarms.push(props.notifications.notify(new cloudwatch.Alarm(this, `PortAllocation${n}`, {
        alarmDescription: `NAT gateway ${n} could not allocate a source port: outbound connections fail`,
        metric: natMetric('ErrorPortAllocation', nat),
        threshold: 0,
        evaluationPeriods: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      })));
      this.alarms.push(props.notifications.notify(new cloudwatch.Alarm(this, `PacketsDropped${n}`, {
        alarmDescription: `NAT gateway ${n} dropped more than ${props.thresholds.natPacketsDropped} packets in 5 minutes`,
        metric: natMetric('PacketsDropCount', nat),
        threshold: props.thresholds.natPacketsDropped,
        evaluationPeriods: 2,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      })));
    });
  }
}
