import { CfnElement, CustomResource, Duration, Stack } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as cr from 'aws-cdk-lib/custom-resources';
import { Construct } from 'constructs';
import { BundledFunction } from './bundled-function';
import type { Fleet } from './fleet';
import { NO_RELEASE, TAGS } from './names';
import { acknowledge } from './nag';

export interface ReleaseStateProps {
  readonly environment: string;
  readonly currentImageParameter: string;
  readonly currentReleaseParameter: string;
  readonly fleets: readonly Fleet[];
  readonly logRetention: logs.RetentionDays;
}

/**
 * The seam between CloudFormation and the deploy step. It creates the current-image and
 * current-release parameters if absent and never overwrites them (the deploy step owns
 * them), and applies the fleets' capacity floors only once a release exists, so a new
 * environment launches nothing before its first deploy and a later `cdk deploy` keeps the
 * release serving. Fleets' launch templates read the image through
 * `resolve:ssm:<currentImageParameter>` and therefore depend on this resource.
 */
export class ReleaseState extends Construct {
  /** Creates the release parameters if absent. */
  public readonly parameters: CustomResource;
  /** Applies the fleets' minimum capacity once a release exists. */
  public readonly capacityFloors: CustomResource;

  constructor(scope: Construct, id: string, props: ReleaseStateProps) {
    super(scope, id);
    const stack = Stack.of(this);
    // A base image for the parameter's first value; EC2 validates `aws:ec2:image` parameters.
    // Nothing launches from it: capacity stays 0 until a release replaces it.
    const baseImage = ec2.MachineImage.latestAmazonLinux2023().getImage(this).imageId;

    const fn = new BundledFunction(this, 'Function', {
      entry: 'release-state/index.ts',
      description: `herd ${props.environment}: keeps the release parameters and fleet capacity floors`,
      timeout: Duration.minutes(2),
      logRetention: props.logRetention,
    });
    const parameterArns = [props.currentImageParameter, props.currentReleaseParameter].map((name) =>
      stack.formatArn({ service: 'ssm', resource: 'parameter', resourceName: name.slice(1) }));
    fn.addToRolePolicy(new iam.PolicyStatement({
      actions: ['ssm:PutParameter', 'ssm:GetParameter', 'ssm:DeleteParameter'],
      resources: parameterArns,
    }));
    fn.addToRolePolicy(new iam.PolicyStatement({
      actions: ['autoscaling:UpdateAutoScalingGroup'],
      resources: ['*'],
      conditions: { StringEquals: { [`aws:ResourceTag/${TAGS.environment}`]: props.environment } },
    }));
    fn.addToRolePolicy(new iam.PolicyStatement({ actions: ['autoscaling:DescribeAutoScalingGroups'], resources: ['*'] }));
    acknowledge(fn, 'AwsSolutions-IAM5[Resource::*]', 'Auto Scaling Describe calls support no resource scoping; UpdateAutoScalingGroup is limited by the herd:environment tag condition.');

    const provider = new cr.Provider(this, 'Provider', { onEventHandler: fn, logGroup: fn.logGroup as logs.LogGroup });
    acknowledge(provider, 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]', 'The provider framework\'s functions only write their own logs.');
    const fnLogicalId = stack.getLogicalId(fn.node.defaultChild as CfnElement);
    acknowledge(provider, `AwsSolutions-IAM5[Resource::<${fnLogicalId}.Arn>:*]`, 'The provider framework invokes its own handler\'s versions (<arn>:*), a CDK-generated statement.');
    acknowledge(provider, 'AwsSolutions-L1', 'The provider framework\'s runtime is chosen by aws-cdk-lib and updated with it.');
    acknowledge(fn, 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]', 'The handler only writes its own logs with the basic execution policy.');

    const common = {
      CurrentImageParameter: props.currentImageParameter,
      CurrentReleaseParameter: props.currentReleaseParameter,
      InitialImageId: baseImage,
      NoRelease: NO_RELEASE,
    };
    this.parameters = new CustomResource(this, 'Parameters', {
      serviceToken: provider.serviceToken,
      resourceType: 'Custom::HerdReleaseParameters',
      properties: { ...common, ManageParameters: true, Fleets: [] },
    });
    for (const fleet of props.fleets) {
      // Launch templates resolve the image parameter: it must exist first.
      fleet.launchTemplate.node.addDependency(this.parameters);
    }
    // After the groups (it references them), so that CloudFormation's own update of a group
    // (which sets MinSize back to the template's 0) comes before the floor is applied.
    this.capacityFloors = new CustomResource(this, 'CapacityFloors', {
      serviceToken: provider.serviceToken,
      resourceType: 'Custom::HerdCapacityFloors',
      properties: {
        ...common,
        ManageParameters: false,
        Fleets: props.fleets.map((f) => ({
          AutoScalingGroupName: f.autoScalingGroup.autoScalingGroupName,
          MinCapacity: f.settings.minCapacity,
          MaxCapacity: f.settings.maxCapacity,
        })),
      },
    });
    this.capacityFloors.node.addDependency(this.parameters);
  }
}
