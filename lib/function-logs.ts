import { Aspects, CfnResource, IAspect, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import { IConstruct } from 'constructs';

/**
 * Gives every Lambda function of a stack that has no log group of its own one with the
 * stack's retention. herd's functions have theirs (`BundledFunction`); this is for the
 * functions aws-cdk-lib adds by itself, such as the singleton provider behind
 * `restrictDefaultSecurityGroup` (`Custom::VpcRestrictDefaultSG`): without a LoggingConfig,
 * Lambda creates `/aws/lambda/<name>` on first invocation, and that group keeps logs forever.
 * The provider's role has AWSLambdaBasicExecutionRole, which may write to any log group.
 */
class FunctionLogs implements IAspect {
  constructor(private readonly retention: logs.RetentionDays) {}

  public visit(node: IConstruct): void {
    if (!(node instanceof CfnResource) || node.cfnResourceType !== 'AWS::Lambda::Function') return;
    const loggingConfig = node instanceof lambda.CfnFunction
      ? node.loggingConfig
      : (node as unknown as { _cfnProperties?: Record<string, unknown> })._cfnProperties?.LoggingConfig;
    if (loggingConfig !== undefined) return;
    const scope = node.node.scope;
    if (!scope) return;
    const group = new logs.LogGroup(scope, `${node.node.id}Logs`, { retention: this.retention, removalPolicy: RemovalPolicy.DESTROY });
    node.addPropertyOverride('LoggingConfig.LogGroup', group.logGroupName);
  }
}

/** Makes every Lambda function in `stack` log to a group kept `retention` (see `FunctionLogs`). */
export function retainFunctionLogs(stack: Stack, retention: logs.RetentionDays): void {
  Aspects.of(stack).add(new FunctionLogs(retention));
}
