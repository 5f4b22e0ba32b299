import { WAF_MANAGED_RULE_GROUPS, type EnvironmentConfig, type Profile } from './types';

/** New instances that may fail their health check for the same reason before a deploy stops (`deploy.maxFailedInstances`). */
export const DEFAULT_MAX_FAILED_INSTANCES = 3;

/**
 * Requests per client IP in 5 minutes before the firewall's rate rule blocks (`waf.rateLimitPer5Minutes`):
 * about 7 a second sustained, far above one person's browsing, well below a scraper's.
 */
export const DEFAULT_WAF_RATE_LIMIT = 2000;

/**
 * Defaults per profile. `small` keeps a testing environment cheap (one NAT gateway,
 * single-AZ database, no replicas); `production` keeps a production environment safe
 * (NAT per AZ, Multi-AZ database with deletion protection, a cache replica, a snapshot
 * before every migration, longer retention).
 *
 * Every field but `name` has a default; the VPC CIDR's default overlaps between
 * environments on purpose, so that two environments sharing it are reported.
 */
export function profileDefaults(profile: Profile, app: string): Omit<EnvironmentConfig, 'name'> {
  const production = profile === 'production';
  return {
    profile,
    domainNames: [],
    appPort: 8000,
    appSettings: {},
    network: {
      cidr: '10.0.0.0/16',
      maxAzs: 2,
      natGateways: production ? 2 : 1,
      // Investigations look back months: production keeps a year of every log.
      flowLogRetentionDays: production ? 365 : 14,
      interfaceEndpoints: production,
    },
    web: {
      instanceType: production ? 't3.medium' : 't3.small',
      minCapacity: production ? 2 : 1,
      maxCapacity: production ? 6 : 2,
      rootVolumeGiB: 20,
    },
    worker: {
      instanceType: production ? 't3.medium' : 't3.small',
      minCapacity: 1,
      maxCapacity: production ? 3 : 1,
      rootVolumeGiB: 20,
    },
    healthCheck: {
      path: '/health',
      intervalSeconds: 10,
      timeoutSeconds: 5,
      healthyThreshold: 2,
      unhealthyThreshold: 3,
      gracePeriodSeconds: 180,
    },
    loadBalancer: {
      deregistrationDelaySeconds: 30,
      idleTimeoutSeconds: 60,
      accessLogRetentionDays: production ? 365 : 30,
      deletionProtection: production,
    },
    waf: {
      enabled: production,
      rateLimitPer5Minutes: DEFAULT_WAF_RATE_LIMIT,
      countOnly: false,
      managedRules: [...WAF_MANAGED_RULE_GROUPS],
      excludedRules: [],
    },
    database: {
      instanceType: production ? 't4g.medium' : 't4g.micro',
      postgresVersion: '17.6',
      allocatedStorageGiB: production ? 50 : 20,
      maxAllocatedStorageGiB: production ? 500 : 50,
      multiAz: production,
      backupRetentionDays: production ? 14 : 1,
      deletionProtection: production,
      databaseName: app.replace(/-/g, '_'),
      enhancedMonitoringSeconds: production ? 60 : 0,
      performanceInsights: production,
      rotationDays: 30,
    },
    cache: {
      nodeType: production ? 't4g.small' : 't4g.micro',
      replicas: production ? 1 : 0,
      rotationDays: 30,
    },
    deploy: {
      strategy: 'rolling',
      migrationOrder: 'before',
      // Production: point-in-time recovery plus a manual snapshot alongside the bake (off the critical path).
      backup: production ? 'snapshot' : 'none',
      backupRetention: production ? 10 : 3,
      rolling: {
        minHealthyPercentage: 100,
        maxHealthyPercentage: production ? 150 : 200,
        instanceWarmupSeconds: 60,
        checkpointPercentages: [],
        checkpointDelaySeconds: 0,
        parallelRoles: true,
      },
      holdMaintenanceMinutes: 0,
      alarmWatchMinutes: production ? 5 : 0,
      maxFailedInstances: DEFAULT_MAX_FAILED_INSTANCES,
      timeouts: {
        bakeMinutes: 60,
        imageMinutes: 120,
        migrateMinutes: 30,
        rolloutMinutes: 60,
      },
      builderInstanceType: 't3.medium',
      maxArtifactMiB: 500,
    },
    maintenance: {
      bypassHeader: true,
      bypassCidrs: [],
    },
    alarms: {
      target5xxPerMinute: production ? 10 : 50,
      unhealthyHosts: 0,
      latencyP99Seconds: 2,
      databaseCpuPercent: production ? 80 : 90,
      databaseCpuCreditBalance: production ? 50 : 20,
      databaseFreeStoragePercent: production ? 15 : 10,
      // t4g.medium's max_connections default is about 400 (LEAST(DBInstanceClassMemory/9531392, 5000));
      // t4g.micro's about 80: alarm well before either.
      databaseConnections: production ? 300 : 60,
      cacheMemoryPercent: production ? 80 : 90,
      cacheCpuPercent: production ? 80 : 90,
      cacheEvictions: production ? 100 : 1000,
      natPacketsDropped: 100,
      emails: [],
    },
    amiRetention: production ? 10 : 3,
    logRetentionDays: production ? 365 : 14,
  };
}
