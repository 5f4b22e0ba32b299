import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as nodejs from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import * as path from 'path';
import { acknowledgeGuard } from './nag';

export interface BundledFunctionProps {
  /** Entry file, relative to `lambda/`. */
  readonly entry: string;
  readonly description: string;
  /** @default 1 minute */
  readonly timeout?: Duration;
  readonly environment?: Record<string, string>;
  readonly logRetention: logs.RetentionDays;
  /** Run in this VPC (a function that reaches the database). @default - outside any VPC */
  readonly vpc?: ec2.IVpc;
  readonly vpcSubnets?: ec2.SubnetSelection;
  readonly securityGroups?: ec2.ISecurityGroup[];
}

/**
 * Why herd's functions (and the CDK helpers that serve them) run outside the VPC: they call
 * only AWS APIs and reach nothing inside it.
 */
export const OUTSIDE_VPC_REASON = 'The function calls only AWS APIs (SSM, EC2, Elastic Load Balancing, Step Functions, DynamoDB, S3, CloudFormation) and reaches nothing inside the VPC; inside it, it would need the NAT gateway or interface endpoints to reach them and would gain no protection.';

/** Lambda runtime of every herd function. */
export const HERD_LAMBDA_RUNTIME = lambda.Runtime.NODEJS_24_X;

/**
 * A herd Lambda function: TypeScript from `lambda/`, bundled by the local esbuild (no
 * Docker) with its AWS SDK clients inside, so their version is pinned by herd's lockfile
 * rather than by the Lambda runtime.
 */
export class BundledFunction extends nodejs.NodejsFunction {
  constructor(scope: Construct, id: string, props: BundledFunctionProps) {
    const logGroup = new logs.LogGroup(scope, `${id}Logs`, { retention: props.logRetention, removalPolicy: RemovalPolicy.DESTROY });
    super(scope, id, {
      entry: path.join(__dirname, '..', 'lambda', props.entry),
      description: props.description,
      runtime: HERD_LAMBDA_RUNTIME,
      architecture: lambda.Architecture.ARM_64,
      memorySize: 256,
      timeout: props.timeout ?? Duration.minutes(1),
      environment: props.environment,
      logGroup,
      ...(props.vpc ? { vpc: props.vpc, vpcSubnets: props.vpcSubnets, securityGroups: props.securityGroups } : {}),
      depsLockFilePath: path.join(__dirname, '..', 'package-lock.json'),
      projectRoot: path.join(__dirname, '..'),
      bundling: {
        minify: true,
        sourceMap: true,
        target: 'node24',
        externalModules: [], // bundle the SDK clients too
        forceDockerBundling: false,
      },
    });
    // A function in the VPC (the role keeper, which reaches the database) passes the rule; the others need none.
    if (!props.vpc) acknowledgeGuard(this, 'lambda_inside_vpc_check', OUTSIDE_VPC_REASON);
  }
}
