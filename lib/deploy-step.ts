import * as path from 'path';
import { ArnFormat, CfnElement, Duration, Fn, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import * as eventsTargets from 'aws-cdk-lib/aws-events-targets';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as s3assets from 'aws-cdk-lib/aws-s3-assets';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import { Construct } from 'constructs';
import { stateMachineTimeoutSeconds } from '../lambda/deploy/budget';
import { ADVANCE_FATAL_ERRORS, ADVANCE_RETRY, LAMBDA_ERROR_PATH, OUTCOME_ERRORS, SUCCEEDING_OUTCOMES } from '../lambda/deploy/contract';
import { ABNORMAL_STATUSES } from '../lambda/deploy/reaper';
import type { DeployEnvironment } from '../lambda/deploy/environment';
import { DEPLOY_EVENT_DETAIL_TYPE, DEPLOY_EVENT_SOURCE } from '../lambda/deploy/notify';
import { amazonLinuxImageParameter, architectureOf } from './architecture';
import { BundledFunction } from './bundled-function';
import type { EnvironmentConfig } from './config/types';
import type { Database } from './database';
import { grantBoot, type Fleet } from './fleet';
import type { LoadBalancer } from './load-balancer';
import { MAINTENANCE_PRIORITY } from './load-balancer';
import { backupSnapshotPrefix, logGroupName, parameterNames, parameterRoot, peerEnvironments, TAGS } from './names';
import { acknowledge } from './nag';
import { grantSessionManagerAgent } from './session-manager-agent';

/**
 * Base image of the bake builder for the fleets' architecture: the latest Amazon Linux 2023
 * AMI, resolved by EC2 when the builder launches (no lookup at synth). The builder itself
 * never launches from a launch template, so no instance refresh depends on this alias.
 */
export function builderBaseImage(instanceType: string): string {
  return `resolve:ssm:${amazonLinuxImageParameter(architectureOf(instanceType))}`;
}
/** Where `herd deploy` uploads release artifacts in the artifacts bucket. */
export const ARTIFACT_PREFIX = 'releases/';

export interface DeployStepProps {
  readonly app: string;
  readonly config: EnvironmentConfig;
  /**
   * The other environments of the app (names; this one, if listed, is dropped). Retention
   * keeps the images their current-image parameters name; the function may read those
   * parameters, and nothing else of theirs.
   */
  readonly peerEnvironments: readonly string[];
  readonly vpc: ec2.IVpc;
  readonly web: Fleet;
  readonly worker: Fleet;
  readonly loadBalancer: LoadBalancer;
  readonly database: Database;
  /**
   * The database's role keeper (`DatabaseCredentials.keeper`): the advance function invokes it
   * after each migration (`lambda/deploy/role-keeper.ts`), and may invoke nothing else.
   */
  readonly roleKeeper?: lambda.IFunction;
  /** Secrets a `release` boot reads to render the app's environment (the fleets' list). */
  readonly secrets: readonly secretsmanager.ISecret[];
  readonly artifacts: s3.IBucket;
  /** Customer-managed key of every EBS volume herd launches; the advance function may create grants for EC2 on it. */
  readonly ebsKmsKey?: kms.IKey;
  /**
   * The environment's notifications topic (`Notifications`): deploys publish their start and
   * outcome there and, as events, on the account's default event bus (`lambda/deploy/notify.ts`).
   * When it is encrypted (`masterKey`), the functions may use its key through SNS only.
   */
  readonly notificationTopic: sns.ITopic;
  readonly logRetention: logs.RetentionDays;
}

/**
 * The deploy machinery of one environment: the deploy table (lock and history), the
 * advance Lambda holding the deploy logic, and a Step Functions state machine that loops
 * advance → wait for as long as a deploy takes (a bake can outlast any Lambda or custom
 * resource limit), plus the image builder's role and security group and the migration
 * runner's role.
 *
 * The Lambda may only change resources of its own app and environment: tag conditions
 * (`herd:app` and `herd:environment`, both: two apps may name an environment alike; with
 * `herd:role`) or ARNs that name this environment's resources scope every mutating action;
 * only Describe-style calls, which support no resource scoping, use `*`.
 */
export class DeployStep extends Construct {
  public readonly table: dynamodb.Table;
  public readonly function: BundledFunction;
  public readonly stateMachine: sfn.StateMachine;
  public readonly builderRole: iam.Role;
  public readonly builderSecurityGroup: ec2.SecurityGroup;
  /** The migration runner's role: boots in the `release` role, writes only its report. */
  public readonly runnerRole: iam.Role;
  /** The runner's instance profile: the deploy step's migration runners and `herd run` launch with it. */
  public readonly runnerProfile: iam.InstanceProfile;
  /** Subnets builders, runners and `herd run` instances are launched into. */
  public readonly runnerSubnetIds: string[];
  /** Finishes or compensates a deploy whose execution died (stopped, timed out, history limit). */
  public readonly reaper: BundledFunction;

  constructor(scope: Construct, id: string, props: DeployStepProps) {
    super(scope, id);
    const stack = Stack.of(this);
    const { app, config } = props;
    const env = config.name;
    const root = parameterRoot(app, env);
    const parameterArn = (name: string) => stack.formatArn({ service: 'ssm', resource: 'parameter', resourceName: name });

    // Lock and history. Retained: the history of an environment outlives its stack updates.
    this.table = new dynamodb.Table(this, 'Table', {
      partitionKey: { name: 'pk', type: dynamodb.AttributeType.STRING },
      sortKey: { name: 'sk', type: dynamodb.AttributeType.STRING },
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      encryption: dynamodb.TableEncryption.AWS_MANAGED,
      removalPolicy: RemovalPolicy.RETAIN,
    });

    // The image builder: reads the artifact and the instance scripts, reports its bake.
    const instanceScripts = new s3assets.Asset(this, 'InstanceScripts', { path: path.join(__dirname, '..', 'instance') });
    this.builderRole = new iam.Role(this, 'BuilderRole', {
      assumedBy: new iam.ServicePrincipal('ec2.amazonaws.com'),
      description: `herd ${app} ${env} image builder`,
    });
    // Session Manager lets an operator inspect a builder.
    grantSessionManagerAgent(this.builderRole);
    this.builderRole.addToPrincipalPolicy(new iam.PolicyStatement({
      sid: 'ReadArtifactAndScripts',
      actions: ['s3:GetObject'],
      resources: [
        props.artifacts.arnForObjects(`${ARTIFACT_PREFIX}*`),
        stack.formatArn({ service: 's3', region: '', account: '', resource: instanceScripts.s3BucketName, resourceName: instanceScripts.s3ObjectKey }),
      ],
    }));
    const artifactsLogicalId = stack.getLogicalId(props.artifacts.node.defaultChild as CfnElement);
    acknowledge(this.builderRole, `AwsSolutions-IAM5[Resource::<${artifactsLogicalId}.Arn>/${ARTIFACT_PREFIX}*]`,
      'The builder reads the artifact of the release it bakes; any release of this environment may be baked.');
    acknowledge(this.builderRole, `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ssm:<AWS::Region>:<AWS::AccountId>:parameter${root}/bake-runs/*]`,
      'The builder reports under its own instance id, unknown before launch, in its environment\'s bake-runs path.');
    this.builderRole.addToPrincipalPolicy(new iam.PolicyStatement({
      sid: 'ReportBake',
      actions: ['ssm:PutParameter'],
      resources: [parameterArn(`${root.slice(1)}/bake-runs/*`)],
    }));
    const builderProfile = new iam.InstanceProfile(this, 'BuilderProfile', { role: this.builderRole });
    this.builderSecurityGroup = new ec2.SecurityGroup(this, 'BuilderSecurityGroup', {
      vpc: props.vpc,
      description: `herd ${app} ${env} image builder: egress only`,
      allowAllOutbound: true,
    });
    // The migration runner boots from the web launch template in the `release` role, with
    // this profile instead of the web one: what a `release` boot needs, and the only role
    // that may write a runner's report (a web server cannot forge a migration's outcome).
    this.runnerRole = new iam.Role(this, 'RunnerRole', {
      assumedBy: new iam.ServicePrincipal('ec2.amazonaws.com'),
      description: `herd ${app} ${env} migration runner`,
    });
    // Session Manager lets an operator inspect a runner.
    grantSessionManagerAgent(this.runnerRole);
    grantBoot(this.runnerRole, app, env, props.secrets);
    this.runnerRole.addToPrincipalPolicy(new iam.PolicyStatement({
      sid: 'ReportReleaseRun',
      actions: ['ssm:PutParameter'],
      resources: [parameterArn(`${root.slice(1)}/release-runs/*`)],
    }));
    acknowledge(this.runnerRole, `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ssm:<AWS::Region>:<AWS::AccountId>:parameter${root}/release-runs/*]`,
      'A migration runner reports under its own instance id, unknown before launch, in its environment\'s release-runs path.');
    // `herd run` boots the same runner in the `run` role: it reports the command's exit code here.
    this.runnerRole.addToPrincipalPolicy(new iam.PolicyStatement({
      sid: 'ReportCommandRun',
      actions: ['ssm:PutParameter'],
      resources: [parameterArn(`${root.slice(1)}/run-results/*`)],
    }));
    acknowledge(this.runnerRole, `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ssm:<AWS::Region>:<AWS::AccountId>:parameter${root}/run-results/*]`,
      'A herd run instance reports under its own instance id, unknown before launch, in its environment\'s run-results path.');
    const runnerProfile = new iam.InstanceProfile(this, 'RunnerProfile', { role: this.runnerRole });
    this.runnerProfile = runnerProfile;

    const privateSubnets = props.vpc.selectSubnets({ subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS }).subnetIds;
    this.runnerSubnetIds = privateSubnets;
    const deployEnvironment: DeployEnvironment = {
      app,
      env,
      stackName: stack.stackName,
      tableName: this.table.tableName,
      fleets: {
        web: {
          autoScalingGroupName: props.web.autoScalingGroup.autoScalingGroupName,
          launchTemplateId: props.web.launchTemplate.launchTemplateId!,
          minCapacity: config.web.minCapacity,
          maxCapacity: config.web.maxCapacity,
        },
        worker: {
          autoScalingGroupName: props.worker.autoScalingGroup.autoScalingGroupName,
          launchTemplateId: props.worker.launchTemplate.launchTemplateId!,
          minCapacity: config.worker.minCapacity,
          maxCapacity: config.worker.maxCapacity,
        },
      },
      loadBalancer: {
        listenerArn: props.loadBalancer.listener.listenerArn,
        targetGroupArn: props.loadBalancer.targetGroup.targetGroupArn,
        stagingTargetGroupArn: props.loadBalancer.stagingTargetGroup.targetGroupArn,
        stagingRuleArn: props.loadBalancer.stagingRule.listenerRuleArn,
        stagingGraceSeconds: config.healthCheck.gracePeriodSeconds,
        maintenancePriority: MAINTENANCE_PRIORITY,
      },
      instances: {
        builderImageId: builderBaseImage(config.deploy.builderInstanceType),
        builderInstanceProfileArn: builderProfile.instanceProfileArn,
        runnerInstanceProfileArn: runnerProfile.instanceProfileArn,
        subnetIds: privateSubnets,
        builderSecurityGroupIds: [this.builderSecurityGroup.securityGroupId],
        // The image's root snapshot: no larger than the fleets' root volumes, or launches fail.
        builderVolumeGiB: Math.min(config.web.rootVolumeGiB, config.worker.rootVolumeGiB),
        scripts: { bucket: instanceScripts.s3BucketName, key: instanceScripts.s3ObjectKey },
        ...(props.ebsKmsKey ? { ebsKmsKeyArn: props.ebsKmsKey.keyArn } : {}),
      },
      artifacts: { bucket: props.artifacts.bucketName, artifactPrefix: ARTIFACT_PREFIX },
      database: {
        instanceIdentifier: props.database.instance.instanceIdentifier,
        ...(props.roleKeeper ? { roleKeeperFunctionArn: props.roleKeeper.functionArn } : {}),
      },
      alarmNames: props.loadBalancer.rollbackAlarms.map((a) => a.alarmName),
      notificationTopicArn: props.notificationTopic.topicArn,
      deploy: config.deploy,
      amiRetention: config.amiRetention,
      logRetentionDays: props.logRetention,
      peerEnvironments: peerEnvironments(props.peerEnvironments, env),
    };

    this.function = new BundledFunction(this, 'Advance', {
      entry: 'deploy/handler.ts',
      description: `herd ${env}: advances a deploy by one step`,
      timeout: Duration.minutes(2),
      environment: { DEPLOY_ENVIRONMENT: stack.toJsonString(deployEnvironment) },
      logRetention: props.logRetention,
    });
    this.grantDeploy(props, root);
    this.grantDeployNotifications(this.function, props.notificationTopic);

    this.stateMachine = this.buildStateMachine(props);
    this.reaper = this.buildReaper(props, stack.toJsonString(deployEnvironment));
  }

  /** The advance Lambda's permissions, scoped to this environment. */
  private grantDeploy(props: DeployStepProps, root: string): void {
    const stack = Stack.of(this);
    const { app, config } = props;
    const env = config.name;
    const fn = this.function;
    const ec2Arn = (resource: string) => stack.formatArn({ service: 'ec2', resource, resourceName: '*' });
    // Both tags: two apps in one account may have environments of the same name.
    const ownTag = (prefix: 'aws:ResourceTag' | 'aws:RequestTag') => ({ [`${prefix}/${TAGS.app}`]: app, [`${prefix}/${TAGS.environment}`]: env });
    const owned = ownTag('aws:ResourceTag');
    const tagging = ownTag('aws:RequestTag');
    const allow = (sid: string, actions: string[], resources: string[], conditions?: Record<string, Record<string, unknown>>) =>
      fn.addToRolePolicy(new iam.PolicyStatement({ sid, actions, resources, conditions }));

    // Builders and runners: launched into this environment's subnets, tagged with it.
    allow('LaunchTaggedInstances', ['ec2:RunInstances'], [ec2Arn('instance'), ec2Arn('volume')], { StringEquals: tagging });
    const subnetArns = props.vpc.selectSubnets({ subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS }).subnetIds.map((s) => stack.formatArn({ service: 'ec2', resource: 'subnet', resourceName: s }));
    allow('LaunchIntoEnvironment', ['ec2:RunInstances'], [
      ...subnetArns,
      stack.formatArn({ service: 'ec2', resource: 'security-group', resourceName: this.builderSecurityGroup.securityGroupId }),
      ...props.web.connections.securityGroups.concat(props.worker.connections.securityGroups).map((sg) => stack.formatArn({ service: 'ec2', resource: 'security-group', resourceName: sg.securityGroupId })),
      stack.formatArn({ service: 'ec2', resource: 'launch-template', resourceName: props.web.launchTemplate.launchTemplateId! }),
      stack.formatArn({ service: 'ec2', resource: 'launch-template', resourceName: props.worker.launchTemplate.launchTemplateId! }),
    ]);
    // The interface RunInstances creates has no id before launch: only in this environment's
    // subnets (RunInstances supports ec2:Subnet, an ARN-typed key, on network-interface: Service Authorization Reference, Amazon EC2).
    allow('LaunchInterfacesIntoEnvironment', ['ec2:RunInstances'], [ec2Arn('network-interface')], { ArnEquals: { 'ec2:Subnet': subnetArns } });
    allow('LaunchFromOwnOrAmazonImages', ['ec2:RunInstances'], [stack.formatArn({ service: 'ec2', resource: 'image', account: '', resourceName: '*' })],
      { StringEquals: { 'ec2:Owner': ['amazon', stack.account] } });
    allow('ResolveBaseImage', ['ssm:GetParameters', 'ssm:GetParameter'], [
      stack.formatArn({ service: 'ssm', resource: 'parameter', account: '', resourceName: 'aws/service/ami-amazon-linux-latest/*' }),
    ]);
    allow('PassInstanceRoles', ['iam:PassRole'], [this.builderRole.roleArn, this.runnerRole.roleArn, props.web.instanceRole.roleArn, props.worker.instanceRole.roleArn],
      { StringEquals: { 'iam:PassedToService': 'ec2.amazonaws.com' } });
    // Tags only as the create action applies them, and only this environment's.
    allow('TagOnCreate', ['ec2:CreateTags'], [ec2Arn('instance'), ec2Arn('volume'), stack.formatArn({ service: 'ec2', resource: 'image', account: '', resourceName: '*' }), stack.formatArn({ service: 'ec2', resource: 'snapshot', account: '', resourceName: '*' })],
      { StringEquals: { 'ec2:CreateAction': ['RunInstances', 'CreateImage'], ...tagging } });
    allow('ImageFromOwnBuilder', ['ec2:CreateImage'], [ec2Arn('instance')],
      { StringEquals: { ...owned, [`aws:ResourceTag/${TAGS.role}`]: 'builder' } });
    allow('CreateTaggedImage', ['ec2:CreateImage'], [
      stack.formatArn({ service: 'ec2', resource: 'image', account: '', resourceName: '*' }),
      stack.formatArn({ service: 'ec2', resource: 'snapshot', account: '', resourceName: '*' }),
    ], { StringEquals: tagging });
    // Only builders and migration runners: fleet instances go through the Auto Scaling API.
    allow('TerminateOwnInstances', ['ec2:TerminateInstances'], [ec2Arn('instance')], {
      StringEquals: { ...owned, [`aws:ResourceTag/${TAGS.role}`]: ['builder', 'release'] },
    });
    allow('RetireOwnImages', ['ec2:DeregisterImage', 'ec2:DeleteSnapshot'], [
      stack.formatArn({ service: 'ec2', resource: 'image', account: '', resourceName: '*' }),
      stack.formatArn({ service: 'ec2', resource: 'snapshot', account: '', resourceName: '*' }),
    ], { StringEquals: owned });
    allow('NewLaunchTemplateVersions', ['ec2:CreateLaunchTemplateVersion'], [
      stack.formatArn({ service: 'ec2', resource: 'launch-template', resourceName: props.web.launchTemplate.launchTemplateId! }),
      stack.formatArn({ service: 'ec2', resource: 'launch-template', resourceName: props.worker.launchTemplate.launchTemplateId! }),
    ]);
    allow('Describe', [
      'ec2:DescribeInstances', 'ec2:DescribeImages', 'ec2:DescribeLaunchTemplates', 'ec2:DescribeLaunchTemplateVersions', 'ec2:DescribeSnapshots',
      'autoscaling:DescribeAutoScalingGroups', 'autoscaling:DescribeInstanceRefreshes', 'autoscaling:DescribeLifecycleHooks',
      'elasticloadbalancing:DescribeRules', 'elasticloadbalancing:DescribeTags', 'elasticloadbalancing:DescribeTargetHealth', 'elasticloadbalancing:DescribeListeners',
    ], ['*']);

    allow('RollOutOwnGroups', [
      'autoscaling:StartInstanceRefresh', 'autoscaling:RollbackInstanceRefresh', 'autoscaling:CancelInstanceRefresh',
      'autoscaling:UpdateAutoScalingGroup', 'autoscaling:SuspendProcesses', 'autoscaling:ResumeProcesses',
      'autoscaling:TerminateInstanceInAutoScalingGroup', 'autoscaling:SetDesiredCapacity',
      // A `full` deploy's launch hook (lambda/deploy/switch.ts).
      'autoscaling:PutLifecycleHook', 'autoscaling:DeleteLifecycleHook', 'autoscaling:CompleteLifecycleAction',
    ], ['*'], { StringEquals: owned });

    // The maintenance rule lives on this environment's listener only.
    const listenerArn = props.loadBalancer.listener.listenerArn;
    const rulesOfListener = Fn.join('', [Fn.select(0, Fn.split(':listener/', listenerArn)), ':listener-rule/', Fn.select(1, Fn.split(':listener/', listenerArn)), '/*']);
    allow('MaintenanceRule', ['elasticloadbalancing:CreateRule'], [listenerArn, rulesOfListener], { StringEquals: tagging });
    // Tagging on create (the rule exists, untagged as yet) and deleting a rule herd tagged as this environment's.
    allow('TagMaintenanceRule', ['elasticloadbalancing:AddTags'], [rulesOfListener], { StringEquals: { 'elasticloadbalancing:CreateAction': 'CreateRule', ...tagging } });
    allow('MaintenanceRuleLifecycle', ['elasticloadbalancing:DeleteRule'], [rulesOfListener], { StringEquals: owned });
    // A `full` deploy's switch (lambda/deploy/switch.ts): the staging group's targets, this
    // listener's default action and its bypass rules; each by ARN.
    allow('StageNewFleet', ['elasticloadbalancing:RegisterTargets', 'elasticloadbalancing:DeregisterTargets'], [props.loadBalancer.stagingTargetGroup.targetGroupArn]);
    allow('SwitchListener', ['elasticloadbalancing:ModifyListener'], [listenerArn]);
    allow('SwitchRules', ['elasticloadbalancing:ModifyRule'], [props.loadBalancer.stagingRule, ...props.loadBalancer.bypassRules].map((r) => r.listenerRuleArn));
    const listenerRef = JSON.stringify({ Ref: stack.getLogicalId(props.loadBalancer.listener.node.defaultChild as CfnElement) });
    acknowledge(fn.role!, `AwsSolutions-IAM5[Resource::{"Fn::Select":[0,{"Fn::Split":[":listener/",${listenerRef}]}]}:listener-rule/{"Fn::Select":[1,{"Fn::Split":[":listener/",${listenerRef}]}]}/*]`,
      'The maintenance rule\'s ARN is only known once created; this pattern admits rules of this environment\'s serving listener only.');

    allow('ReleaseParameters', ['ssm:GetParameter', 'ssm:GetParameters', 'ssm:PutParameter', 'ssm:DeleteParameter'], [
      stack.formatArn({ service: 'ssm', resource: 'parameter', resourceName: `${root.slice(1)}/*` }),
    ]);
    // Retention keeps the images the app's other environments serve (promoted from here): read-only, one parameter each.
    const peers = peerEnvironments(props.peerEnvironments, env);
    if (peers.length > 0) {
      allow('ReadPeerCurrentImages', ['ssm:GetParameter'], peers.map((peer) =>
        stack.formatArn({ service: 'ssm', resource: 'parameter', resourceName: parameterNames(app, peer).currentImage.slice(1) })));
    }
    allow('LockAndHistory', ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:DeleteItem', 'dynamodb:UpdateItem', 'dynamodb:Query'], [this.table.tableArn]);
    const dbId = props.database.instance.instanceIdentifier;
    const snapshotArn = (name: string) => stack.formatArn({ service: 'rds', resource: 'snapshot', resourceName: name, arnFormat: ArnFormat.COLON_RESOURCE_NAME });
    // Wait for the instance to be available, snapshot it (named herd-<app>-<env>-<deploy>, tagged
    // with both: CreateDBSnapshot and AddTagsToResource support aws:RequestTag), and retire herd's
    // older snapshots (deploy.backupRetention: manual snapshots count against a quota).
    allow('ReadDatabaseAndSnapshots', ['rds:DescribeDBSnapshots', 'rds:DescribeDBInstances'], [
      stack.formatArn({ service: 'rds', resource: 'db', resourceName: dbId, arnFormat: ArnFormat.COLON_RESOURCE_NAME }),
      snapshotArn(backupSnapshotPrefix(app, env)),
      snapshotArn(`herd-${env}-*`),
    ]);
    allow('SnapshotOwnDatabase', ['rds:CreateDBSnapshot'], [stack.formatArn({ service: 'rds', resource: 'db', resourceName: dbId, arnFormat: ArnFormat.COLON_RESOURCE_NAME })]);
    allow('SnapshotBeforeMigrate', ['rds:CreateDBSnapshot', 'rds:AddTagsToResource'], [snapshotArn(backupSnapshotPrefix(app, env))], { StringEquals: tagging });
    // Deleting needs the snapshot's tags (DeleteDBSnapshot supports aws:ResourceTag on snapshot):
    // a name prefix alone is ambiguous (app `a` env `b-c`, app `a-b` env `c`). Snapshots named
    // before names held the app (`herd-<env>-<deploy>`) stay retire-able, by their tags too.
    allow('RetireOwnSnapshots', ['rds:DeleteDBSnapshot'], [snapshotArn(backupSnapshotPrefix(app, env)), snapshotArn(`herd-${env}-*`)], { StringEquals: owned });
    // After a migration, the role keeper: its unqualified ARN only (not `:*`, as grantInvoke
    // would add: the deploy step invokes no version or alias).
    if (props.roleKeeper) allow('InvokeRoleKeeper', ['lambda:InvokeFunction'], [props.roleKeeper.functionArn]);

    // Pre-flight and the alarm watch read the rollback alarms' state (DescribeAlarms takes alarm ARNs).
    if (props.loadBalancer.rollbackAlarms.length > 0) {
      allow('ReadRollbackAlarms', ['cloudwatch:DescribeAlarms'], props.loadBalancer.rollbackAlarms.map((a) => a.alarmArn));
    }
    // An unhealthy release's diagnosis quotes the tail of its instances' boot log (one stream per
    // instance, in this environment's boot log group only).
    const bootLogs = logGroupName(props.app, env, 'boot');
    allow('ReadBootLogs', ['logs:GetLogEvents'], [stack.formatArn({
      service: 'logs', resource: 'log-group', arnFormat: ArnFormat.COLON_RESOURCE_NAME, resourceName: `${bootLogs}:log-stream:*`,
    })]);
    acknowledge(fn.role!, `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:logs:<AWS::Region>:<AWS::AccountId>:log-group:${bootLogs}:log-stream:*]`,
      'An unhealthy release\'s diagnosis reads the boot log of the instances that failed: streams are named after instances, in this environment\'s boot log group only.');
    // Pre-flight: a release without an image needs its artifact. HeadObject needs GetObject; without
    // ListBucket a missing key answers 403 instead of 404, so list is allowed on the prefix only.
    allow('CheckArtifacts', ['s3:GetObject'], [props.artifacts.arnForObjects(`${ARTIFACT_PREFIX}*`)]);
    const artifactsLogicalId = stack.getLogicalId(props.artifacts.node.defaultChild as CfnElement);
    acknowledge(fn.role!, `AwsSolutions-IAM5[Resource::<${artifactsLogicalId}.Arn>/${ARTIFACT_PREFIX}*]`,
      'The pre-flight checks a release\'s artifact exists before baking it: release artifacts of this environment\'s bucket only.');
    allow('ListArtifacts', ['s3:ListBucket'], [props.artifacts.bucketArn], { StringLike: { 's3:prefix': [`${ARTIFACT_PREFIX}*`] } });

    // The deploy step refuses to start while CloudFormation updates this stack (it could
    // change the launch templates and groups under the deploy).
    allow('ReadOwnStackStatus', ['cloudformation:DescribeStacks'], [stack.formatArn({ service: 'cloudformation', resource: 'stack', resourceName: `${stack.stackName}/*` })]);

    // A customer-managed EBS key: launching builders and runners with encrypted volumes (and
    // imaging them) needs the key, through EC2 only (kms:ViaService).
    if (props.ebsKmsKey) {
      const viaEc2 = { StringEquals: { 'kms:ViaService': `ec2.${stack.region}.amazonaws.com` } };
      allow('UseEbsKeyThroughEc2', ['kms:Decrypt', 'kms:DescribeKey', 'kms:GenerateDataKeyWithoutPlaintext', 'kms:ReEncryptFrom', 'kms:ReEncryptTo'], [props.ebsKmsKey.keyArn], viaEc2);
      allow('GrantEbsKeyToEc2', ['kms:CreateGrant'], [props.ebsKmsKey.keyArn], {
        ...viaEc2,
        Bool: { 'kms:GrantIsForAWSResource': 'true' },
      });
    }

    this.acknowledgeScopedWildcards(env, app, root);
  }

  /**
   * What publishing a deploy's start and outcome needs (`lambda/deploy/notify.ts`): Publish
   * on the environment's topic only; its key (SNS encrypts with the publisher's permissions)
   * through SNS only (`kms:ViaService`); PutEvents on the account's default bus only, and
   * only herd's source and detail type (`events:source`, `events:detail-type`, one value per
   * entry of a request: `ForAllValues`).
   */
  private grantDeployNotifications(fn: BundledFunction, topic: sns.ITopic): void {
    const stack = Stack.of(this);
    fn.addToRolePolicy(new iam.PolicyStatement({ sid: 'PublishDeployNotifications', actions: ['sns:Publish'], resources: [topic.topicArn] }));
    if (topic.masterKey) {
      fn.addToRolePolicy(new iam.PolicyStatement({
        sid: 'EncryptDeployNotifications',
        actions: ['kms:GenerateDataKey*', 'kms:Decrypt'],
        resources: [topic.masterKey.keyArn],
        conditions: { StringEquals: { 'kms:ViaService': `sns.${stack.region}.amazonaws.com` } },
      }));
      acknowledge(fn, 'AwsSolutions-IAM5[Action::kms:GenerateDataKey*]',
        'SNS documents kms:GenerateDataKey* for publishers to an encrypted topic; it is granted on the topic\'s key only, used through SNS only (kms:ViaService).');
    }
    fn.addToRolePolicy(new iam.PolicyStatement({
      sid: 'PutDeployEvents',
      actions: ['events:PutEvents'],
      resources: [stack.formatArn({ service: 'events', resource: 'event-bus', resourceName: 'default' })],
      conditions: { 'ForAllValues:StringEquals': { 'events:source': [DEPLOY_EVENT_SOURCE], 'events:detail-type': [DEPLOY_EVENT_DETAIL_TYPE] } },
    }));
  }

  /** Each IAM5 finding of the advance role, with why its wildcard is scoped enough. */
  private acknowledgeScopedWildcards(env: string, app: string, root: string): void {
    const role = this.function.role!;
    const p = '<AWS::Partition>';
    const r = '<AWS::Region>';
    const a = '<AWS::AccountId>';
    const findings: Array<[string, string]> = [
      ['Resource::*', `Describe calls of EC2, Auto Scaling and ELBv2 support no resource scoping; every mutating Auto Scaling call is limited by the herd:app=${app} and herd:environment=${env} tag conditions.`],
      [`Resource::arn:${p}:ec2:${r}:${a}:instance/*`, `Instances are created, imaged and terminated only with the herd:app=${app} and herd:environment=${env} tags (request or resource condition).`],
      [`Resource::arn:${p}:ec2:${r}:${a}:volume/*`, `Volumes are created only tagged herd:app=${app} and herd:environment=${env} (request tag condition).`],
      [`Resource::arn:${p}:ec2:${r}:${a}:network-interface/*`, 'RunInstances creates the network interface only in this environment\'s subnets (ec2:Subnet condition), with its security groups, which are listed by ARN.'],
      [`Resource::arn:${p}:ec2:${r}::image/*`, `Images: launched only when owned by Amazon or this account, created only tagged herd:app=${app} and herd:environment=${env}, deregistered only when so tagged.`],
      [`Resource::arn:${p}:ec2:${r}::snapshot/*`, `Snapshots are created with their image and deleted only when tagged herd:app=${app} and herd:environment=${env}.`],
      [`Resource::arn:${p}:ssm:${r}::parameter/aws/service/ami-amazon-linux-latest/*`, 'The public Amazon Linux parameters resolve the builder\'s base image.'],
      [`Resource::arn:${p}:ssm:${r}:${a}:parameter${root}/*`, `Release parameters of ${app} ${env} only.`],
      [`Resource::arn:${p}:rds:${r}:${a}:snapshot:${backupSnapshotPrefix(app, env)}`, `Pre-migration snapshots are named ${backupSnapshotPrefix(app, env)}<deploy>; deleted only when tagged herd:app=${app} and herd:environment=${env}.`],
      [`Resource::arn:${p}:rds:${r}:${a}:snapshot:herd-${env}-*`, `Pre-migration snapshots named before names held the app: read, and deleted only when tagged herd:app=${app} and herd:environment=${env}.`],
      [`Resource::arn:${p}:cloudformation:${r}:${a}:stack/${Stack.of(this).stackName}/*`, 'A stack ARN ends with its id, unknown before creation; this names the environment\'s own stack.'],
    ];
    for (const [finding, reason] of findings) acknowledge(role, `AwsSolutions-IAM5[${finding}]`, reason);
    acknowledge(role, 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]', 'The advance function writes only its own logs with the basic execution policy.');
  }

  /**
   * The reaper (`lambda/deploy/reaper.ts`): an EventBridge rule sends it every execution of the
   * state machine that ends FAILED, TIMED_OUT or ABORTED; it resumes an unfinished deploy in a
   * new execution, which compensates (or finishes the bookkeeping of a release that serves).
   */
  private buildReaper(props: DeployStepProps, deployEnvironment: string): BundledFunction {
    const stack = Stack.of(this);
    const env = props.config.name;
    const fn = new BundledFunction(this, 'Reaper', {
      entry: 'deploy/reaper-handler.ts',
      description: `herd ${env}: finishes or compensates a deploy whose execution died`,
      timeout: Duration.minutes(1),
      environment: { DEPLOY_ENVIRONMENT: deployEnvironment, STATE_MACHINE_ARN: this.stateMachine.stateMachineArn },
      logRetention: props.logRetention,
    });
    fn.addToRolePolicy(new iam.PolicyStatement({ sid: 'ReadLockWriteHistory', actions: ['dynamodb:GetItem', 'dynamodb:PutItem'], resources: [this.table.tableArn] }));
    fn.addToRolePolicy(new iam.PolicyStatement({ sid: 'ResumeDeploy', actions: ['states:StartExecution'], resources: [this.stateMachine.stateMachineArn] }));
    const executions = stack.formatArn({ service: 'states', resource: 'execution', arnFormat: ArnFormat.COLON_RESOURCE_NAME, resourceName: `${this.stateMachine.stateMachineName}:*` });
    fn.addToRolePolicy(new iam.PolicyStatement({ sid: 'ReadExecutionHistory', actions: ['states:GetExecutionHistory'], resources: [executions] }));
    // The reaper tells a deploy whose execution died (aborted) the way the deploy step would.
    this.grantDeployNotifications(fn, props.notificationTopic);
    const machineLogicalId = stack.getLogicalId(this.stateMachine.node.defaultChild as CfnElement);
    acknowledge(fn, `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:execution:<${machineLogicalId}.Name>:*]`,
      'Execution ARNs end with names unknown in advance; this admits executions of this environment\'s deploy state machine only.');
    acknowledge(fn, 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]', 'The reaper writes only its own logs with the basic execution policy.');
    new events.Rule(this, 'ExecutionEnded', {
      description: `herd ${env}: deploy executions that ended abnormally go to the reaper`,
      eventPattern: {
        source: ['aws.states'],
        detailType: ['Step Functions Execution Status Change'],
        detail: { stateMachineArn: [this.stateMachine.stateMachineArn], status: [...ABNORMAL_STATUSES] },
      },
      targets: [new eventsTargets.LambdaFunction(fn, { retryAttempts: 8, maxEventAge: Duration.hours(6) })],
    });
    return fn;
  }

  /** advance → (done? end : wait waitSeconds) → advance, with retries and compensation on errors. */
  private buildStateMachine(props: DeployStepProps): sfn.StateMachine {
    const env = props.config.name;
    const advance = new tasks.LambdaInvoke(this, 'AdvanceStep', {
      lambdaFunction: this.function,
      payloadResponseOnly: true,
      retryOnServiceExceptions: false,
      comment: 'One short, repeatable step of the deploy; returns the new state',
    });
    // First: refusals are never retried (the next retrier's States.TaskFailed would match them).
    advance.addRetry({ errors: [...ADVANCE_FATAL_ERRORS], maxAttempts: 0 });
    advance.addRetry({
      errors: [...ADVANCE_RETRY.errors],
      interval: Duration.seconds(ADVANCE_RETRY.intervalSeconds),
      backoffRate: ADVANCE_RETRY.backoffRate,
      maxAttempts: ADVANCE_RETRY.maxAttempts,
    });
    const refused = new sfn.Fail(this, 'Refused', {
      comment: 'Nothing was changed (deploy locked, bad input or environment)',
      errorPath: '$.Error',
      causePath: '$.Cause',
    });
    advance.addCatch(refused, { errors: [...ADVANCE_FATAL_ERRORS] });
    // Any other error: keep the state, let the next advance compensate; pause first so a
    // persistent error cannot spin.
    const backoff = new sfn.Wait(this, 'BackoffAfterError', { time: sfn.WaitTime.duration(Duration.seconds(30)) });
    advance.addCatch(backoff, { errors: ['States.ALL'], resultPath: LAMBDA_ERROR_PATH });
    backoff.next(advance);

    const succeeded = new sfn.Succeed(this, 'Serving', { comment: 'The release serves (deployed now, or it served already)' });
    const failed = new sfn.Fail(this, 'RolledBack', {
      comment: 'The deploy failed and compensated: the previous release serves',
      error: OUTCOME_ERRORS.failed,
      causePath: '$.failure.cause',
    });
    const needsAttention = new sfn.Fail(this, 'NeedsAttention', {
      comment: 'The deploy failed and a compensation step failed for good: the lock stays held; herd repair runs the compensation again',
      error: OUTCOME_ERRORS['needs-attention'],
      causePath: '$.failure.cause',
    });
    const aborted = new sfn.Fail(this, 'Aborted', {
      comment: 'An operator stopped the deploy (herd abort) and compensation put the previous release back',
      error: OUTCOME_ERRORS.aborted,
      causePath: '$.failure.cause',
    });
    const wait = new sfn.Wait(this, 'Wait', { time: sfn.WaitTime.secondsPath('$.waitSeconds') });
    wait.next(advance);
    const ended = (outcome: string) => sfn.Condition.and(sfn.Condition.booleanEquals('$.done', true), sfn.Condition.stringEquals('$.outcome', outcome));
    const next = new sfn.Choice(this, 'Done?')
      .when(sfn.Condition.or(...SUCCEEDING_OUTCOMES.map(ended)), succeeded)
      .when(ended('needs-attention'), needsAttention)
      .when(ended('aborted'), aborted)
      .when(sfn.Condition.booleanEquals('$.done', true), failed)
      .when(sfn.Condition.numberEquals('$.waitSeconds', 0), advance)
      .otherwise(wait);
    advance.next(next);

    // Under /aws/vendedlogs/: Step Functions log delivery then needs no entry in the account's
    // CloudWatch Logs resource policy, whose 5,120 characters every other group would share.
    const logGroup = new logs.LogGroup(this, 'StateMachineLogs', {
      logGroupName: `/aws/vendedlogs/states/herd-${props.app}-${env}-deploy`,
      retention: props.logRetention,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    const machine = new sfn.StateMachine(this, 'StateMachine', {
      comment: `herd ${env}: rolls a release out (lock, bake, launch template, migrate, rollout, verify, record)`,
      definitionBody: sfn.DefinitionBody.fromChainable(advance),
      // Every wait has its own deadline; this only stops a deploy that no deadline caught
      // (the worst case the deploy settings allow, plus a quarter: lambda/deploy/budget.ts).
      timeout: Duration.seconds(stateMachineTimeoutSeconds(props.config.deploy)),
      tracingEnabled: true,
      logs: { destination: logGroup, level: sfn.LogLevel.ALL, includeExecutionData: false },
    });
    const fnLogicalId = Stack.of(this).getLogicalId(this.function.node.defaultChild as CfnElement);
    acknowledge(machine, `AwsSolutions-IAM5[Resource::<${fnLogicalId}.Arn>:*]`, 'The state machine invokes the advance function\'s versions (<arn>:*), a CDK-generated statement.');
    acknowledge(machine, 'AwsSolutions-IAM5[Resource::*]', 'X-Ray tracing and log delivery, generated by CDK, support no resource scoping.');
    return machine;
  }
}
