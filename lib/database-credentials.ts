import { CustomResource, Duration } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as rds from 'aws-cdk-lib/aws-rds';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { BundledFunction } from './bundled-function';
import { customResourceProvider } from './custom-resource-provider';
import { DATABASE_PORT, type Database } from './database';
import { acknowledge } from './nag';

export interface DatabaseCredentialsProps {
  readonly vpc: ec2.IVpc;
  readonly database: Database;
  /** The database the app connects to (`database.databaseName`). */
  readonly databaseName: string;
  /** Days between rotations of both secrets; 0: no rotation. */
  readonly rotationDays: number;
  readonly logRetention: logs.RetentionDays;
}

/**
 * The application's PostgreSQL login and group role, derived from the database name: the
 * names PostgreSQL sees stay within its 63 bytes with the rotation's `_clone` suffix.
 */
export function applicationRoles(databaseName: string): { user: string; group: string } {
  const base = databaseName.slice(0, 47);
  return { user: `${base}_app`, group: `${base}_app_group` };
}

/**
 * The database credentials the app uses, apart from the master's:
 * - the application secret (`<db>_app`, JSON like the master's, with `masterarn` for the
 *   multi-user rotation), the only database secret web and worker read;
 * - the role keeper, a function in the fleets' private subnets allowed into the database,
 *   which with the master credentials keeps the application's group role and login
 *   (`lambda/role-keeper/roles.ts`) on every stack create/update (custom resource) and after
 *   every migration (the deploy step invokes it: `lambda/deploy/role-keeper.ts`), so schemas a
 *   migration creates are the app's to use before the new code serves;
 * - rotation on a schedule with Secrets Manager's hosted PostgreSQL functions (a
 *   `AWS::SecretsManager-2024-09-16` transform, which CDK adds): the master single-user, the application
 *   secret alternating users (the previous user stays valid until the next rotation, which
 *   leaves time for the rolling restart `RotationRestart` starts: lib/rotation-restart.ts). The hosted
 *   functions reach Secrets Manager through the private subnets' NAT (or an interface endpoint).
 */
export class DatabaseCredentials extends Construct {
  public readonly appSecret: secretsmanager.ISecret;
  public readonly keeper: BundledFunction;
  public readonly groupRole: string;
  /** The security group of the keeper and the rotation functions, allowed into the database. */
  public readonly securityGroup: ec2.SecurityGroup;

  constructor(scope: Construct, id: string, props: DatabaseCredentialsProps) {
    super(scope, id);
    const master = props.database.secret;
    const roles = applicationRoles(props.databaseName);
    this.groupRole = roles.group;
    const appSecret = new rds.DatabaseSecret(this, 'AppSecret', {
      username: roles.user,
      dbname: props.databaseName,
      masterSecret: master,
    });
    const attached = appSecret.attach(props.database.instance);
    this.appSecret = attached;

    this.securityGroup = new ec2.SecurityGroup(this, 'SecurityGroup', {
      vpc: props.vpc,
      description: 'herd database role keeper and credential rotation: to the database and AWS APIs',
      allowAllOutbound: true,
    });
    props.database.connections.allowFrom(this.securityGroup, ec2.Port.tcp(DATABASE_PORT), 'role keeper and rotation to database');
    const vpcSubnets = { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS };

    this.keeper = new BundledFunction(this, 'RoleKeeper', {
      entry: 'role-keeper/index.ts',
      description: 'herd: keeps the app\'s PostgreSQL group role and login (from the app secret) with the master credentials',
      timeout: Duration.minutes(2),
      environment: {
        MASTER_SECRET_ARN: master.secretArn,
        APP_SECRET_ARN: attached.secretArn,
        GROUP_ROLE: roles.group,
        DATABASE_NAME: props.databaseName,
        // The Node.js runtime trusts the RDS certificate authorities only when told to:
        // https://docs.aws.amazon.com/lambda/latest/dg/lambda-nodejs.html ("CA certificate loading": from Node.js 20 on,
        // only with NODE_EXTRA_CA_CERTS=/var/runtime/ca-cert.pem).
        NODE_EXTRA_CA_CERTS: '/var/runtime/ca-cert.pem',
      },
      logRetention: props.logRetention,
      vpc: props.vpc,
      vpcSubnets,
      securityGroups: [this.securityGroup],
    });
    master.grantRead(this.keeper);
    attached.grantRead(this.keeper);
    acknowledge(this.keeper, 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole]',
      'A function in the VPC needs the network interface permissions of this AWS policy; it writes only its own logs besides.');
    const provider = customResourceProvider(this, 'RoleKeeperProvider', this.keeper);
    const keep = new CustomResource(this, 'AppRoles', {
      serviceToken: provider.serviceToken,
      resourceType: 'Custom::HerdDatabaseRoles',
      // Changes with the secret (a replaced secret) and the names: the keeper runs again.
      properties: { AppSecretArn: attached.secretArn, GroupRole: roles.group, DatabaseName: props.databaseName },
    });
    keep.node.addDependency(props.database.instance);

    if (props.rotationDays > 0) {
      const common = { vpc: props.vpc, vpcSubnets, securityGroups: [this.securityGroup] };
      // Secrets Manager rotates when a schedule is created unless told otherwise; the first
      // rotation waits for the schedule, and the application user exists before it (the keeper).
      const automaticallyAfter = Duration.days(props.rotationDays);
      master.addRotationSchedule('Rotation', { hostedRotation: secretsmanager.HostedRotation.postgreSqlSingleUser(common), automaticallyAfter, rotateImmediatelyOnUpdate: false });
      const appRotation = attached.addRotationSchedule('Rotation', {
        hostedRotation: secretsmanager.HostedRotation.postgreSqlMultiUser({ ...common, masterSecret: master }),
        automaticallyAfter,
        rotateImmediatelyOnUpdate: false,
      });
      appRotation.node.addDependency(keep);
    } else {
      acknowledge(master, 'AwsSolutions-SMG4', 'Rotation off by configuration (database.rotationDays: 0).');
      acknowledge(appSecret, 'AwsSolutions-SMG4', 'Rotation off by configuration (database.rotationDays: 0).');
    }
  }
}
