import { Duration } from 'aws-cdk-lib';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import * as eventsTargets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as logs from 'aws-cdk-lib/aws-logs';
import type * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import type * as sns from 'aws-cdk-lib/aws-sns';
import { Stack } from 'aws-cdk-lib';
import { Construct } from 'constructs';
import { BundledFunction } from './bundled-function';
import { acknowledge } from './nag';

export interface RotationRestartProps {
  readonly environment: string;
  /** The secrets whose rotation the fleets must load (the application's database login, the cache's AUTH token). */
  readonly secrets: readonly secretsmanager.ISecret[];
  readonly stateMachine: sfn.IStateMachine;
  readonly table: dynamodb.ITable;
  readonly topic: sns.ITopic;
  readonly currentReleaseParameter: string;
  readonly logRetention: logs.RetentionDays;
}

/**
 * The event Secrets Manager's rotation emits when it succeeds: a CloudTrail service event
 * (`AWS Service Event via CloudTrail`, `eventName` `RotationSucceeded`, the secret's ARN in
 * `additionalEventData.SecretId`), delivered to the default bus without a trail. See
 * https://docs.aws.amazon.com/secretsmanager/latest/userguide/monitoring-eventbridge.html and
 * https://docs.aws.amazon.com/secretsmanager/latest/userguide/cloudtrail_log_entries.html (rotation).
 */
export function rotationSucceededPattern(secretArns: readonly string[]): events.EventPattern {
  return {
    source: ['aws.secretsmanager'],
    detailType: ['AWS Service Event via CloudTrail'],
    detail: {
      eventSource: ['secretsmanager.amazonaws.com'],
      eventName: ['RotationSucceeded'],
      additionalEventData: { SecretId: [...secretArns] },
    },
  };
}

/**
 * A rotation of a credential the fleets hold starts a rolling restart of web and worker (the
 * deploy step's `restart` mode, actor `rotation`); when it cannot (a deploy holds the lock),
 * the topic says so (`lambda/rotation-restart/restart.ts`).
 */
export class RotationRestart extends Construct {
  public readonly function: BundledFunction;
  public readonly rule: events.Rule;

  constructor(scope: Construct, id: string, props: RotationRestartProps) {
    super(scope, id);
    const stack = Stack.of(this);
    this.function = new BundledFunction(this, 'Function', {
      entry: 'rotation-restart/index.ts',
      description: `herd ${props.environment}: restarts web and worker after a credential they hold rotated`,
      environment: {
        HERD_ENV: props.environment,
        STATE_MACHINE_ARN: props.stateMachine.stateMachineArn,
        TABLE_NAME: props.table.tableName,
        TOPIC_ARN: props.topic.topicArn,
        CURRENT_RELEASE_PARAMETER: props.currentReleaseParameter,
        SECRET_ARNS: props.secrets.map((s) => s.secretArn).join(','),
      },
      logRetention: props.logRetention,
    });
    const fn = this.function;
    fn.addToRolePolicy(new iam.PolicyStatement({ sid: 'ReadLock', actions: ['dynamodb:GetItem'], resources: [props.table.tableArn] }));
    fn.addToRolePolicy(new iam.PolicyStatement({ sid: 'StartRestart', actions: ['states:StartExecution'], resources: [props.stateMachine.stateMachineArn] }));
    fn.addToRolePolicy(new iam.PolicyStatement({
      sid: 'ReadCurrentRelease',
      actions: ['ssm:GetParameter'],
      resources: [stack.formatArn({ service: 'ssm', resource: 'parameter', resourceName: props.currentReleaseParameter.slice(1) })],
    }));
    // As the deploy step's notifications: Publish on the topic only, its key through SNS only.
    fn.addToRolePolicy(new iam.PolicyStatement({ sid: 'PublishRotationNotices', actions: ['sns:Publish'], resources: [props.topic.topicArn] }));
    if (props.topic.masterKey) {
      fn.addToRolePolicy(new iam.PolicyStatement({
        sid: 'EncryptRotationNotices',
        actions: ['kms:GenerateDataKey*', 'kms:Decrypt'],
        resources: [props.topic.masterKey.keyArn],
        conditions: { StringEquals: { 'kms:ViaService': `sns.${stack.region}.amazonaws.com` } },
      }));
      acknowledge(fn, 'AwsSolutions-IAM5[Action::kms:GenerateDataKey*]',
        'SNS documents kms:GenerateDataKey* for publishers to an encrypted topic; it is granted on the topic\'s key only, used through SNS only (kms:ViaService).');
    }
    acknowledge(fn, 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]', 'The function writes only its own logs with the basic execution policy.');
    this.rule = new events.Rule(this, 'RotationSucceeded', {
      description: `herd ${props.environment}: a rotated credential of the fleets restarts them`,
      eventPattern: rotationSucceededPattern(props.secrets.map((s) => s.secretArn)),
      targets: [new eventsTargets.LambdaFunction(fn, { retryAttempts: 8, maxEventAge: Duration.hours(6) })],
    });
  }
}
