import { RemovalPolicy } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as elasticache from 'aws-cdk-lib/aws-elasticache';
import type * as logs from 'aws-cdk-lib/aws-logs';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { CacheTokenRotation } from './cache-token-rotation';
import type { CacheConfig } from './config/types';
import { acknowledge } from './nag';

export interface CacheProps {
  readonly vpc: ec2.IVpc;
  readonly settings: CacheConfig;
  /** Keep automatic snapshots this many days (0 disables them). */
  readonly snapshotRetentionDays: number;
  /** Of the token's rotation function. */
  readonly logRetention: logs.RetentionDays;
}

/** The Redis port; Valkey speaks the same protocol. */
export const CACHE_PORT = 6379;

/**
 * The shared cache and session store: a Valkey replication group, encrypted at rest and
 * in transit, protected by an AUTH token kept in Secrets Manager, in the isolated
 * subnets, reachable only from what is allowed through `connections` (the fleets).
 */
export class Cache extends Construct implements ec2.IConnectable {
  public readonly replicationGroup: elasticache.CfnReplicationGroup;
  /** The AUTH token (a plain string secret). */
  public readonly authToken: secretsmanager.Secret;
  public readonly connections: ec2.Connections;
  /** The token's rotation (unset: `cache.rotationDays` 0). */
  public readonly tokenRotation?: CacheTokenRotation;

  constructor(scope: Construct, id: string, props: CacheProps) {
    super(scope, id);
    const securityGroup = new ec2.SecurityGroup(this, 'SecurityGroup', {
      vpc: props.vpc,
      description: 'herd cache: reachable from the fleets only',
      allowAllOutbound: false,
    });
    this.connections = new ec2.Connections({ securityGroups: [securityGroup], defaultPort: ec2.Port.tcp(CACHE_PORT) });

    this.authToken = new secretsmanager.Secret(this, 'AuthToken', {
      description: 'AUTH token of the herd cache',
      // ElastiCache tokens: 16-128 printable characters, no @ " / or spaces.
      generateSecretString: { passwordLength: 64, excludePunctuation: true, includeSpace: false },
    });
    // Never by hand: a new value in the secret changes nothing on the group (see AuthToken below),
    // but servers that boot afterwards would send it and be refused. The rotation function
    // changes the group's token first, the secret's after.

    const subnetGroup = new elasticache.CfnSubnetGroup(this, 'SubnetGroup', {
      description: 'herd cache subnets',
      subnetIds: props.vpc.selectSubnets({ subnetType: ec2.SubnetType.PRIVATE_ISOLATED }).subnetIds,
    });
    const replicated = props.settings.replicas > 0;
    this.replicationGroup = new elasticache.CfnReplicationGroup(this, 'ReplicationGroup', {
      replicationGroupDescription: 'herd cache and sessions',
      engine: 'valkey',
      engineVersion: '8.0',
      cacheNodeType: `cache.${props.settings.nodeType}`,
      numNodeGroups: 1,
      replicasPerNodeGroup: props.settings.replicas,
      automaticFailoverEnabled: replicated,
      multiAzEnabled: replicated,
      atRestEncryptionEnabled: true,
      transitEncryptionEnabled: true,
      // A versionless dynamic reference (AWSCURRENT), kept so on purpose. CloudFormation resolves
      // it when it creates the group and again only when a stack update updates the group itself,
      // never because the secret's value changed (CloudFormation User Guide, "Get a secret or
      // secret value from Secrets Manager": "Updating a secret in Secrets Manager doesn't
      // automatically update the secret in CloudFormation",
      // https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/dynamic-references-secretsmanager.html,
      // which recommends versionless references for rotated secrets): the template's text does
      // not change with a rotation, so a rotation alone never makes CloudFormation send a token.
      // Whenever it does resolve it, it gets the token the servers read (AWSCURRENT), which the
      // group always accepts: the rotation makes a token current only after the group took it.
      // CloudFormation has no AuthTokenUpdateStrategy property, and ModifyReplicationGroup's
      // default is ROTATE, so such a re-sent token at worst drops the one before it, which no
      // server uses after the restart that follows a rotation; "if ADDING the AuthToken, update
      // requires Replacement" (the resource reference) concerns a group without one, never
      // herd's. A version id (or another stage) here would pin an old token instead.
      authToken: this.authToken.secretValue.unsafeUnwrap(),
      cacheSubnetGroupName: subnetGroup.ref,
      securityGroupIds: [securityGroup.securityGroupId],
      port: CACHE_PORT,
      snapshotRetentionLimit: props.snapshotRetentionDays,
      autoMinorVersionUpgrade: true,
    });
    this.replicationGroup.applyRemovalPolicy(RemovalPolicy.DESTROY);
    acknowledge(this.replicationGroup, 'AwsSolutions-AEC5', 'The default Redis port is kept: the cache is reachable only from the fleets\' security groups.');
    if (!replicated) acknowledge(this.replicationGroup, 'AwsSolutions-AEC4', 'No replica by configuration (cache.replicas: 0) to keep a non-production environment cheap; the cache holds no data that cannot be rebuilt but sessions.');

    if (props.settings.rotationDays > 0) {
      this.tokenRotation = new CacheTokenRotation(this, 'TokenRotation', {
        secret: this.authToken,
        replicationGroup: this.replicationGroup,
        rotationDays: props.settings.rotationDays,
        logRetention: props.logRetention,
      });
    } else {
      acknowledge(this.authToken, 'AwsSolutions-SMG4', 'Rotation off by configuration (cache.rotationDays: 0).');
    }
  }

  /** Primary endpoint address. */
  public get host(): string {
    return this.replicationGroup.attrPrimaryEndPointAddress;
  }
}
