/**
 * Models of the tools herd replaces (Fabulaws and a scripted Fabric deploy), as small pure functions
 * of the same timing parameters `herd plan` uses (boot, health check, deregistration
 * delay, bake, image) plus the seed's Fabric step times. They are the bench's anchors:
 * what a deploy of the same fleet took before herd.
 *
 * Definitions shared by every anchor (and by the herd rows of the bench):
 * - `totalSeconds`: first command to last;
 * - `noHealthyTargetSeconds`: time a request meets no serving instance, outside a
 *   maintenance window;
 * - `skewSeconds`: the seed's "potential downtime": time instances serve code and
 *   database schema out of step (from the start of the migration until the last instance
 *   runs the new code, reloading included);
 * - `maintenanceWindowSeconds`: time the maintenance page is up;
 * - `minHealthyPercent`: lowest share of the fleet serving (in the load balancer);
 * - `awsCalls`: API calls the tool makes (its wait loops poll every `pollSeconds`).
 */
import type { FakeTimings } from '../simulation/fake-cloud';

/** The seed's scripted Fabric deploy, seconds per step on one server. */
export interface FabricStepTimes {
  readonly deployCode: number;
  readonly installRequirements: number;
  readonly backupDb: number;
  readonly migrate: number;
  readonly collectstatic: number;
  readonly switchRelease: number;
  readonly reload: number;
}

/** Timings measured from a scripted Fabric deploy of 2 servers (the deploy herd replaces). */
export const SEED_FABRIC_STEPS: FabricStepTimes = {
  deployCode: 5,
  installRequirements: 20,
  backupDb: 15,
  migrate: 12,
  collectstatic: 10,
  switchRelease: 1,
  reload: 1,
};

export interface AnchorTimings {
  readonly cloud: Pick<
    FakeTimings,
    'bootSeconds' | 'appStartSeconds' | 'bakeSeconds' | 'provisionSeconds' | 'imageSeconds' | 'shutdownSeconds' | 'healthCheckIntervalSeconds' | 'initialHealthyChecks' | 'deregistrationDelaySeconds'
  >;
  readonly fabric: FabricStepTimes;
  /** Fabulaws `deploy_serial`'s fixed sleep per server (45 s). */
  readonly fabulawsSleepSeconds: number;
  /** Interval of Fabulaws' wait loops (assumption: 10 s, as herd's own polls). */
  readonly pollSeconds: number;
}

export interface AnchorResult {
  readonly tool: string;
  readonly servers: number;
  readonly totalSeconds: number;
  readonly noHealthyTargetSeconds: number;
  readonly skewSeconds: number;
  /** Fabric: each server's potential downtime, in deploy order. */
  readonly skewPerServer?: readonly number[];
  readonly maintenanceWindowSeconds: number;
  readonly minHealthyPercent: number;
  readonly awsCalls: number;
}

function sum(...values: number[]): number {
  return values.reduce((a, b) => a + b, 0);
}

function positive(servers: number): void {
  if (!Number.isInteger(servers) || servers < 1) throw new RangeError(`an anchor needs a whole number of servers >= 1 (received ${servers})`);
}

/** Every step on one server, in the seed's order. */
export function fabricServerSeconds(s: FabricStepTimes): number {
  return sum(s.deployCode, s.installRequirements, s.backupDb, s.migrate, s.collectstatic, s.switchRelease, s.reload);
}

/**
 * Fabric in series: each server in turn runs every step (code, requirements, backup,
 * migrate, collectstatic, switch, reload). A server's potential downtime runs from the
 * first migration (server 1's) to its own reload: `migrate + collectstatic + switch +
 * reload` for server 1, one whole server more for each next one (24, 88, 152, 216 s with
 * the seed's steps). Leaves out: SSH connection set-up, a failure midway (servers left on
 * different releases), the load balancer (servers are never taken out of it).
 */
export function fabricSeries(servers: number, s: FabricStepTimes = SEED_FABRIC_STEPS): AnchorResult {
  positive(servers);
  const perServer = fabricServerSeconds(s);
  const window = sum(s.migrate, s.collectstatic, s.switchRelease, s.reload);
  const skewPerServer = Array.from({ length: servers }, (_, k) => window + k * perServer);
  return {
    tool: 'Fabric, in series',
    servers,
    totalSeconds: servers * perServer,
    noHealthyTargetSeconds: 0,
    skewSeconds: skewPerServer[servers - 1] ?? 0,
    skewPerServer,
    maintenanceWindowSeconds: 0,
    minHealthyPercent: 100,
    awsCalls: 0,
  };
}

/**
 * Fabric in parallel with roles: every server at once; backup and migrate on one server
 * only (`run_once`), the others wait. Total = one server's steps; each server's potential
 * downtime = `migrate + collectstatic + switch + reload` (24 s with the seed's steps),
 * whatever the fleet size. Leaves out: SSH fan-out limits (Fabric's pool size), one slow
 * server holding back the rest.
 */
export function fabricParallel(servers: number, s: FabricStepTimes = SEED_FABRIC_STEPS): AnchorResult {
  positive(servers);
  const window = sum(s.migrate, s.collectstatic, s.switchRelease, s.reload);
  return {
    tool: 'Fabric, parallel with roles',
    servers,
    totalSeconds: fabricServerSeconds(s),
    noHealthyTargetSeconds: 0,
    skewSeconds: window,
    skewPerServer: Array.from({ length: servers }, () => window),
    maintenanceWindowSeconds: 0,
    minHealthyPercent: 100,
    awsCalls: 0,
  };
}

/**
 * Fabric with the prepare/activate split: prepare everything slow on every server in
 * parallel (code, requirements, collectstatic, backup, and the release symlink, which
 * changes nothing until the processes reload), then activate: migrate once and reload
 * every server. Total = one server's steps (64 s); potential downtime = `migrate + reload`
 * (13 s with the seed's steps). Leaves out what the parallel model leaves out.
 */
export function fabricPrepareActivate(servers: number, s: FabricStepTimes = SEED_FABRIC_STEPS): AnchorResult {
  positive(servers);
  const window = sum(s.migrate, s.reload);
  return {
    tool: 'Fabric, prepare/activate',
    servers,
    totalSeconds: fabricServerSeconds(s),
    noHealthyTargetSeconds: 0,
    skewSeconds: window,
    skewPerServer: Array.from({ length: servers }, () => window),
    maintenanceWindowSeconds: 0,
    minHealthyPercent: 100,
    awsCalls: 0,
  };
}

/**
 * Launch to a passing health check: boot, app start, then the first check that sees the
 * app up (checks every interval from registration), `initialHealthyChecks` of them. The
 * fake cloud behaves the same way.
 */
export function instanceReadySeconds(c: AnchorTimings['cloud']): number {
  const interval = Math.max(1, c.healthCheckIntervalSeconds);
  return c.bootSeconds + interval * (Math.max(1, Math.ceil(c.appStartSeconds / interval)) + Math.max(1, c.initialHealthyChecks) - 1);
}

/** Polls of a wait of `seconds` (at least one). */
function polls(seconds: number, every: number): number {
  return Math.max(1, Math.ceil(seconds / Math.max(1, every)));
}

/**
 * Fabulaws `create_launch_config_for_deployment`: provision a server, deploy, CreateImage,
 * new launch configuration. Same timing parameters as herd's bake without a base image
 * (builder bake with provisioning, image): Fabulaws provisions every image from scratch.
 * Calls: RunInstances, a poll while it bakes, CreateImage, a poll until available,
 * CreateLaunchConfiguration, TerminateInstances.
 */
function fabulawsBake(t: AnchorTimings): { seconds: number; calls: number } {
  const c = t.cloud;
  const bake = c.bakeSeconds + c.provisionSeconds;
  return { seconds: bake + c.imageSeconds, calls: 4 + polls(bake, t.pollSeconds) + polls(c.imageSeconds, t.pollSeconds) };
}

/** Fabulaws `deploy_worker`: code, requirements, migrate, collectstatic, restart (no backup). */
function deployWorker(s: FabricStepTimes): number {
  return sum(s.deployCode, s.installRequirements, s.migrate, s.collectstatic, s.reload);
}

/**
 * Fabulaws `deploy_serial`: the launch configuration baked first, `deploy_worker`
 * (migrations included), the group pointed at the new launch configuration, then per old
 * web server: mark it unhealthy, wait until it is out of service (deregistration delay),
 * sleep 45 s, wait for its replacement in service (the group terminates the old instance
 * and launches a new one: shutdown + launch to a passing health check). Old servers serve
 * on the migrated schema until the last is replaced (skew). Leaves out: the image's
 * reboot, Fabulaws' wait loops having no time limit (an unhealthy image churns forever),
 * cooldowns, the worker fleet.
 */
export function fabulawsSerial(servers: number, t: AnchorTimings): AnchorResult {
  positive(servers);
  const c = t.cloud;
  const bake = fabulawsBake(t);
  const worker = deployWorker(t.fabric);
  const replacement = c.shutdownSeconds + instanceReadySeconds(c);
  const perServer = c.deregistrationDelaySeconds + Math.max(t.fabulawsSleepSeconds, replacement);
  const perServerCalls = 1 + polls(c.deregistrationDelaySeconds, t.pollSeconds) + polls(Math.max(0, replacement - t.fabulawsSleepSeconds), t.pollSeconds);
  const afterMigrate = sum(t.fabric.migrate, t.fabric.collectstatic, t.fabric.reload);
  return {
    tool: 'Fabulaws deploy_serial',
    servers,
    totalSeconds: bake.seconds + worker + servers * perServer,
    // One server: out of the load balancer from the moment it is marked until its replacement passes.
    noHealthyTargetSeconds: servers === 1 ? c.deregistrationDelaySeconds + replacement : 0,
    skewSeconds: afterMigrate + servers * perServer,
    maintenanceWindowSeconds: 0,
    minHealthyPercent: Math.floor((100 * (servers - 1)) / servers),
    awsCalls: bake.calls + 1 + servers * perServerCalls,
  };
}

/**
 * Fabulaws `deploy_full`: the launch configuration baked first; suspend scaling, double
 * the capacity on the new launch configuration and wait for the new servers to be healthy;
 * maintenance page on (a reload of every server's nginx), `deploy_worker` (migrations),
 * swap the servers in the load balancer (the old ones drain: deregistration delay), restore
 * the capacity (old servers terminate, nobody waits for it), page off. Leaves out: no cleanup on failure
 * (processes left suspended, capacity doubled, the page left up), the image's reboot.
 */
export function fabulawsFull(servers: number, t: AnchorTimings): AnchorResult {
  positive(servers);
  const c = t.cloud;
  const bake = fabulawsBake(t);
  const ready = instanceReadySeconds(c);
  const window = sum(t.fabric.reload, deployWorker(t.fabric), c.deregistrationDelaySeconds, t.fabric.reload);
  return {
    tool: 'Fabulaws deploy_full',
    servers,
    totalSeconds: bake.seconds + ready + window,
    noHealthyTargetSeconds: 0,
    skewSeconds: 0,
    maintenanceWindowSeconds: window,
    minHealthyPercent: 100,
    // Suspend, scale out, polls until healthy, register + deregister, polls while draining, restore, resume.
    awsCalls: bake.calls + 2 + polls(ready, t.pollSeconds) + 2 + polls(c.deregistrationDelaySeconds, t.pollSeconds) + 2,
  };
}

/** Every anchor for one fleet size. */
export function anchorsFor(servers: number, t: AnchorTimings): AnchorResult[] {
  return [fabulawsSerial(servers, t), fabulawsFull(servers, t), fabricSeries(servers, t.fabric), fabricParallel(servers, t.fabric), fabricPrepareActivate(servers, t.fabric)];
}
