import { Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import { Construct } from 'constructs';

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
    });
    const stack = Stack.of(this);
    // CloudWatch alarms and Auto Scaling notifications publish through these principals.
    for (const principal of [
      new iam.ServicePrincipal('cloudwatch.amazonaws.com'),
      new iam.ArnPrincipal(`arn:${stack.partition}:iam::${stack.account}:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling`),
    ]) {
      this.key.addToResourcePolicy(new iam.PolicyStatement({
        actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
        principals: [principal],
        resources: ['*'], // a key policy's resource is always the key itself
      }));
    }
    this.topic = new sns.Topic(this, 'Topic', { masterKey: this.key, enforceSSL: true });
    for (const email of props.emails ?? []) {
      this.topic.addSubscription(new subscriptions.EmailSubscription(email));
    }
  }
}
