import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import type { Notifications } from './notifications';

export interface DeployAlarmsProps {
  /** The deploy step's state machine. */
  readonly stateMachine: sfn.IStateMachine;
  readonly notifications: Notifications;
}

/**
 * Alarms on the deploy state machine's executions that fail or time out (AWS/States
 * ExecutionsFailed, ExecutionsTimedOut), notifying the environment's topic. The deploy step
 * reports its own outcome there too; these alarms also catch the executions that end before
 * it can (a Lambda or Step Functions failure, the execution's overall time limit).
 */
export class DeployAlarms extends Construct {
  public readonly alarms: cloudwatch.Alarm[];

  constructor(scope: Construct, id: string, props: DeployAlarmsProps) {
    super(scope, id);
    const options = { period: Duration.minutes(5), statistic: 'Sum' };
    const alarm = (alarmId: string, description: string, metric: cloudwatch.IMetric) =>
      props.notifications.notify(new cloudwatch.Alarm(this, alarmId, {
        alarmDescription: description,
        metric,
        threshold: 1,
        evaluationPeriods: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      }));
    this.alarms = [
      alarm('ExecutionsFailed', 'A deploy execution failed', props.stateMachine.metricFailed(options)),
      alarm('ExecutionsTimedOut', 'A deploy execution timed out', props.stateMachine.metricTimedOut(options)),
    ];
  }
}
