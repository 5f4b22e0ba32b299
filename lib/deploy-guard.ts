import { createHash } from 'crypto';
import { CustomResource, Duration, Fn, Lazy, Stack } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct, IConstruct } from 'constructs';
import { BundledFunction } from './bundled-function';
import { customResourceProvider } from './custom-resource-provider';
import type { Fleet } from './fleet';
import { NO_RELEASE } from './names';

export interface DeployGuardProps {
  readonly environment: string;
  /** The deploy table: the lock the guard reads, where it keeps the fingerprint it accepted. */
  readonly table: dynamodb.ITable;
  readonly currentReleaseParameter: string;
  /** The deploy-time values of `current-image` and `current-release` (CloudFormation parameter references). */
  readonly currentImage: string;
  readonly currentRelease: string;
  readonly logRetention: logs.RetentionDays;
}

/**
 * Refuses a stack update that would change a fleet while a herd deploy holds the lock (see
 * `lambda/deploy-guard/guard.ts`). `protect(fleet)` makes the fleet's launch template and
 * group depend on the guard, so CloudFormation runs the guard first, and adds what the
 * fleet's resources say to the guard's fingerprint.
 */
export class DeployGuard extends Construct {
  public readonly resource: CustomResource;
  private readonly fleets: Fleet[] = [];

  constructor(scope: Construct, id: string, props: DeployGuardProps) {
    super(scope, id);
    const stack = Stack.of(this);
    const fn = new BundledFunction(this, 'Function', {
      entry: 'deploy-guard/index.ts',
      description: `herd ${props.environment}: refuses stack updates that change the fleets during a deploy`,
      timeout: Duration.minutes(1),
      logRetention: props.logRetention,
    });
    fn.addToRolePolicy(new iam.PolicyStatement({
      sid: 'ReadLockKeepFingerprint',
      actions: ['dynamodb:GetItem', 'dynamodb:PutItem'],
      resources: [props.table.tableArn],
    }));
    fn.addToRolePolicy(new iam.PolicyStatement({
      sid: 'ResetReleaseOnDelete',
      actions: ['ssm:GetParameter', 'ssm:PutParameter'],
      resources: [stack.formatArn({ service: 'ssm', resource: 'parameter', resourceName: props.currentReleaseParameter.slice(1) })],
    }));
    const provider = customResourceProvider(this, 'Provider', fn);

    // A hash of what the template says about the fleets (resolved at synthesis, so the guard
    // does not reference them), joined at deploy time with the release image and release.
    const templateHash = Lazy.string({ produce: () => this.templateHash() });
    this.resource = new CustomResource(this, 'Resource', {
      serviceToken: provider.serviceToken,
      resourceType: 'Custom::HerdDeployGuard',
      properties: {
        TableName: props.table.tableName,
        Environment: props.environment,
        Fingerprint: Fn.join('|', [templateHash, props.currentImage, props.currentRelease]),
        CurrentReleaseParameter: props.currentReleaseParameter,
        NoRelease: NO_RELEASE,
      },
    });
  }

  /** Makes `fleet`'s launch template and group wait for the guard, and fingerprints them. */
  public protect(fleet: Fleet): void {
    this.fleets.push(fleet);
    fleet.launchTemplate.node.addDependency(this.resource);
    fleet.autoScalingGroup.node.addDependency(this.resource);
  }

  /** SHA-256 of the launch templates' data and the groups' properties, as synthesized. */
  private templateHash(): string {
    const stack = Stack.of(this);
    const described = this.fleets.map((fleet) => {
      const lt = fleet.launchTemplate.node.defaultChild as IConstruct & { launchTemplateData: unknown };
      const group = fleet.autoScalingGroup.node.defaultChild as IConstruct & Record<string, unknown>;
      const groupProperties: Record<string, unknown> = {};
      for (const key of ['minSize', 'maxSize', 'launchTemplate', 'vpcZoneIdentifier', 'targetGroupArns', 'healthCheckType', 'healthCheckGracePeriod', 'defaultInstanceWarmup']) {
        groupProperties[key] = group[key] as unknown;
      }
      return { role: fleet.role, launchTemplate: stack.resolve(lt.launchTemplateData), group: stack.resolve(groupProperties) };
    });
    return createHash('sha256').update(JSON.stringify(described)).digest('hex').slice(0, 32);
  }
}
