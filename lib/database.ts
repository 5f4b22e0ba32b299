import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as rds from 'aws-cdk-lib/aws-rds';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import type { DatabaseConfig } from './config/types';
import { acknowledge, acknowledgeGuard } from './nag';

/** The PostgreSQL port. */
export const DATABASE_PORT = 5432;

/**
 * Every log RDS for PostgreSQL exports to CloudWatch Logs that herd's instance produces
 * (ModifyDBInstance CloudwatchLogsExportConfiguration: postgresql | upgrade | iam-db-auth-error).
 * `iam-db-auth-error` is left out: herd does not turn IAM database authentication on, so that log stays empty.
 */
export const POSTGRES_LOG_EXPORTS = ['postgresql', 'upgrade'] as const;
/** Construct ids of their log groups (`postgresql`'s keeps the id it had, so the group is not replaced). */
const LOG_GROUP_IDS: Record<(typeof POSTGRES_LOG_EXPORTS)[number], string> = { postgresql: 'PostgresqlLogs', upgrade: 'UpgradeLogs' };

export interface DatabaseProps {
  readonly vpc: ec2.IVpc;
  readonly app: string;
  readonly environment: string;
  readonly settings: DatabaseConfig;
  /** How long the PostgreSQL log exported to CloudWatch Logs is kept. */
  readonly logRetention: logs.RetentionDays;
}

/**
 * The instance identifier: named after app and environment so that its log group can be
 * created, with its retention, before RDS starts exporting to it (a log group RDS creates
 * itself keeps logs forever, and a later one of the same name would collide with it).
 * RDS frees the name when the instance is deleted, so the environment can be created again.
 */
export function databaseIdentifier(app: string, env: string): string {
  return `herd-${app}-${env}`.replace(/-+/g, '-').slice(0, 63).replace(/-$/, '');
}

/**
 * The environment's shared PostgreSQL: encrypted, in the isolated subnets, reachable only
 * from what is allowed through `connections` (the fleets), credentials generated into
 * Secrets Manager. With `deletionProtection`, the instance cannot be deleted and is
 * snapshotted when its stack is.
 */
export class Database extends Construct implements ec2.IConnectable {
  public readonly instance: rds.DatabaseInstance;
  /** JSON secret with `username`, `password`, `host`, `port`, `dbname`. */
  public readonly secret: secretsmanager.ISecret;
  public readonly connections: ec2.Connections;

  constructor(scope: Construct, id: string, props: DatabaseProps) {
    super(scope, id);
    const s = props.settings;
    const identifier = databaseIdentifier(props.app, props.environment);
    const logGroups = POSTGRES_LOG_EXPORTS.map((type) => new logs.LogGroup(this, LOG_GROUP_IDS[type], {
      logGroupName: `/aws/rds/instance/${identifier}/${type}`,
      retention: props.logRetention,
      removalPolicy: RemovalPolicy.DESTROY,
    }));
    // The instance needs no egress: it only answers the fleets (RDS's own traffic to its
    // service, monitoring and log export does not pass through the instance's security group).
    const securityGroup = new ec2.SecurityGroup(this, 'SecurityGroup', {
      vpc: props.vpc,
      description: 'herd database: reachable from the fleets only',
      allowAllOutbound: false,
    });
    this.instance = new rds.DatabaseInstance(this, 'Instance', {
      instanceIdentifier: identifier,
      engine: rds.DatabaseInstanceEngine.postgres({ version: rds.PostgresEngineVersion.of(s.postgresVersion, s.postgresVersion.split('.')[0]) }),
      instanceType: new ec2.InstanceType(s.instanceType),
      vpc: props.vpc,
      vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_ISOLATED },
      securityGroups: [securityGroup],
      credentials: rds.Credentials.fromGeneratedSecret('herd'),
      databaseName: s.databaseName,
      allocatedStorage: s.allocatedStorageGiB,
      maxAllocatedStorage: s.maxAllocatedStorageGiB,
      port: DATABASE_PORT,
      storageType: rds.StorageType.GP3,
      storageEncrypted: true,
      multiAz: s.multiAz,
      backupRetention: Duration.days(s.backupRetentionDays),
      deletionProtection: s.deletionProtection,
      removalPolicy: s.deletionProtection ? RemovalPolicy.SNAPSHOT : RemovalPolicy.DESTROY,
      autoMinorVersionUpgrade: false, // upgrades follow the configuration, rehearsed on staging first
      copyTagsToSnapshot: true,
      cloudwatchLogsExports: [...POSTGRES_LOG_EXPORTS],
      // OS metrics every N seconds (CDK creates the monitoring role). RDS writes them to the
      // account-wide RDSOSMetrics log group, which it creates and sets the retention of itself
      // (AmazonRDSEnhancedMonitoringRole allows logs:PutRetentionPolicy on RDS*): a group of
      // that name in this stack would collide with the other environments' of the account.
      ...(s.enhancedMonitoringSeconds > 0 ? { monitoringInterval: Duration.seconds(s.enhancedMonitoringSeconds) } : {}),
      // RDS for PostgreSQL supports Performance Insights on every instance class (RDS user
      // guide, "Amazon RDS DB engine, Region, and instance class support for Performance
      // Insights": no restriction for PostgreSQL; db.t*.micro/small are excluded for MariaDB
      // and MySQL only), so no class is refused. The free tier keeps 7 days.
      enablePerformanceInsights: s.performanceInsights,
      ...(s.performanceInsights ? { performanceInsightRetention: rds.PerformanceInsightRetention.DEFAULT } : {}),
      parameters: { 'rds.force_ssl': '1' },
    });
    for (const logGroup of logGroups) this.instance.node.addDependency(logGroup);
    this.secret = this.instance.secret!;
    this.connections = this.instance.connections;

    if (s.enhancedMonitoringSeconds > 0) {
      acknowledge(this.instance, 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole]', 'The Enhanced Monitoring role RDS assumes needs exactly what the AWS-managed policy for it grants (writing to the RDSOSMetrics log group).');
    }
    acknowledge(this.instance, 'AwsSolutions-RDS11', 'The default PostgreSQL port is kept: the database is reachable only from the fleets\' security groups, and a different port adds no protection.');
    if (!s.multiAz) acknowledge(this.instance, 'AwsSolutions-RDS3', 'Single-AZ by configuration (database.multiAz: false) to keep a non-production environment cheap.');
    if (!s.deletionProtection) acknowledge(this.instance, 'AwsSolutions-RDS10', 'Deletion protection off by configuration (database.deletionProtection: false) so a test environment can be torn down.');
    // The same decisions, as the Control Tower proactive controls (cfn-guard) name them.
    acknowledgeGuard(this.instance, 'rds_instance_no_default_ports_check', 'The default PostgreSQL port is kept: the database is reachable only from the fleets\' security groups, and a different port adds no protection.');
    acknowledgeGuard(this.instance, 'rds_instance_automatic_minor_version_upgrade_enabled_check', 'Minor versions follow the configuration (database.postgresVersion), rehearsed on staging before production, rather than changing under a running environment in a maintenance window.');
    acknowledgeGuard(this.instance, 'rds_instance_iam_authentication_enabled_check', 'Password authentication with Secrets Manager rotation (alternating users for the app, lib/database-credentials.ts): IAM authentication would need every app process to mint a 15-minute token through the SDK on each connection, which a Django-style app does not do unchanged, and RDS limits IAM-authenticated connection rates.');
    if (s.enhancedMonitoringSeconds === 0) acknowledgeGuard(this.instance, 'rds_instance_enhanced_monitoring_enabled_check', 'Enhanced Monitoring off by configuration (database.enhancedMonitoringSeconds: 0, the small profile\'s default); CloudWatch\'s standard RDS metrics and the alarms still apply.');
    acknowledgeGuard(this.instance, 'rds_storage_encrypted_kms_key_check', 'Storage is encrypted with the AWS managed key (aws/rds); only this account uses the database and its snapshots, so a customer managed key would add cost and key administration without a cross-account or key-policy need.');
    if (!s.multiAz) acknowledgeGuard(this.instance, 'rds_instance_multi_az_support_check', 'Single-AZ by configuration (database.multiAz: false) to keep a non-production environment cheap.');
    if (!s.deletionProtection) acknowledgeGuard(this.instance, 'rds_instance_deletion_protection_enabled_check', 'Deletion protection off by configuration (database.deletionProtection: false) so a test environment can be torn down.');
    if (s.backupRetentionDays < 7) acknowledgeGuard(this.instance, 'rds_instance_backup_enabled_check', 'Backups kept fewer than 7 days by configuration (database.backupRetentionDays) to keep a non-production environment cheap; backups are on.');
  }
}
