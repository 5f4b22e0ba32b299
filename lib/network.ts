import { RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { OUTSIDE_VPC_REASON } from './bundled-function';
import { acknowledgeGuard } from './nag';

export interface NetworkProps {
  /** IPv4 range of the VPC. */
  readonly cidr: string;
  /** Availability zones to spread over (environment-agnostic stacks get at most 2). */
  readonly maxAzs: number;
  /** NAT gateways: 1 for a cheap environment, one per AZ for a resilient one. */
  readonly natGateways: number;
  /** How long flow logs are kept. */
  readonly flowLogRetention: logs.RetentionDays;
  /** Interface endpoints for what the instances call (`INSTANCE_ENDPOINTS`). @default false */
  readonly interfaceEndpoints?: boolean;
}

/**
 * The AWS APIs herd's instances call, reached through interface endpoints when configured:
 * the boot script reads its settings from SSM Parameter Store and secrets from Secrets
 * Manager, the migration runner and `herd run` report to SSM, the CloudWatch agent ships logs
 * (and sets their retention), Session Manager (`herd console`) uses SSM with its ssmmessages
 * and ec2messages channels. S3 has its gateway endpoint. Not needed: STS (instances take
 * their credentials from instance metadata), KMS (Secrets Manager and SSM decrypt
 * server-side), CloudWatch metrics (the agent ships logs only), EC2 (the boot script reads
 * tags from no API; the instance id comes from instance metadata).
 */
export const INSTANCE_ENDPOINTS = {
  Ssm: ec2.InterfaceVpcEndpointAwsService.SSM,
  SsmMessages: ec2.InterfaceVpcEndpointAwsService.SSM_MESSAGES,
  Ec2Messages: ec2.InterfaceVpcEndpointAwsService.EC2_MESSAGES,
  SecretsManager: ec2.InterfaceVpcEndpointAwsService.SECRETS_MANAGER,
  Logs: ec2.InterfaceVpcEndpointAwsService.CLOUDWATCH_LOGS,
} as const;

/**
 * The environment's VPC: public subnets for the load balancer and NAT gateways, private
 * subnets (egress through NAT) for the fleets, isolated subnets for the database and
 * cache, an S3 gateway endpoint, optionally interface endpoints for the APIs the instances
 * call, and flow logs of all traffic.
 */
export class Network extends Construct {
  public readonly vpc: ec2.Vpc;

  constructor(scope: Construct, id: string, props: NetworkProps) {
    super(scope, id);
    this.vpc = new ec2.Vpc(this, 'Vpc', {
      ipAddresses: ec2.IpAddresses.cidr(props.cidr),
      maxAzs: props.maxAzs,
      natGateways: props.natGateways,
      subnetConfiguration: [
        // Only the load balancer and NAT gateways live here, with addresses of their own: nothing
        // launched here gets a public IP by accident (Control Tower CT.EC2.PR.11).
        { name: 'Public', subnetType: ec2.SubnetType.PUBLIC, cidrMask: 26, mapPublicIpOnLaunch: false },
        { name: 'Private', subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS },
        { name: 'Isolated', subnetType: ec2.SubnetType.PRIVATE_ISOLATED, cidrMask: 26 },
      ],
      restrictDefaultSecurityGroup: true,
    });
    // restrictDefaultSecurityGroup's handler: a CDK singleton at the stack's root.
    const restrictDefaultSg = Stack.of(this).node.tryFindChild('Custom::VpcRestrictDefaultSGCustomResourceProvider');
    if (restrictDefaultSg) acknowledgeGuard(restrictDefaultSg, 'lambda_inside_vpc_check', OUTSIDE_VPC_REASON);
    // Builder downloads, the AL2023 package repositories (hosted in S3) and artifact reads
    // reach S3 without the NAT gateway (no per-GB processing charge, no NAT dependency).
    this.vpc.addGatewayEndpoint('S3', {
      service: ec2.GatewayVpcEndpointAwsService.S3,
      subnets: [{ subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS }, { subnetType: ec2.SubnetType.PRIVATE_ISOLATED }],
    });
    if (props.interfaceEndpoints) {
      // One security group for every endpoint: HTTPS from the VPC, no egress (an endpoint only answers).
      const endpointSecurityGroup = new ec2.SecurityGroup(this, 'EndpointSecurityGroup', {
        vpc: this.vpc,
        description: 'herd interface endpoints: HTTPS from the VPC',
        allowAllOutbound: false,
      });
      endpointSecurityGroup.addIngressRule(ec2.Peer.ipv4(props.cidr), ec2.Port.tcp(443), 'HTTPS from the VPC');
      for (const [id, service] of Object.entries(INSTANCE_ENDPOINTS)) {
        // Private DNS: the instances' SDKs resolve the regional service names to the endpoint.
        this.vpc.addInterfaceEndpoint(id, {
          service,
          subnets: { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS },
          privateDnsEnabled: true,
          securityGroups: [endpointSecurityGroup],
          open: false,
        });
      }
    }
    const flowLogGroup = new logs.LogGroup(this, 'FlowLogGroup', {
      retention: props.flowLogRetention,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    this.vpc.addFlowLog('FlowLog', {
      destination: ec2.FlowLogDestination.toCloudWatchLogs(flowLogGroup),
      trafficType: ec2.FlowLogTrafficType.ALL,
    });
  }
}
