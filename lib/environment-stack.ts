import { CfnCondition, CfnOutput, Fn, RemovalPolicy, Stack, StackProps, Tags } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as ssm from 'aws-cdk-lib/aws-ssm';
import { Construct } from 'constructs';
import { AccessLogs } from './access-logs';
import { HERD_PLAIN_SETTINGS, HERD_SECRET_SETTINGS } from './app-settings';
import { Artifacts } from './artifacts';
import { Cache, CACHE_PORT } from './cache';
import { CacheAlarms } from './cache-alarms';
import type { EnvironmentConfig } from './config/types';
import { Dashboard, dashboardName } from './dashboard';
import { Database, DATABASE_PORT } from './database';
import { DatabaseAlarms } from './database-alarms';
import { DeployAlarms } from './deploy-alarms';
import { DatabaseCredentials } from './database-credentials';
import { DeployGuard } from './deploy-guard';
import { DeployStep } from './deploy-step';
import { Fleet } from './fleet';
import { retainFunctionLogs } from './function-logs';
import { LoadBalancer, MAINTENANCE_PRIORITY } from './load-balancer';
import { configFingerprint } from './config/fingerprint';
import { logGroupName, NO_RELEASE, parameterNames, TAGS } from './names';
import { acknowledge } from './nag';
import { Network } from './network';
import { NetworkAlarms } from './network-alarms';
import { Notifications } from './notifications';
import { retentionOf } from './retention';
import { WebApplicationFirewall } from './waf';
import { RotationRestart } from './rotation-restart';

export interface EnvironmentStackProps extends StackProps {
  /** The app every environment of this configuration runs. */
  readonly app: string;
  /** This environment, validated and with defaults applied. */
  readonly config: EnvironmentConfig;
  /**
   * The other environments of the app (names, from the configuration; may be empty): a
   * release baked here may be promoted to them, so image retention keeps their current images.
   */
  readonly peerEnvironments: readonly string[];
}

/**
 * Everything one environment needs, from nothing: network, load balancer with its
 * maintenance-page plumbing, web and worker fleets, PostgreSQL, Valkey, secrets, the
 * parameters the instances boot from, artifact storage, notifications and alarms, and the
 * deploy step. The release parameters it resolves at deploy time live in the
 * `herd-<env>-release-state` stack, which it depends on (`ReleaseStateStack`).
 */
export class EnvironmentStack extends Stack {
  public readonly network: Network;
  public readonly loadBalancer: LoadBalancer;
  /** The web application firewall on the load balancer (`waf.enabled`). */
  public readonly firewall?: WebApplicationFirewall;
  public readonly web: Fleet;
  public readonly worker: Fleet;
  public readonly database: Database;
  public readonly databaseCredentials: DatabaseCredentials;
  public readonly cache: Cache;
  public readonly artifacts: Artifacts;
  public readonly notifications: Notifications;
  public readonly deployStep: DeployStep;
  public readonly deployGuard: DeployGuard;
  public readonly parameters: ReturnType<typeof parameterNames>;
  /**
   * Alarms beyond the load balancer's (database, cache, NAT gateways, deploy executions): they
   * notify the topic and never roll a deploy back (`alarms.ts`).
   */
  public readonly serviceAlarms: { database: DatabaseAlarms; cache: CacheAlarms; network: NetworkAlarms; deploy: DeployAlarms };
  public readonly dashboard: Dashboard;

  constructor(scope: Construct, id: string, props: EnvironmentStackProps) {
    super(scope, id, props);
    const { app, config } = props;
    const env = config.name;
    Tags.of(this).add(TAGS.app, app);
    Tags.of(this).add(TAGS.environment, env);
    const logRetention = retentionOf(config.logRetentionDays);
    this.parameters = parameterNames(app, env);

    this.notifications = new Notifications(this, 'Notifications', { emails: config.alarms.emails });
    this.network = new Network(this, 'Network', {
      cidr: config.network.cidr,
      maxAzs: config.network.maxAzs,
      natGateways: config.network.natGateways,
      flowLogRetention: retentionOf(config.network.flowLogRetentionDays),
      interfaceEndpoints: config.network.interfaceEndpoints,
    });
    const vpc = this.network.vpc;
    const accessLogs = new AccessLogs(this, 'AccessLogs', { retentionDays: config.loadBalancer.accessLogRetentionDays });
    this.artifacts = new Artifacts(this, 'Artifacts', { accessLogs });

    const bypassSecret = config.maintenance.bypassHeader
      ? new secretsmanager.Secret(this, 'MaintenanceBypass', {
        // No fixed name: a deleted secret keeps its name for its recovery window, which would
        // stop the environment from being created again (its ARN is a stack output).
        description: `herd ${env}: send this value in the X-Herd-Bypass header to see the site behind the maintenance page`,
        generateSecretString: { passwordLength: 32, excludePunctuation: true, includeSpace: false },
      })
      : undefined;
    if (bypassSecret) acknowledge(bypassSecret, 'AwsSolutions-SMG4', 'The bypass value lives in a listener rule; rotating it is `herd maintenance rotate-bypass`, not a Lambda rotation.');
    const secretKey = new secretsmanager.Secret(this, 'SecretKey', {
      description: `herd ${env}: the app's SECRET_KEY (sessions, signed cookies)`,
      generateSecretString: { passwordLength: 64, excludePunctuation: true, includeSpace: false },
    });
    acknowledge(secretKey, 'AwsSolutions-SMG4', 'Rotating the app\'s signing key logs every user out; rotate it deliberately, then roll the fleet with a deploy.');

    this.loadBalancer = new LoadBalancer(this, 'LoadBalancer', {
      vpc,
      appPort: config.appPort,
      healthCheck: config.healthCheck,
      settings: config.loadBalancer,
      certificateArn: config.certificateArn,
      accessLogs,
      bypassSecret,
      bypassCidrs: config.maintenance.bypassCidrs,
      alarms: config.alarms,
      topic: this.notifications.topic,
    });

    if (config.waf.enabled) {
      this.firewall = new WebApplicationFirewall(this, 'Firewall', {
        app,
        environment: env,
        settings: config.waf,
        loadBalancer: this.loadBalancer.alb,
        logRetention,
      });
    }

    this.database = new Database(this, 'Database', { vpc, app, environment: env, settings: config.database, logRetention });
    this.databaseCredentials = new DatabaseCredentials(this, 'DatabaseCredentials', {
      vpc,
      database: this.database,
      databaseName: config.database.databaseName,
      rotationDays: config.database.rotationDays,
      logRetention,
    });
    const appDatabaseSecret = this.databaseCredentials.appSecret;
    this.cache = new Cache(this, 'Cache', {
      vpc,
      settings: config.cache,
      snapshotRetentionDays: config.profile === 'production' ? 7 : 0,
      logRetention,
    });

    // The release seam, resolved by CloudFormation when an operation starts (the parameters
    // exist already: the release-state stack is deployed first). The launch templates take
    // the image as a literal AMI id; the groups' floor follows the release.
    const currentImage = ssm.StringParameter.valueForTypedStringParameterV2(this, this.parameters.currentImage, ssm.ParameterValueType.AWS_EC2_IMAGE_ID);
    const currentRelease = ssm.StringParameter.valueForStringParameter(this, this.parameters.currentRelease);
    const released = new CfnCondition(this, 'Released', { expression: Fn.conditionNot(Fn.conditionEquals(currentRelease, NO_RELEASE)) });

    // What the fleets read at boot: the application's database login, never the master's.
    const instanceSecrets = [appDatabaseSecret, this.cache.authToken, secretKey];
    // What the migration runner (and `herd run`) reads: the master's login replaces the
    // application's (`secretEnvOwnerPrefix`), so it owns the schema the migrations change.
    const runnerSecrets = [this.database.secret, this.cache.authToken, secretKey];
    const ebsKmsKey = config.ebsKmsKeyArn ? kms.Key.fromKeyArn(this, 'EbsKey', config.ebsKmsKeyArn) : undefined;
    const fleetDefaults = {
      vpc,
      app,
      environment: env,
      imageParameterName: this.parameters.currentImage,
      released,
      ...(ebsKmsKey ? { ebsKmsKey } : {}),
      logRetentionDays: logRetention,
      gracePeriodSeconds: config.healthCheck.gracePeriodSeconds,
      instanceWarmupSeconds: config.deploy.rolling.instanceWarmupSeconds,
      secrets: instanceSecrets,
      topic: this.notifications.topic,
      logRetention,
    };
    this.web = new Fleet(this, 'Web', { ...fleetDefaults, role: 'web', settings: config.web, elbHealthCheck: true });
    this.worker = new Fleet(this, 'Worker', { ...fleetDefaults, role: 'worker', settings: config.worker });
    this.web.autoScalingGroup.attachToApplicationTargetGroup(this.loadBalancer.targetGroup);

    this.web.connections.allowFrom(this.loadBalancer, ec2.Port.tcp(config.appPort), 'load balancer to web');
    for (const fleet of [this.web, this.worker]) {
      this.database.connections.allowFrom(fleet, ec2.Port.tcp(DATABASE_PORT), `${fleet.role} to database`);
      this.cache.connections.allowFrom(fleet, ec2.Port.tcp(CACHE_PORT), `${fleet.role} to cache`);
    }

    // Migration runs and every instance's boot (herd-boot and cloud-init); web and worker
    // have theirs in their fleets. They go with the stack: a re-created environment makes them anew.
    // `herd run`'s one-off commands have their own group, so their output never mixes with the migrations'.
    for (const [id, process] of [['ReleaseLogs', 'release'], ['RunLogs', 'run'], ['BootLogs', 'boot']] as const) {
      new logs.LogGroup(this, id, { logGroupName: logGroupName(app, env, process), retention: logRetention, removalPolicy: RemovalPolicy.DESTROY });
    }

    // What the boot script renders into the app's environment (it adds HERD_APP, HERD_ENV,
    // HERD_ROLE, HERD_RELEASE and HERD_INSTANCE_ID itself).
    // Exactly the names `HERD_PLAIN_SETTINGS` lists (the type says so), which `herd config` refuses.
    const herdSettings: Record<(typeof HERD_PLAIN_SETTINGS)[number], string> = {
      PORT: String(config.appPort),
      DATABASE_HOST: this.database.instance.dbInstanceEndpointAddress,
      DATABASE_PORT: String(DATABASE_PORT),
      DATABASE_NAME: config.database.databaseName,
      REDIS_HOST: this.cache.host,
      REDIS_PORT: String(CACHE_PORT),
      REDIS_TLS: 'true',
      ALLOWED_HOSTS: [...config.domainNames, this.loadBalancer.alb.loadBalancerDnsName].join(','),
    };
    const settings: Record<string, string> = { ...herdSettings, ...config.appSettings };
    for (const [name, value] of Object.entries(settings)) {
      new ssm.StringParameter(this, `Env${name}`, {
        parameterName: `${this.parameters.envPrefix}${name}`,
        stringValue: value,
        description: `herd ${env}: app setting ${name}`,
      });
    }
    const secretSettings: Record<(typeof HERD_SECRET_SETTINGS)[number], string> = {
      DATABASE_USER: `${appDatabaseSecret.secretArn}#username`,
      DATABASE_PASSWORD: `${appDatabaseSecret.secretArn}#password`,
      REDIS_PASSWORD: this.cache.authToken.secretArn,
      SECRET_KEY: secretKey.secretArn,
    };
    for (const [name, reference] of Object.entries(secretSettings)) {
      new ssm.StringParameter(this, `SecretEnv${name}`, {
        parameterName: `${this.parameters.secretEnvPrefix}${name}`,
        stringValue: reference,
        description: `herd ${env}: where the boot script reads secret setting ${name}`,
      });
    }
    const ownerSettings = {
      DATABASE_USER: `${this.database.secret.secretArn}#username`,
      DATABASE_PASSWORD: `${this.database.secret.secretArn}#password`,
    };
    for (const [name, reference] of Object.entries(ownerSettings)) {
      new ssm.StringParameter(this, `SecretEnvOwner${name}`, {
        parameterName: `${this.parameters.secretEnvOwnerPrefix}${name}`,
        stringValue: reference,
        description: `herd ${env}: where a migration runner or herd run reads secret setting ${name} (the database owner's)`,
      });
    }

    this.deployStep = new DeployStep(this, 'DeployStep', {
      app,
      config,
      peerEnvironments: props.peerEnvironments,
      vpc,
      web: this.web,
      worker: this.worker,
      loadBalancer: this.loadBalancer,
      database: this.database,
      roleKeeper: this.databaseCredentials.keeper,
      secrets: runnerSecrets,
      artifacts: this.artifacts.bucket,
      ...(ebsKmsKey ? { ebsKmsKey } : {}),
      notificationTopic: this.notifications.topic,
      logRetention,
    });

    // The rotated credentials the fleets hold: the application's database login, the cache's token.
    const rotated = [
      ...(config.database.rotationDays > 0 ? [appDatabaseSecret] : []),
      ...(this.cache.tokenRotation ? [this.cache.authToken] : []),
    ];
    if (rotated.length > 0) {
      new RotationRestart(this, 'RotationRestart', {
        environment: env,
        secrets: rotated,
        stateMachine: this.deployStep.stateMachine,
        table: this.deployStep.table,
        topic: this.notifications.topic,
        currentReleaseParameter: this.parameters.currentRelease,
        logRetention,
      });
    }

    this.deployGuard = new DeployGuard(this, 'DeployGuard', {
      environment: env,
      table: this.deployStep.table,
      currentReleaseParameter: this.parameters.currentRelease,
      currentImage,
      currentRelease,
      logRetention,
    });
    this.deployGuard.protect(this.web);
    this.deployGuard.protect(this.worker);

    this.serviceAlarms = {
      database: new DatabaseAlarms(this, 'DatabaseAlarms', { instance: this.database.instance, settings: config.database, thresholds: config.alarms, notifications: this.notifications }),
      cache: new CacheAlarms(this, 'CacheAlarms', { replicationGroup: this.cache.replicationGroup, replicas: config.cache.replicas, thresholds: config.alarms, notifications: this.notifications }),
      network: new NetworkAlarms(this, 'NetworkAlarms', { vpc, thresholds: config.alarms, notifications: this.notifications }),
      deploy: new DeployAlarms(this, 'DeployAlarms', { stateMachine: this.deployStep.stateMachine, notifications: this.notifications }),
    };
    this.dashboard = new Dashboard(this, 'Dashboard', {
      app,
      environment: env,
      loadBalancer: this.loadBalancer,
      fleets: [this.web, this.worker],
      database: this.database,
      cache: this.cache,
      cacheReplicas: config.cache.replicas,
    });
    retainFunctionLogs(this, logRetention);

    const outputs: Record<string, string> = {
      Url: `${config.certificateArn ? 'https' : 'http'}://${config.domainNames[0] ?? this.loadBalancer.alb.loadBalancerDnsName}`,
      LoadBalancerDnsName: this.loadBalancer.alb.loadBalancerDnsName,
      ListenerArn: this.loadBalancer.listener.listenerArn,
      TargetGroupArn: this.loadBalancer.targetGroup.targetGroupArn,
      MaintenancePriority: String(MAINTENANCE_PRIORITY),
      WebAutoScalingGroup: this.web.autoScalingGroup.autoScalingGroupName,
      WorkerAutoScalingGroup: this.worker.autoScalingGroup.autoScalingGroupName,
      WebLaunchTemplateId: this.web.launchTemplate.launchTemplateId!,
      WorkerLaunchTemplateId: this.worker.launchTemplate.launchTemplateId!,
      ArtifactsBucket: this.artifacts.bucket.bucketName,
      NotificationTopic: this.notifications.topic.topicArn,
      ParameterRoot: this.parameters.root,
      DatabaseSecretArn: this.database.secret.secretArn,
      DatabaseAppSecretArn: appDatabaseSecret.secretArn,
      DeployStateMachineArn: this.deployStep.stateMachine.stateMachineArn,
      DeployTableName: this.deployStep.table.tableName,
      // The alarms that roll a deploy back, comma-separated: the CLI's pre-flight reads their state.
      RollbackAlarms: Fn.join(',', this.loadBalancer.rollbackAlarms.map((a) => a.alarmName)),
      // What configuration this stack was synthesized from: `herd doctor` compares it with the local one.
      ConfigFingerprint: configFingerprint(app, config, props.peerEnvironments),
      // `herd run` launches its one-off instance as the deploy step launches a migration runner.
      RunnerInstanceProfileArn: this.deployStep.runnerProfile.instanceProfileArn,
      RunnerRoleArn: this.deployStep.runnerRole.roleArn,
      RunnerSubnetIds: Fn.join(',', this.deployStep.runnerSubnetIds),
      DashboardUrl: `https://console.aws.amazon.com/cloudwatch/home?region=${this.region}#dashboards/dashboard/${dashboardName(app, env)}`,
    };
    if (bypassSecret) outputs.MaintenanceBypassSecretArn = bypassSecret.secretArn;
    for (const [name, value] of Object.entries(outputs)) new CfnOutput(this, name, { value });
  }
}
