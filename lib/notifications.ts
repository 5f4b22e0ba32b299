import { Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import { Construct } from 'constructs';

/** The account's Auto Scaling service-linked role (created with the account's first group). */
export function autoScalingServiceLinkedRoleArn(stack: Stack): string {
  return `arn:${stack.partition}:iam::${stack.account}:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling`;
}

export interface NotificationsProps {
  /** Addresses subscribed by email; each recipient confirms once. @default - no subscription */
  readonly emails?: readonly string[];
}

/**
 * The environment's SNS topic for alarms, Auto Scaling events and deploy outcomes,
 * encrypted with its own key (CloudWatch and Auto Scaling cannot publish to a topic
 * encrypted with the AWS-managed SNS key) and reachable only over TLS.
 */
export class Notifications extends Construct {
  public readonly topic: sns.Topic;
  public readonly key: kms.Key;

  constructor(scope: Construct, id: string, props: NotificationsProps = {}) {
    super(scope, id);
    this.key = new kms.Key(this, 'Key', {
      description: 'Encrypts the herd notifications topic',
      enableKeyRotation: true,
      // It encrypts nothing but the topic's messages in flight: it goes with the stack.
      removalPolicy: RemovalPolicy.DESTROY,
      pendingWindow: Duration.days(7),
    });
    const stack = Stack.of(this);
    // CloudWatch alarms publish as the CloudWatch service principal.
    this.key.addToResourcePolicy(new iam.PolicyStatement({
      sid: 'CloudWatchAlarmsPublish',
      actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
      principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
      resources: ['*'], // a key policy's resource is always the key itself
    }));
    // Auto Scaling publishes as its service-linked role, which exists only once the account's
    // first group is created: a key policy naming it as a principal is rejected before that
    // (MalformedPolicyDocumentException), and this key is created before the groups. A
    // condition on the caller's ARN needs no principal to exist.
    this.key.addToResourcePolicy(new iam.PolicyStatement({
      sid: 'AutoScalingNotificationsPublish',
      actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
      principals: [new iam.AnyPrincipal()],
      resources: ['*'],
      conditions: {
        ArnEquals: { 'aws:PrincipalArn': autoScalingServiceLinkedRoleArn(stack) },
        StringEquals: { 'kms:CallerAccount': stack.account },
      },
    }));
    // Nothing needs a grant on this key: only an AWS service acting for a principal may create
    // one (Control Tower CT.KMS.PR.3; KMS developer guide, "Controlling access to grants":
    // kms:GrantIsForAWSResource).
    this.key.addToResourcePolicy(new iam.PolicyStatement({
      sid: 'GrantsOnlyForAwsServices',
      effect: iam.Effect.DENY,
      actions: ['kms:CreateGrant'],
      principals: [new iam.AnyPrincipal()],
      resources: ['*'],
      conditions: { BoolIfExists: { 'kms:GrantIsForAWSResource': 'false', 'aws:PrincipalIsAWSService': 'false' } },
    }));
    this.topic = new sns.Topic(this, 'Topic', { masterKey: this.key, enforceSSL: true });
    for (const email of props.emails ?? []) {
      this.topic.addSubscription(new subscriptions.EmailSubscription(email));
    }
  }

  /** Makes `alarm` notify the topic when it goes into ALARM and when it is OK again. */
  public notify(alarm: cloudwatch.Alarm): cloudwatch.Alarm {
    const action = new actions.SnsAction(this.topic);
    alarm.addAlarmAction(action);
    alarm.addOkAction(action);
    return alarm;
  }
}
