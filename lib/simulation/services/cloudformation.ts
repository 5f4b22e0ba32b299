/**
 * CloudFormation in the fake cloud, as the deploy step reads it: DescribeStacks of the stacks
 * in `cloud.stacks` (status and outputs). The model of a stack update itself (what a
 * `cdk deploy` of the environment stack does to the fleets) is lib/simulation/cloudformation.ts.
 */
import * as cfn from '@aws-sdk/client-cloudformation';
import type { FakeCloud } from '../fake-cloud';
import { fail } from './common';

/** Registers the CloudFormation DescribeStacks handler on `cloud`. */
export function registerCloudFormation(cloud: FakeCloud): void {
  cloud.on('cloudFormation', cfn.DescribeStacksCommand, (input) => {
    const name = input.StackName ?? '';
    const stack = cloud.stacks.get(name);
    if (!stack) fail('ValidationError', `Stack with id ${name} does not exist`);
    return {
      Stacks: [{
        StackName: name,
        StackStatus: stack.status as cfn.StackStatus,
        CreationTime: new Date(0),
        ...(stack.outputs ? { Outputs: Object.entries(stack.outputs).map(([OutputKey, OutputValue]) => ({ OutputKey, OutputValue })) } : {}),
      }],
    };
  });
}
