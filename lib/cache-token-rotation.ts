import { ArnFormat, Duration, Stack, Token } from 'aws-cdk-lib';
import type * as elasticache from 'aws-cdk-lib/aws-elasticache';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as logs from 'aws-cdk-lib/aws-logs';
import type * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { BundledFunction } from './bundled-function';
import { acknowledge, acknowledgeGuard } from './nag';

/** Why cfn-guard's CT.LAMBDA.PR.2 is acknowledged on the invoke permission of an environment-agnostic stack. */
export const SOURCE_ACCOUNT_REASON = 'Only this account\'s Secrets Manager may invoke the rotation function: SourceAccount is the stack\'s account, as the Secrets Manager user guide\'s add-permission step sets it; in an environment-agnostic stack that account is {"Ref": "AWS::AccountId"}, which the rule does not accept in place of a literal account id.';

export interface CacheTokenRotationProps {
  /** The AUTH token's secret (a plain string). */
  readonly secret: secretsmanager.Secret;
  readonly replicationGroup: elasticache.CfnReplicationGroup;
  /** Days between rotations (> 0). */
  readonly rotationDays: number;
  readonly logRetention: logs.RetentionDays;
}

/**
 * The cache's AUTH token rotates on a schedule: Secrets Manager runs herd's rotation function
 * (`lambda/cache-token-rotation/`), which changes the token with ElastiCache's ROTATE, so the
 * group accepts the servers' token and the new one; the `RotationSucceeded` that follows
 * restarts web and worker onto the new one (lib/rotation-restart.ts). The function runs outside
 * the VPC: it calls the ElastiCache and Secrets Manager APIs only, and never connects to the cache.
 */
export class CacheTokenRotation extends Construct {
  public readonly function: BundledFunction;
  public readonly schedule: secretsmanager.RotationSchedule;

  constructor(scope: Construct, id: string, props: CacheTokenRotationProps) {
    super(scope, id);
    const group = props.replicationGroup;
    this.function = new BundledFunction(this, 'Function', {
      entry: 'cache-token-rotation/index.ts',
      description: 'herd: rotates the cache AUTH token (ElastiCache ROTATE) for Secrets Manager',
      // A step waits within its invocation for a group busy with another change (Lambda's longest).
      timeout: Duration.minutes(15),
      environment: { SECRET_ARN: props.secret.secretArn, REPLICATION_GROUP_ID: group.ref },
      logRetention: props.logRetention,
    });
    // This group only (the Service Authorization Reference: both actions take the
    // `replicationgroup` resource type).
    this.function.addToRolePolicy(new iam.PolicyStatement({
      sid: 'RotateCacheToken',
      actions: ['elasticache:DescribeReplicationGroups', 'elasticache:ModifyReplicationGroup'],
      resources: [Stack.of(this).formatArn({ service: 'elasticache', resource: 'replicationgroup', resourceName: group.ref, arnFormat: ArnFormat.COLON_RESOURCE_NAME })],
    }));
    acknowledge(this.function, 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]', 'The function writes only its own logs with the basic execution policy.');
    // CDK grants the rotation's Secrets Manager actions on this secret only, and
    // GetRandomPassword, which takes no resource, on *; Secrets Manager may invoke the function.
    acknowledge(this.function, 'AwsSolutions-IAM5[Resource::*]', 'secretsmanager:GetRandomPassword has no resource type (Service Authorization Reference); every other action is on this secret or this replication group only.');
    // Rotation starts on the schedule only, not when the schedule is created or changed (the
    // group's first token is the secret's first value).
    this.schedule = props.secret.addRotationSchedule('Rotation', {
      rotationLambda: this.function,
      automaticallyAfter: Duration.days(props.rotationDays),
      rotateImmediatelyOnUpdate: false,
    });
    this.schedule.node.addDependency(group);
    // CDK lets secretsmanager.amazonaws.com invoke the function from any account; only this
    // account's Secrets Manager may (Control Tower CT.LAMBDA.PR.2): aws:SourceAccount, as
    // https://docs.aws.amazon.com/secretsmanager/latest/userguide/rotate-secrets_turn-on-cli.html does.
    const invokes = this.function.node.children.filter((c): c is lambda.CfnPermission => c instanceof lambda.CfnPermission && c.principal === 'secretsmanager.amazonaws.com');
    if (invokes.length !== 1) throw new Error(`herd: expected one Secrets Manager invoke permission on the cache token rotation function, found ${invokes.length}`);
    const account = Stack.of(this).account;
    invokes[0]!.sourceAccount = account;
    if (Token.isUnresolved(account)) acknowledgeGuard(invokes[0]!, 'lambda_function_public_access_prohibited_check', SOURCE_ACCOUNT_REASON);
  }
}
