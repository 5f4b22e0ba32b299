/**
 * Names shared by the stacks, the deploy step, the instance scripts and the CLI.
 * Changing one is a breaking change for deployed environments: the instance scripts in
 * `instance/` spell the same paths in shell.
 */

/** Root of an environment's parameters in SSM Parameter Store. */
export function parameterRoot(app: string, env: string): string {
  return `/herd/${app}/${env}`;
}

/** Parameter paths of one environment. */
export function parameterNames(app: string, env: string) {
  const root = parameterRoot(app, env);
  return {
    root,
    /** AMI id of the release serving now; written by the deploy step, read by the launch templates. */
    currentImage: `${root}/current-image`,
    /** Release id serving now (`none` before the first release). */
    currentRelease: `${root}/current-release`,
    /** Plain settings rendered into the app's environment: one parameter per variable (`…/env/DATABASE_HOST`). */
    envPrefix: `${root}/env/`,
    /**
     * Secret settings: one parameter per variable whose value is `<secret-arn>` or
     * `<secret-arn>#<json-key>`; the boot script reads the secret and renders its value.
     */
    secretEnvPrefix: `${root}/secret-env/`,
    /**
     * Secret settings of the database owner: rendered after `secretEnvPrefix`, overriding it,
     * by the `release` and `run` roles only (`DATABASE_USER`/`DATABASE_PASSWORD` → the master
     * secret); web and worker connect as the application user, never as the owner.
     */
    secretEnvOwnerPrefix: `${root}/secret-env-owner/`,
    /** Where a `release` (migration) runner reports: `…/release-runs/<instance-id>` = JSON {exitCode, logTail}. */
    releaseRunsPrefix: `${root}/release-runs/`,
    /** Where a `herd run` instance reports: `…/run-results/<instance-id>` = JSON {exitCode, logTail, lines}. */
    runResultsPrefix: `${root}/run-results/`,
    /**
     * Where a builder reports its bake: `…/bake-runs/<instance-id>` = JSON
     * {exitCode, logTail, processes} (`instance/herd-bake.sh --report` takes this prefix).
     */
    bakeRunsPrefix: `${root}/bake-runs/`,
  };
}

/** CloudWatch log group of one process of one environment. */
export function logGroupName(app: string, env: string, process: string): string {
  return `/herd/${app}/${env}/${process}`;
}

/** The other environments of the app, in configuration order (`DeployEnvironment.peerEnvironments`). */
export function peerEnvironments(environments: readonly string[], env: string): string[] {
  return [...new Set(environments)].filter((e) => e !== env);
}

/**
 * Names of an environment's pre-migration database snapshots (`herd-<app>-<env>-<deploy>`,
 * `lambda/deploy/release.ts`), as an ARN pattern: the app is in the name because two apps of
 * one account may have environments of the same name.
 */
export function backupSnapshotPrefix(app: string, env: string): string {
  return `herd-${app}-${env}-*`;
}

/** The stack of one environment. */
export function stackName(env: string): string {
  return `herd-${env}`;
}

/** The stack holding one environment's release parameters, deployed before `stackName(env)`. */
export function releaseStateStackName(env: string): string {
  return `herd-${env}-release-state`;
}

/** Tags herd writes on everything it creates; IAM conditions scope the deploy step with them. */
export const TAGS = {
  app: 'herd:app',
  environment: 'herd:environment',
  role: 'herd:role',
  release: 'herd:release',
  deploy: 'herd:deploy',
  /** On a baked image: the Procfile's process types, space-separated (from the bake report). */
  processes: 'herd:processes',
  /** On a `herd run` instance (`herd:role` = `run`): the run's id. */
  run: 'herd:run',
  /**
   * Layered bake (lambda/deploy/base-image.ts). On a base image (`herd:role` = `base`): its
   * identity key, and the parts of it (the Amazon Linux image it was baked from, the SHA-256
   * of the release's `herd/provision`, herd's instance scripts asset).
   */
  base: 'herd:base',
  baseSource: 'herd:base-source',
  provision: 'herd:provision',
  scripts: 'herd:scripts',
  /** On a release image baked from a base image: the base's image id (retention keeps the base while the release image exists). */
  baseImage: 'herd:base-image',
  /** On a builder instance: what it bakes (`base` or `release`). */
  bake: 'herd:bake',
} as const;

/** Value of the release parameter before the first release. */
export const NO_RELEASE = 'none';

/** Header that carries the maintenance bypass secret. */
export const BYPASS_HEADER = 'X-Herd-Bypass';

/**
 * Listener rule priorities reserved for the maintenance page. The bypass rules stay in
 * place (they forward like the default action while no page is up); the deploy step and
 * `herd maintenance on` insert the fixed-response rule at `MAINTENANCE_PRIORITY`, below
 * the bypass rules and above any rule an app may add (priority >= 100).
 * `herd maintenance rotate-bypass` finds the header rule at `BYPASS_HEADER_PRIORITY`.
 */
export const BYPASS_HEADER_PRIORITY = 1;
export const BYPASS_CIDR_PRIORITY = 2;
export const MAINTENANCE_PRIORITY = 10;

/**
 * The staging rule (`lib/load-balancer.ts`): it forwards to the web staging target group,
 * where a `full` deploy's new fleet waits, so that ELB health-checks that group (it checks
 * only groups a listener forwards to). Its condition matches no client: a source address in
 * TEST-NET-1 (RFC 5737, never routed on the internet), the network address at that.
 */
export const STAGING_PRIORITY = 3;
export const STAGING_SOURCE_CIDR = '192.0.2.0/32';
