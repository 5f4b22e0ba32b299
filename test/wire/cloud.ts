/**
 * Real SDK v3 clients pointed at a local moto_server, and builders of the AWS resources the
 * wire tests need (created through the API, the way the CDK stack would have created them).
 */
import {
  AutoScalingClient,
  CreateAutoScalingGroupCommand,
} from '@aws-sdk/client-auto-scaling';
import { CloudFormationClient } from '@aws-sdk/client-cloudformation';
import { CreateTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  CreateLaunchTemplateCommand,
  CreateSecurityGroupCommand,
  CreateSubnetCommand,
  CreateVpcCommand,
  DescribeImagesCommand,
  EC2Client,
} from '@aws-sdk/client-ec2';
import {
  CreateListenerCommand,
  CreateLoadBalancerCommand,
  CreateRuleCommand,
  CreateTargetGroupCommand,
  ElasticLoadBalancingV2Client,
} from '@aws-sdk/client-elastic-load-balancing-v2';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { LambdaClient } from '@aws-sdk/client-lambda';
import { CreateDBInstanceCommand, RDSClient } from '@aws-sdk/client-rds';
import { CreateTopicCommand, SNSClient } from '@aws-sdk/client-sns';
import { SSMClient } from '@aws-sdk/client-ssm';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import { CloudWatchLogsClient } from '@aws-sdk/client-cloudwatch-logs';
import { CreateBucketCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import type { DeployClients } from '../../lambda/deploy/clients';
import { BYPASS_HEADER } from '../../lib/names';
import { MOTO_REGION, clientConfig, type MotoServer } from '../support/moto';

export interface WireClients extends DeployClients {
  readonly ec2: EC2Client;
  readonly autoScaling: AutoScalingClient;
  readonly elbv2: ElasticLoadBalancingV2Client;
  readonly ssm: SSMClient;
  readonly dynamodb: DynamoDBDocumentClient;
  readonly rds: RDSClient;
  readonly cloudFormation: CloudFormationClient;
  readonly sns: SNSClient;
  readonly eventBridge: EventBridgeClient;
  readonly cloudWatch: CloudWatchClient;
  readonly s3: S3Client;
  /** The plain DynamoDB client (table management). */
  readonly dynamodbRaw: DynamoDBClient;
}

/** The deploy step's clients as `handler.ts` builds them, but talking to moto. */
export function wireClients(server: MotoServer): WireClients {
  const config = clientConfig(server);
  const dynamodbRaw = new DynamoDBClient(config);
  const autoScaling = new AutoScalingClient(config);
  // moto 5.2.5 has no DescribeInstanceRefreshes (it answers an HTML error page) and no
  // StartInstanceRefresh: no instance refresh can exist in moto, so the answer AWS would give
  // there is an empty list. The deploy step's pre-flight asks it; the fake covers refreshes.
  autoScaling.middlewareStack.add(
    (next, context) => async (args) =>
      context.commandName === 'DescribeInstanceRefreshesCommand'
        ? { output: { InstanceRefreshes: [], $metadata: { httpStatusCode: 200 } }, response: {} }
        : next(args),
    { step: 'initialize', name: 'motoHasNoInstanceRefreshes' },
  );
  return {
    ec2: new EC2Client(config),
    autoScaling,
    elbv2: new ElasticLoadBalancingV2Client(config),
    ssm: new SSMClient(config),
    // Same marshalling options as the Lambda (handler.ts).
    dynamodb: DynamoDBDocumentClient.from(dynamodbRaw, { marshallOptions: { removeUndefinedValues: true } }),
    rds: new RDSClient(config),
    cloudFormation: new CloudFormationClient(config),
    sns: new SNSClient(config),
    eventBridge: new EventBridgeClient(config),
    cloudWatch: new CloudWatchClient(config),
    logs: new CloudWatchLogsClient(config),
    // moto serves buckets by path (no virtual-host DNS here).
    s3: new S3Client({ ...config, forcePathStyle: true }),
    // Unused by the wire tests: their environments have no role keeper to invoke.
    lambda: new LambdaClient(config),
    dynamodbRaw,
  };
}

export function destroyClients(clients: WireClients): void {
  for (const c of [clients.ec2, clients.autoScaling, clients.elbv2, clients.ssm, clients.dynamodb, clients.rds, clients.cloudFormation, clients.sns, clients.eventBridge, clients.cloudWatch, clients.s3, clients.dynamodbRaw]) c.destroy();
}

function must<T>(value: T | undefined | null, what: string): T {
  if (value === undefined || value === null) throw new Error(`moto returned no ${what}`);
  return value;
}

/** The deploy table with the key schema `lock.ts` uses: `pk` (S) partition key, `sk` (S) sort key. */
export async function createDeployTable(clients: WireClients, tableName: string): Promise<void> {
  await clients.dynamodbRaw.send(
    new CreateTableCommand({
      TableName: tableName,
      AttributeDefinitions: [
        { AttributeName: 'pk', AttributeType: 'S' },
        { AttributeName: 'sk', AttributeType: 'S' },
      ],
      KeySchema: [
        { AttributeName: 'pk', KeyType: 'HASH' },
        { AttributeName: 'sk', KeyType: 'RANGE' },
      ],
      BillingMode: 'PAY_PER_REQUEST',
    }),
  );
}

/** The environment's notifications topic, as the stack creates it; its ARN. */
export async function createNotificationTopic(clients: WireClients, name: string): Promise<string> {
  const res = await clients.sns.send(new CreateTopicCommand({ Name: name }));
  return must(res.TopicArn, 'topic ARN');
}

/** The artifacts bucket with these release artifacts uploaded (`releases/<release>.tar.gz`). */
export async function createArtifactsBucket(clients: WireClients, bucket: string, releases: readonly string[]): Promise<void> {
  await clients.s3.send(new CreateBucketCommand({ Bucket: bucket }));
  for (const release of releases) await clients.s3.send(new PutObjectCommand({ Bucket: bucket, Key: `releases/${release}.tar.gz`, Body: 'artifact' }));
}

export interface Network {
  readonly vpcId: string;
  readonly subnetIds: [string, string];
  readonly securityGroupId: string;
}

export async function createNetwork(clients: WireClients): Promise<Network> {
  const vpc = await clients.ec2.send(new CreateVpcCommand({ CidrBlock: '10.0.0.0/16' }));
  const vpcId = must(vpc.Vpc?.VpcId, 'VPC id');
  const subnet = async (cidr: string, az: string) => {
    const res = await clients.ec2.send(new CreateSubnetCommand({ VpcId: vpcId, CidrBlock: cidr, AvailabilityZone: `${MOTO_REGION}${az}` }));
    return must(res.Subnet?.SubnetId, 'subnet id');
  };
  const subnetIds: [string, string] = [await subnet('10.0.1.0/24', 'a'), await subnet('10.0.2.0/24', 'b')];
  const sg = await clients.ec2.send(new CreateSecurityGroupCommand({ GroupName: 'herd-wire-builder', Description: 'builder, egress only', VpcId: vpcId }));
  return { vpcId, subnetIds, securityGroupId: must(sg.GroupId, 'security group id') };
}

export interface LoadBalancer {
  readonly loadBalancerArn: string;
  readonly listenerArn: string;
  readonly targetGroupArn: string;
  readonly bypassRuleArn: string;
}

/** An ALB with a web target group, an HTTP listener forwarding to it and the stack's permanent bypass rule at priority 5. */
export async function createLoadBalancer(clients: WireClients, network: Network, name: string): Promise<LoadBalancer> {
  const lb = await clients.elbv2.send(
    new CreateLoadBalancerCommand({ Name: name, Subnets: [...network.subnetIds], SecurityGroups: [network.securityGroupId], Scheme: 'internet-facing', Type: 'application' }),
  );
  const loadBalancerArn = must(lb.LoadBalancers?.[0]?.LoadBalancerArn, 'load balancer ARN');
  const tg = await clients.elbv2.send(
    new CreateTargetGroupCommand({ Name: `${name}-web`, Protocol: 'HTTP', Port: 8000, VpcId: network.vpcId, TargetType: 'instance', HealthCheckPath: '/health' }),
  );
  const targetGroupArn = must(tg.TargetGroups?.[0]?.TargetGroupArn, 'target group ARN');
  const listener = await clients.elbv2.send(
    new CreateListenerCommand({ LoadBalancerArn: loadBalancerArn, Protocol: 'HTTP', Port: 80, DefaultActions: [{ Type: 'forward', TargetGroupArn: targetGroupArn }] }),
  );
  const listenerArn = must(listener.Listeners?.[0]?.ListenerArn, 'listener ARN');
  const bypass = await clients.elbv2.send(
    new CreateRuleCommand({
      ListenerArn: listenerArn,
      Priority: 5,
      Conditions: [{ Field: 'http-header', HttpHeaderConfig: { HttpHeaderName: BYPASS_HEADER, Values: ['wire-test-secret'] } }],
      Actions: [{ Type: 'forward', TargetGroupArn: targetGroupArn }],
    }),
  );
  return { loadBalancerArn, listenerArn, targetGroupArn, bypassRuleArn: must(bypass.Rules?.[0]?.RuleArn, 'bypass rule ARN') };
}

let cachedBaseImage: string | undefined;

/**
 * A public image moto ships, standing in for the builder's base image. moto's built-in
 * images survive a reset, so the (slow) lookup is done once per test file.
 */
export async function baseImageId(clients: WireClients): Promise<string> {
  if (cachedBaseImage) return cachedBaseImage;
  const res = await clients.ec2.send(new DescribeImagesCommand({ Owners: ['amazon'], Filters: [{ Name: 'architecture', Values: ['x86_64'] }] }));
  const image = (res.Images ?? []).find((i) => i.ImageId && i.RootDeviceType === 'ebs') ?? res.Images?.[0];
  cachedBaseImage = must(image?.ImageId, 'base image');
  return cachedBaseImage;
}

/**
 * An IAM instance profile (moto's RunInstances rejects a profile that does not exist). There is
 * no IAM client among herd's dependencies, so this one setup call speaks IAM's query protocol directly.
 */
export async function createInstanceProfile(server: MotoServer, name: string): Promise<string> {
  const res = await fetch(`${server.endpoint}/`, {
    method: 'POST',
    headers: {
      'Content-Type': 'application/x-www-form-urlencoded; charset=utf-8',
      Authorization: `AWS4-HMAC-SHA256 Credential=testing/20260101/${MOTO_REGION}/iam/aws4_request, SignedHeaders=host, Signature=0`,
    },
    body: new URLSearchParams({ Action: 'CreateInstanceProfile', Version: '2010-05-08', InstanceProfileName: name }).toString(),
  });
  const text = await res.text();
  const arn = /<Arn>([^<]+)<\/Arn>/.exec(text)?.[1];
  if (!res.ok || !arn) throw new Error(`CreateInstanceProfile ${name} failed: HTTP ${res.status} ${text.slice(0, 300)}`);
  return arn;
}

/** A role's launch template (version 1) as the stack creates it: the serving image, instance type, IMDSv2, root volume, the role's instance profile if given. */
export async function createLaunchTemplate(
  clients: WireClients,
  name: string,
  imageId: string,
  securityGroupId: string,
  tags: Record<string, string> = {},
  instanceProfileArn?: string,
): Promise<string> {
  const tagList = Object.entries(tags).map(([Key, Value]) => ({ Key, Value }));
  const res = await clients.ec2.send(
    new CreateLaunchTemplateCommand({
      LaunchTemplateName: name,
      ...(tagList.length > 0 ? { TagSpecifications: [{ ResourceType: 'launch-template' as const, Tags: tagList }] } : {}),
      LaunchTemplateData: {
        ImageId: imageId,
        InstanceType: 't3.small',
        SecurityGroupIds: [securityGroupId],
        MetadataOptions: { HttpTokens: 'required', HttpEndpoint: 'enabled' },
        BlockDeviceMappings: [{ DeviceName: '/dev/xvda', Ebs: { VolumeSize: 20, VolumeType: 'gp3', Encrypted: true, DeleteOnTermination: true } }],
        UserData: Buffer.from('#!/bin/bash\nexec /opt/herd/bin/herd-boot --role web\n').toString('base64'),
        ...(instanceProfileArn ? { IamInstanceProfile: { Arn: instanceProfileArn } } : {}),
      },
    }),
  );
  return must(res.LaunchTemplate?.LaunchTemplateId, 'launch template id');
}

/** An Auto Scaling group on a numbered launch-template version. */
export async function createGroup(
  clients: WireClients,
  network: Network,
  name: string,
  launchTemplateId: string,
  capacity: { min: number; max: number; desired: number },
  version = '1',
  targetGroupArns: string[] = [],
  tags: Record<string, string> = {},
): Promise<void> {
  const tagList = Object.entries(tags).map(([Key, Value]) => ({ Key, Value, PropagateAtLaunch: true }));
  await clients.autoScaling.send(
    new CreateAutoScalingGroupCommand({
      AutoScalingGroupName: name,
      ...(tagList.length > 0 ? { Tags: tagList } : {}),
      LaunchTemplate: { LaunchTemplateId: launchTemplateId, Version: version },
      MinSize: capacity.min,
      MaxSize: capacity.max,
      DesiredCapacity: capacity.desired,
      VPCZoneIdentifier: network.subnetIds.join(','),
      ...(targetGroupArns.length > 0 ? { TargetGroupARNs: targetGroupArns, HealthCheckType: 'ELB', HealthCheckGracePeriod: 180 } : {}),
    }),
  );
}

export async function createDatabase(clients: WireClients, identifier: string): Promise<void> {
  await clients.rds.send(
    new CreateDBInstanceCommand({
      DBInstanceIdentifier: identifier,
      Engine: 'postgres',
      DBInstanceClass: 'db.t4g.micro',
      AllocatedStorage: 20,
      MasterUsername: 'herd',
      MasterUserPassword: 'wire-test-password',
    }),
  );
}

/** One call a client sent: the operation and its input as the deploy step built it. */
export interface RecordedCall {
  readonly command: string;
  readonly input: Record<string, unknown>;
}

interface MiddlewareClient {
  readonly middlewareStack: {
    add(
      middleware: (
        next: (args: { input: object }) => Promise<{ output: unknown; response: unknown }>,
        context: { commandName?: string },
      ) => (args: { input: object }) => Promise<{ output: unknown; response: unknown }>,
      options: { step: 'initialize'; name: string; override?: boolean },
    ): void;
  };
}

/**
 * Records every request `client` sends (before serialization), so a test can assert the
 * request shape herd built as well as the state moto ended up with.
 */
export function recordCalls(client: MiddlewareClient): RecordedCall[] {
  const calls: RecordedCall[] = [];
  client.middlewareStack.add(
    (next, context) => async (args) => {
      calls.push({ command: context.commandName ?? 'unknown', input: structuredClone(args.input) as Record<string, unknown> });
      return next(args);
    },
    { step: 'initialize', name: 'herdWireRecorder', override: true },
  );
  return calls;
}

/**
 * moto gap: moto 5's CreateImage raises NotImplementedError (HTTP 500) for a `snapshot`
 * TagSpecification, which EC2 accepts. This middleware drops that one entry before the
 * request is serialized; the test asserts (with `recordCalls`, registered first) that herd sent it.
 */
export function dropSnapshotTagsOnCreateImage(client: MiddlewareClient): void {
  client.middlewareStack.add(
    (next, context) => async (args) => {
      if (context.commandName !== 'CreateImageCommand') return next(args);
      const input = args.input as { TagSpecifications?: { ResourceType?: string }[] };
      const specs = (input.TagSpecifications ?? []).filter((s) => s.ResourceType !== 'snapshot');
      return next({ ...args, input: { ...input, TagSpecifications: specs } });
    },
    { step: 'initialize', name: 'herdWireMotoCreateImageGap', override: true },
  );
}

let interleaveCount = 0;

/**
 * Runs `action` (with other clients) just before `client` sends its first `commandName`:
 * how a test makes a race happen, e.g. someone else's rule appearing between herd's read and
 * its write, so herd meets the real service's error for it.
 */
export function beforeFirst(client: MiddlewareClient, commandName: string, action: () => Promise<void>): void {
  let done = false;
  client.middlewareStack.add(
    (next, context) => async (args) => {
      if (!done && context.commandName === commandName) {
        done = true;
        await action();
      }
      return next(args);
    },
    { step: 'initialize', name: `herdWireInterleave${++interleaveCount}` },
  );
}
