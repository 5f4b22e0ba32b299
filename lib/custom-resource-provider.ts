import { CfnElement, Stack } from 'aws-cdk-lib';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as cr from 'aws-cdk-lib/custom-resources';
import { Construct } from 'constructs';
import { type BundledFunction, OUTSIDE_VPC_REASON } from './bundled-function';
import { acknowledge, acknowledgeGuard } from './nag';

/**
 * The custom-resource provider of one of herd's handlers, logging to the handler's own log
 * group, with the cdk-nag acknowledgments of what the CDK framework generates.
 */
export function customResourceProvider(scope: Construct, id: string, fn: BundledFunction): cr.Provider {
  acknowledge(fn, 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]', 'The handler only writes its own logs with the basic execution policy.');
  const provider = new cr.Provider(scope, id, { onEventHandler: fn, logGroup: fn.logGroup as logs.LogGroup });
  acknowledge(provider, 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]', 'The provider framework\'s functions only write their own logs.');
  const fnLogicalId = Stack.of(scope).getLogicalId(fn.node.defaultChild as CfnElement);
  acknowledge(provider, `AwsSolutions-IAM5[Resource::<${fnLogicalId}.Arn>:*]`, 'The provider framework invokes its own handler\'s versions (<arn>:*), a CDK-generated statement.');
  acknowledgeGuard(provider, 'lambda_inside_vpc_check', OUTSIDE_VPC_REASON);
  acknowledge(provider, 'AwsSolutions-L1', 'The provider framework\'s runtime is chosen by aws-cdk-lib and updated with it.');
  return provider;
}
