import { ArnFormat, CfnCondition, Duration, Fn, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as autoscaling from 'aws-cdk-lib/aws-autoscaling';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as sns from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import type { FleetConfig, Role } from './config/types';
import { logGroupName, parameterRoot } from './names';
import { acknowledge, acknowledgeGuard } from './nag';
import { configSecretPrefix } from './app-settings';
import { grantSessionManagerAgent } from './session-manager-agent';

export interface FleetProps {
  readonly vpc: ec2.IVpc;
  readonly app: string;
  readonly environment: string;
  readonly role: Role;
  readonly settings: FleetConfig;
  /**
   * SSM parameter holding the AMI id of the release serving now. CloudFormation resolves it
   * when a stack operation starts (a parameter of type
   * `AWS::SSM::Parameter::Value<AWS::EC2::Image::Id>`): the launch template holds a literal
   * AMI id, never a `resolve:ssm:` reference that EC2 would resolve at each launch.
   */
  readonly imageParameterName: string;
  /**
   * True once a release exists (`current-release` is not `none`, resolved at deploy time):
   * the group's MinSize is then the configured minimum, before that 0, so nothing launches
   * an image that holds no app.
   */
  readonly released: CfnCondition;
  /** Encrypts the root volume; `undefined`: the account's default EBS key. */
  readonly ebsKmsKey?: kms.IKey;
  /** Days the log groups the CloudWatch agent creates keep their logs (passed to herd-boot). */
  readonly logRetentionDays: number;
  /** Seconds before health checks count against a new instance. */
  readonly gracePeriodSeconds: number;
  /** Seconds a new instance is given before it counts as in service (also the instance refresh warmup). */
  readonly instanceWarmupSeconds: number;
  /** Use the load balancer's health check, not only EC2's. @default false */
  readonly elbHealthCheck?: boolean;
  /** Secrets the boot script reads to render the app's environment. */
  readonly secrets: readonly secretsmanager.ISecret[];
  /** Auto Scaling events go here. */
  readonly topic: sns.ITopic;
  readonly logRetention: logs.RetentionDays;
}

/**
 * What `herd-boot` needs on any instance of an environment (fleets and the migration
 * runner): read the environment's parameters and secrets, ship logs to its log groups.
 * Adds the statements (Sids `ReadOwnEnvironmentParameters`, `ShipOwnEnvironmentLogs`; the
 * secrets' read grant) and the cdk-nag acknowledgments of their scoped wildcards.
 */
export function grantBoot(role: iam.Role, app: string, environment: string, secrets: readonly secretsmanager.ISecret[]): void {
  const stack = Stack.of(role);
  const root = parameterRoot(app, environment);
  role.addToPrincipalPolicy(new iam.PolicyStatement({
    sid: 'ReadOwnEnvironmentParameters',
    actions: ['ssm:GetParameter', 'ssm:GetParameters', 'ssm:GetParametersByPath'],
    resources: [
      stack.formatArn({ service: 'ssm', resource: 'parameter', resourceName: root.slice(1) }),
      stack.formatArn({ service: 'ssm', resource: 'parameter', resourceName: `${root.slice(1)}/*` }),
    ],
  }));
  for (const secret of secrets) secret.grantRead(role);
  // Secrets an operator set with `herd config --secret` (encrypted with the AWS managed key: no KMS grant needed).
  const configSecrets = stack.formatArn({ service: 'secretsmanager', resource: 'secret', arnFormat: ArnFormat.COLON_RESOURCE_NAME, resourceName: `${configSecretPrefix(app, environment)}*` });
  role.addToPrincipalPolicy(new iam.PolicyStatement({ sid: 'ReadOwnConfigSecrets', actions: ['secretsmanager:GetSecretValue'], resources: [configSecrets] }));
  acknowledge(role, `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:secretsmanager:<AWS::Region>:<AWS::AccountId>:secret:${configSecretPrefix(app, environment)}*]`,
    'Boot reads the secrets operators set with herd config --secret, under its own environment\'s prefix only (their names end with a random suffix).');
  role.addToPrincipalPolicy(new iam.PolicyStatement({
    sid: 'ShipOwnEnvironmentLogs',
    actions: ['logs:CreateLogStream', 'logs:PutLogEvents', 'logs:DescribeLogStreams'],
    resources: [stack.formatArn({
      service: 'logs', resource: 'log-group', arnFormat: ArnFormat.COLON_RESOURCE_NAME,
      resourceName: `${logGroupName(app, environment, '*')}:*`,
    })],
  }));
  // A Procfile process without a group of its own in the stack (clock:, beat:…): the agent
  // creates its group and sets its retention (herd-boot --log-retention-days); it lists the
  // groups to find which exist.
  role.addToPrincipalPolicy(new iam.PolicyStatement({
    sid: 'CreateOwnEnvironmentLogGroups',
    actions: ['logs:CreateLogGroup', 'logs:PutRetentionPolicy', 'logs:DescribeLogGroups'],
    resources: [logGroupName(app, environment, '*'), `${logGroupName(app, environment, '*')}:*`].map((name) => stack.formatArn({
      service: 'logs', resource: 'log-group', arnFormat: ArnFormat.COLON_RESOURCE_NAME, resourceName: name,
    })),
  }));
  acknowledge(role, `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:logs:<AWS::Region>:<AWS::AccountId>:log-group:${logGroupName(app, environment, '*')}]`,
    'The log agent creates a group for a Procfile process the stack has none for, in its own environment\'s path only.');
  acknowledge(role, `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ssm:<AWS::Region>:<AWS::AccountId>:parameter${root}/*]`,
    'Boot reads every parameter of its own environment (one per app setting); the path is scoped to the environment.');
  acknowledge(role, `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:logs:<AWS::Region>:<AWS::AccountId>:log-group:${logGroupName(app, environment, '*')}:*]`,
    'The log agent writes streams named after each instance into its own environment\'s log groups only.');
}

/**
 * One role's fleet: a launch template (IMDSv2 only, encrypted gp3 root volume, no key
 * pair, Session Manager instead of SSH, the serving release's image as a literal AMI id),
 * an instance role limited to what boot needs, a log group, and an Auto Scaling group in
 * the private subnets.
 *
 * The group's minimum is 0 until a release exists, then `settings.minCapacity` (a
 * condition on `current-release`, resolved by CloudFormation); desired capacity is never in
 * the template (see docs/architecture.md, "The release seam").
 */
export class Fleet extends Construct implements ec2.IConnectable {
  public readonly role: Role;
  public readonly settings: FleetConfig;
  public readonly launchTemplate: ec2.LaunchTemplate;
  public readonly autoScalingGroup: autoscaling.AutoScalingGroup;
  public readonly instanceRole: iam.Role;
  public readonly logGroup: logs.LogGroup;
  public readonly connections: ec2.Connections;

  constructor(scope: Construct, id: string, props: FleetProps) {
    super(scope, id);
    this.role = props.role;
    this.settings = props.settings;
    const stack = Stack.of(this);

    this.logGroup = new logs.LogGroup(this, 'Logs', {
      logGroupName: logGroupName(props.app, props.environment, props.role),
      retention: props.logRetention,
      removalPolicy: RemovalPolicy.DESTROY,
    });

    this.instanceRole = new iam.Role(this, 'InstanceRole', {
      assumedBy: new iam.ServicePrincipal('ec2.amazonaws.com'),
      description: `herd ${props.app} ${props.environment} ${props.role} instances`,
    });
    // Session Manager replaces SSH.
    grantSessionManagerAgent(this.instanceRole);
    grantBoot(this.instanceRole, props.app, props.environment, props.secrets);

    const securityGroup = new ec2.SecurityGroup(this, 'SecurityGroup', {
      vpc: props.vpc,
      description: `herd ${props.app} ${props.environment} ${props.role} instances`,
      allowAllOutbound: true, // package mirrors, S3, SSM and Secrets Manager endpoints through NAT
    });
    this.connections = new ec2.Connections({ securityGroups: [securityGroup] });

    const userData = ec2.UserData.forLinux();
    userData.addCommands(
      // The image holds no environment data: boot renders it from Parameter Store and Secrets Manager.
      `exec /opt/herd/bin/herd-boot --app ${props.app} --env ${props.environment} --role ${props.role} --region ${stack.region} --log-retention-days ${props.logRetentionDays}`,
    );

    this.launchTemplate = new ec2.LaunchTemplate(this, 'LaunchTemplate', {
      // Resolved by CloudFormation when a stack operation starts: a literal AMI id (see imageParameterName).
      machineImage: ec2.MachineImage.fromSsmParameter(props.imageParameterName, { os: ec2.OperatingSystemType.LINUX }),
      instanceType: new ec2.InstanceType(props.settings.instanceType),
      role: this.instanceRole,
      securityGroup,
      userData,
      requireImdsv2: true,
      httpPutResponseHopLimit: 1,
      instanceMetadataTags: true,
      detailedMonitoring: true,
      blockDevices: [{
        deviceName: '/dev/xvda',
        volume: ec2.BlockDeviceVolume.ebs(props.settings.rootVolumeGiB, {
          encrypted: true,
          ...(props.ebsKmsKey ? { kmsKey: props.ebsKmsKey } : {}),
          volumeType: ec2.EbsDeviceVolumeType.GP3,
          deleteOnTermination: true,
        }),
      }],
    });

    const grace = Duration.seconds(props.gracePeriodSeconds);
    this.autoScalingGroup = new autoscaling.AutoScalingGroup(this, 'Group', {
      vpc: props.vpc,
      vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS },
      launchTemplate: this.launchTemplate,
      minCapacity: 0,
      maxCapacity: props.settings.maxCapacity,
      healthChecks: props.elbHealthCheck
        ? autoscaling.HealthChecks.withAdditionalChecks({ additionalTypes: [autoscaling.AdditionalHealthCheckType.ELB], gracePeriod: grace })
        : autoscaling.HealthChecks.ec2({ gracePeriod: grace }),
      defaultInstanceWarmup: Duration.seconds(props.instanceWarmupSeconds),
      notifications: [{ topic: props.topic, scalingEvents: autoscaling.ScalingEvents.ALL }],
      groupMetrics: [autoscaling.GroupMetrics.all()],
      cooldown: Duration.seconds(120),
    });
    // Target tracking needs room to move (a group whose MinSize equals its MaxSize is refused one).
    if (props.settings.maxCapacity > props.settings.minCapacity) {
      this.autoScalingGroup.scaleOnCpuUtilization('CpuTarget', { targetUtilizationPercent: 60 });
    }
    // The floor follows the release CloudFormation resolves: 0 before the first release (the
    // image holds no app yet), the configured minimum after. Desired capacity is never in the
    // template: raising MinSize above it raises it, and nothing else here resizes a fleet.
    const group = this.autoScalingGroup.node.defaultChild as autoscaling.CfnAutoScalingGroup;
    acknowledgeGuard(this.autoScalingGroup, 'autoscaling_multiple_az_check', 'The group spans a private subnet in each of the VPC\'s Availability Zones (VPCZoneIdentifier; network.maxAzs is at least 2); the rule reads only the AvailabilityZones property, which a group placed by subnets leaves out.');
    acknowledgeGuard(this.autoScalingGroup, 'autoscaling_mixed_instances_policy_multiple_instance_types_check', 'Each fleet runs the one instance type of its configuration (web.instanceType, worker.instanceType): the image is baked and its capacity sized for it; a mixed-instances policy is not needed for On-Demand capacity.');
    group.minSize = Fn.conditionIf(props.released.logicalId, String(props.settings.minCapacity), '0').toString();
  }
}
