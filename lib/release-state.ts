import { CustomResource, Duration, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { amazonLinuxImageParameter, type Architecture } from './architecture';
import { BundledFunction } from './bundled-function';
import { customResourceProvider } from './custom-resource-provider';
import { NO_RELEASE, TAGS } from './names';
import { acknowledge } from './nag';

export interface ReleaseStateProps {
  readonly app: string;
  readonly environment: string;
  readonly currentImageParameter: string;
  readonly currentReleaseParameter: string;
  /** The fleets' architecture: `current-image` starts as the latest Amazon Linux 2023 AMI of it. */
  readonly architecture: Architecture;
  readonly logRetention: logs.RetentionDays;
}

/**
 * The release parameters of one environment, created if absent and never overwritten:
 * `current-release` (`none` before the first release) and `current-image` (an
 * `aws:ec2:image` parameter, first the base Amazon Linux 2023 AMI, then the deploy step's
 * release image). It lives in its own stack (`ReleaseStateStack`), deployed before the
 * environment stack, because the environment stack resolves both parameters when its
 * create or update starts: its launch templates take the image as a literal AMI id and its
 * groups' capacity floor follows the release (see docs/architecture.md, "The release seam").
 */
export class ReleaseState extends Construct {
  public readonly parameters: CustomResource;

  constructor(scope: Construct, id: string, props: ReleaseStateProps) {
    super(scope, id);
    const stack = Stack.of(this);
    const baseImageParameter = amazonLinuxImageParameter(props.architecture);

    const fn = new BundledFunction(this, 'Function', {
      entry: 'release-state/index.ts',
      description: `herd ${props.environment}: creates the release parameters if absent`,
      timeout: Duration.minutes(3),
      logRetention: props.logRetention,
    });
    const parameterArns = [props.currentImageParameter, props.currentReleaseParameter].map((name) =>
      stack.formatArn({ service: 'ssm', resource: 'parameter', resourceName: name.slice(1) }));
    fn.addToRolePolicy(new iam.PolicyStatement({
      sid: 'ReleaseParameters',
      // AddTagsToResource: PutParameter creates them tagged with the app and environment.
      actions: ['ssm:PutParameter', 'ssm:AddTagsToResource', 'ssm:GetParameter', 'ssm:DeleteParameter'],
      resources: parameterArns,
    }));
    fn.addToRolePolicy(new iam.PolicyStatement({
      sid: 'ReadBaseImage',
      actions: ['ssm:GetParameter'],
      resources: [stack.formatArn({ service: 'ssm', resource: 'parameter', account: '', resourceName: baseImageParameter.slice(1) })],
    }));
    // SSM validates an aws:ec2:image parameter with the writer's own ec2:DescribeImages permission.
    fn.addToRolePolicy(new iam.PolicyStatement({ sid: 'ValidateImageParameter', actions: ['ec2:DescribeImages'], resources: ['*'] }));
    acknowledge(fn, 'AwsSolutions-IAM5[Resource::*]', 'ec2:DescribeImages supports no resource scoping; SSM calls it to validate the aws:ec2:image parameter this function writes.');
    const provider = customResourceProvider(this, 'Provider', fn);

    this.parameters = new CustomResource(this, 'Parameters', {
      serviceToken: provider.serviceToken,
      resourceType: 'Custom::HerdReleaseParameters',
      properties: {
        CurrentImageParameter: props.currentImageParameter,
        CurrentReleaseParameter: props.currentReleaseParameter,
        // The parameter's name, not its value: a new AL2023 release must not make this resource run again.
        BaseImageParameter: baseImageParameter,
        NoRelease: NO_RELEASE,
        Tags: { [TAGS.app]: props.app, [TAGS.environment]: props.environment },
      },
    });
  }
}
