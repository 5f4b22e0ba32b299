/**
 * An environment built in moto the way the stack builds it (network, load balancer,
 * groups, launch templates, deploy table, artifacts bucket, release parameters, bypass
 * secret, state machine), then a CloudFormation stack `herd-<env>` whose outputs carry
 * their names and ARNs, so the CLI finds everything through DescribeStacks.
 */
import { CloudFormationClient, CreateStackCommand } from '@aws-sdk/client-cloudformation';
import { CreateImageCommand, RunInstancesCommand, TerminateInstancesCommand } from '@aws-sdk/client-ec2';
import { IAMClient } from '@aws-sdk/client-iam';
import { KMSClient } from '@aws-sdk/client-kms';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { CreateSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { ServiceQuotasClient } from '@aws-sdk/client-service-quotas';
import { CreateStateMachineCommand, SFNClient } from '@aws-sdk/client-sfn';
import { PutParameterCommand } from '@aws-sdk/client-ssm';
import { STSClient } from '@aws-sdk/client-sts';
import type { AwsClients } from '../../../lib/cli/deps';
import { TAGS, parameterNames } from '../../../lib/names';
import { clientConfig, startMoto, type MotoHandle, type MotoServer } from '../../support/moto';
import {
  baseImageId,
  createDeployTable,
  createGroup,
  createLaunchTemplate,
  createLoadBalancer,
  createInstanceProfile,
  createNetwork,
  wireClients,
  type Network,
  type WireClients,
} from '../../wire/cloud';

export interface MotoClients extends AwsClients {
  readonly wire: WireClients;
}

export function motoClients(server: MotoServer): MotoClients {
  const config = clientConfig(server);
  const wire = wireClients(server);
  return {
    ...wire,
    wire,
    cloudFormation: new CloudFormationClient(config),
    sfn: new SFNClient(config),
    s3: new S3Client({ ...config, forcePathStyle: true }),
    secretsManager: new SecretsManagerClient(config),
    sts: new STSClient(config),
    iam: new IAMClient(config),
    kms: new KMSClient(config),
    serviceQuotas: new ServiceQuotasClient(config),
  };
}

export interface MotoEnvironment {
  readonly env: string;
  readonly outputs: Record<string, string>;
  readonly network: Network;
  readonly baseImage: string;
}

/**
 * `server`: also create the migration runner's instance profile (moto's RunInstances checks it
 * exists) and give the stack the Runner* outputs `herd run` launches with.
 */
export async function createMotoEnvironment(clients: MotoClients, env = 'staging', app = 'shop', server?: MotoServer): Promise<MotoEnvironment> {
  const wire = clients.wire;
  const network = await createNetwork(wire);
  const lb = await createLoadBalancer(wire, network, `herd-${env}`);
  const baseImage = await baseImageId(wire);
  const webLt = await createLaunchTemplate(wire, `herd-${env}-web`, baseImage, network.securityGroupId);
  const workerLt = await createLaunchTemplate(wire, `herd-${env}-worker`, baseImage, network.securityGroupId);
  await createGroup(wire, network, `herd-${env}-web`, webLt, { min: 1, max: 2, desired: 1 }, '1', [lb.targetGroupArn]);
  await createGroup(wire, network, `herd-${env}-worker`, workerLt, { min: 1, max: 1, desired: 1 });
  const tableName = `herd-${env}-deploys`;
  await createDeployTable(wire, tableName);
  const bucket = `herd-${env}-artifacts`;
  await clients.s3.send(new CreateBucketCommand({ Bucket: bucket }));
  const names = parameterNames(app, env);
  await wire.ssm.send(new PutParameterCommand({ Name: names.currentRelease, Value: 'r1', Type: 'String' }));
  await wire.ssm.send(new PutParameterCommand({ Name: names.currentImage, Value: baseImage, Type: 'String' }));
  const secret = await clients.secretsManager.send(new CreateSecretCommand({ Name: `herd/${app}/${env}/maintenance-bypass`, SecretString: 'bypass-value' }));
  const sm = await clients.sfn.send(
    new CreateStateMachineCommand({
      name: `herd-${env}-deploy`,
      roleArn: 'arn:aws:iam::123456789012:role/herd-deploy',
      definition: JSON.stringify({ StartAt: 'Advance', States: { Advance: { Type: 'Pass', End: true } } }),
    }),
  );
  const outputs: Record<string, string> = {
    Url: `http://herd-${env}.example.test`,
    LoadBalancerDnsName: `herd-${env}.example.test`,
    ListenerArn: lb.listenerArn,
    TargetGroupArn: lb.targetGroupArn,
    MaintenancePriority: '10',
    WebAutoScalingGroup: `herd-${env}-web`,
    WorkerAutoScalingGroup: `herd-${env}-worker`,
    WebLaunchTemplateId: webLt,
    WorkerLaunchTemplateId: workerLt,
    ArtifactsBucket: bucket,
    ParameterRoot: names.root,
    DatabaseSecretArn: secret.ARN ?? '',
    DeployStateMachineArn: sm.stateMachineArn ?? '',
    DeployTableName: tableName,
    MaintenanceBypassSecretArn: secret.ARN ?? '',
    ...(server
      ? {
          RunnerInstanceProfileArn: await createInstanceProfile(server, `herd-${env}-runner`),
          RunnerRoleArn: `arn:aws:iam::123456789012:role/herd-${env}-runner`,
          RunnerSubnetIds: network.subnetIds.join(','),
        }
      : {}),
  };
  const template = {
    Resources: { Topic: { Type: 'AWS::SNS::Topic', Properties: { TopicName: `herd-${env}` } } },
    Outputs: {
      ...Object.fromEntries(Object.entries(outputs).map(([k, v]) => [k, { Value: v }])),
      NotificationTopic: { Value: { Ref: 'Topic' } },
    },
  };
  await clients.cloudFormation.send(new CreateStackCommand({ StackName: `herd-${env}`, TemplateBody: JSON.stringify(template) }));
  return { env, outputs, network, baseImage };
}

/** A release image tagged as the deploy step tags them. */
export async function createReleaseImage(clients: MotoClients, m: MotoEnvironment, release: string, app = 'shop'): Promise<string> {
  const run = await clients.ec2.send(new RunInstancesCommand({ ImageId: m.baseImage, MinCount: 1, MaxCount: 1, SubnetId: m.network.subnetIds[0] }));
  const id = run.Instances?.[0]?.InstanceId ?? '';
  const tags = { [TAGS.app]: app, [TAGS.environment]: m.env, [TAGS.release]: release };
  const image = await clients.ec2.send(
    new CreateImageCommand({ InstanceId: id, Name: `herd-${app}-${release}`, TagSpecifications: [{ ResourceType: 'image', Tags: Object.entries(tags).map(([Key, Value]) => ({ Key, Value })) }] }),
  );
  await clients.ec2.send(new TerminateInstancesCommand({ InstanceIds: [id] }));
  return image.ImageId ?? '';
}

/**
 * A moto_server for the test file and, before each test, the environment made afresh in it
 * (with the migration runner's instance profile, which `herd run` launches with). `use` gets
 * the clients and the environment (and may add to it) before each test.
 */
export function freshMotoEnvironmentEachTest(use: (clients: MotoClients, m: MotoEnvironment, server: MotoServer) => void | Promise<void>): MotoHandle {
  const moto = startMoto();
  let clients: MotoClients | undefined;
  beforeAll(async () => {
    clients = motoClients(await moto.ready);
  }, 30_000);
  beforeEach(async () => {
    const server = moto.server();
    await server.reset();
    if (!clients) throw new Error('moto_server did not start');
    await use(clients, await createMotoEnvironment(clients, 'staging', 'shop', server), server);
  }, 30_000);
  return moto;
}
