/**
 * What a deploy is doing, in the operator's words: every step id the deploy step can set
 * (`state.step`, `lambda/deploy/advance.ts` `STEP_NAMES`) and every phase has a phrase, with
 * live counts where the state or a read of the fleet gives them ("replacing 2 of 6 web
 * instances"). The display never shows an internal id (`refresh.wait`, `launchTemplate`).
 */
import type { DeployState, Phase } from '../../lambda/deploy/state';
import type { Role } from '../config/types';

/** What a phrase may use besides the state: counts read from the groups this poll. */
export interface StepContext {
  readonly state: DeployState;
  /** Whether the environment has a worker fleet (the rolling rollout refreshes web and worker, at once or one after the other). */
  readonly hasWorker: boolean;
  /** Per role: desired capacity and instances of the new launch-template version in service. */
  readonly counts?: Partial<Record<Role, { readonly desired: number; readonly replaced: number }>>;
}

/**
 * The roles a rolling rollout is at (`state.roleIndex` over web, then worker; those a restart
 * names): every one left when they roll in parallel (`state.parallelRoles`), else one.
 */
function rollingRoles(c: StepContext): Role[] {
  const roles = (c.hasWorker ? (['web', 'worker'] as const) : (['web'] as const)).filter((r) => !c.state.roles || c.state.roles.includes(r));
  const at = roles.slice(c.state.roleIndex, c.state.parallelRoles ? undefined : c.state.roleIndex + 1).filter((r) => !(c.state.skipped ?? []).includes(r));
  return at.length > 0 ? at : [roles[c.state.roleIndex] ?? 'web'];
}

/** "web", "web and worker". */
const rolesWords = (c: StepContext) => rollingRoles(c).join(' and ');
/** "the web fleet", "the web and worker fleets". */
const fleetsWords = (c: StepContext) => `the ${rolesWords(c)} fleet${rollingRoles(c).length > 1 ? 's' : ''}`;

/**
 * "replacing 2 of 6 web instances", or "replacing web instances" when the group was not read. A
 * restart keeps the launch-template version, so no count tells its new instances from the old
 * ones: it says what it does (the refresh's percentage is on the same line).
 */
function replacing(c: StepContext, role: Role): string {
  if (c.state.mode === 'restart') return `replacing the ${role} instances with fresh ones`;
  const n = c.counts?.[role];
  if (!n || n.desired === 0) return `replacing ${role} instances`;
  if (n.replaced >= n.desired) return n.desired === 1 ? `the ${role} instance replaced, finishing` : `all ${n.desired} ${role} instances replaced, finishing`;
  return `replacing ${n.replaced + 1} of ${n.desired} ${role} instance${n.desired === 1 ? '' : 's'}`;
}

/** `replacing` for every role of the rollout: a count each when the groups were read, else the roles together. */
function replacingAll(c: StepContext): string {
  const roles = rollingRoles(c);
  if (roles.length === 1) return replacing(c, roles[0] as Role);
  if (c.state.mode === 'restart') return `replacing the ${rolesWords(c)} instances with fresh ones`;
  if (!roles.some((role) => c.counts?.[role])) return `replacing ${rolesWords(c)} instances`;
  return roles.map((role) => replacing(c, role)).join('; ');
}

/** The new fleets of a `full` deploy: "3 of 6 new instances in service". */
function newFleet(c: StepContext): string {
  // The groups' desired counts include the old instances while both run: the new ones to bring up are the snapshot's target.
  const roles = (Object.entries(c.counts ?? {}) as [Role, { desired: number; replaced: number }][]).map(([role, n]) => {
    const snapshot = c.state.full?.groups?.[role];
    return { desired: snapshot?.target ?? snapshot?.desired ?? n.desired, replaced: n.replaced };
  });
  const desired = roles.reduce((s, n) => s + n.desired, 0);
  const replaced = roles.reduce((s, n) => s + Math.min(n.replaced, n.desired), 0);
  return desired > 0 ? `${replaced} of ${desired} new instances in service` : 'waiting for the new instances';
}

const previousRelease = (c: StepContext) => c.state.previous?.release ?? 'the previous release';

/** A phrase for every step id of the deploy step. */
export const STEP_PHRASES: Readonly<Record<string, (c: StepContext) => string>> = {
  'lock.acquire': () => 'taking the deploy lock',
  'lock.preflight': () => 'running the pre-flight checks',
  'lock.notify': () => 'telling the team the deploy started',
  'lock.janitor': () => 'cleaning up after earlier deploys',
  'lock.snapshot': () => 'starting the database snapshot (alongside the bake)',
  'bake.find': () => 'looking for an image of this release',
  'bake.base': () => 'looking for a base image (Amazon Linux and herd/provision)',
  'bake.waitBase': () => 'waiting for the base image another deploy is baking',
  'bake.launch': (c) => (c.state.base?.baking ? 'launching the base image builder' : c.state.base?.imageId ? 'launching the builder from the base image' : 'launching the builder'),
  'bake.waitBuilder': (c) => (c.state.base?.baking ? 'waiting for the base image builder (herd/provision)' : 'waiting for the builder'),
  'bake.createImage': (c) => (c.state.base?.baking ? 'creating the base image' : 'creating the image'),
  'bake.waitImage': (c) => (c.state.base?.baking ? 'waiting for the base image to be available' : 'waiting for the image to be available'),
  'bake.terminateBuilder': (c) => (c.state.base?.baking ? 'terminating the base image builder' : 'terminating the builder'),
  'launchTemplate.read': () => 'reading the launch templates',
  'launchTemplate.create': () => 'creating launch template versions',
  'launchTemplate.waitParameters': () => 'waiting for the image parameter',
  'migrate.start': () => 'starting the migration',
  'migrate.waitDatabase': () => 'waiting for the database to be available',
  'migrate.snapshot': () => 'snapshotting the database',
  'migrate.waitSnapshot': () => 'waiting for the database snapshot',
  'migrate.restorePoint': () => 'recording the point in time to restore the database to',
  'migrate.launchRunner': () => 'launching the migration runner',
  'migrate.waitRunner': () => 'running the migrations',
  'migrate.terminateRunner': () => 'terminating the migration runner',
  'migrate.keepRoles': () => 'granting the app\'s database role what the migration created',
  'refresh.start': (c) => `starting the ${rolesWords(c)} instance refresh${rollingRoles(c).length > 1 ? 'es' : ''}`,
  'refresh.wait': (c) => replacingAll(c),
  'refresh.checkFloor': (c) => `checking the size of ${fleetsWords(c)}`,
  'refresh.floor': (c) => `moving ${fleetsWords(c)} to the configured size`,
  'refresh.waitFloor': (c) => `waiting for ${fleetsWords(c)} at the configured size`,
  'maintenance.on': () => 'putting the maintenance page up',
  'maintenance.off': () => 'taking the maintenance page down',
  'replace.record': () => 'recording the serving fleets',
  'replace.scaleOut': () => 'launching the new fleets',
  'replace.waitNew': (c) => newFleet(c),
  'replace.terminateOld': () => 'terminating the old instances',
  'replace.restore': () => "restoring the fleets' settings",
  'stage.record': () => 'recording the serving fleets',
  'stage.hook': () => 'holding new web instances out of service',
  'stage.scaleOut': () => 'launching the new web fleet next to the serving one',
  'stage.waitNew': () => 'waiting for the new web fleet to be healthy, not serving yet',
  'stage.stopWorkers': () => 'stopping the old workers',
  'stage.waitWorkersStopped': () => 'waiting for the old workers to stop',
  'switch.listener': () => 'switching the load balancer to the new web fleet',
  'switch.startWorkers': () => 'starting the new workers',
  'settle.retireOld': () => 'terminating the old web instances',
  'settle.continue': () => 'putting the new web instances in service',
  'settle.waitActive': () => 'waiting for the new fleet in its groups',
  'settle.listener': () => "moving the load balancer back to the web target group",
  'settle.cleanup': () => "emptying the staging target group and restoring the fleets' settings",
  'hold.wait': () => 'holding the maintenance page a moment',
  'verify.targets': () => 'checking the load balancer targets',
  'verify.watch': () => 'watching the rollback alarms',
  'rollout.unhealthy': () => 'reading why the new instances are unhealthy',
  'record.snapshot': () => 'checking the database snapshot',
  'record.retention': () => 'pruning old release images',
  'record.backups': () => 'pruning old database snapshots',
  'record.history': () => 'writing the deploy history',
  'record.notify': () => 'telling the team the release serves',
  'record.unlock': () => 'releasing the deploy lock',
  'record.note': () => 'noting that the lock is still held',
  'compensate.switchBack': () => 'switching the load balancer back to the old web fleet',
  'compensate.settle': () => 'moving the load balancer back to the web target group',
  'compensate.unstage': () => 'emptying the staging target group',
  'compensate.waitWorkers': () => 'waiting for the old workers to run again',
  'compensate.fleet': () => 'putting the old fleets back',
  'compensate.floor': () => "restoring the fleets' sizes",
  'compensate.waitFloor': () => "waiting for the fleets' sizes",
  'compensate.refresh': (c) => `rolling the instances back to ${previousRelease(c)}`,
  'compensate.waitRefresh': (c) => `waiting for the instances of ${previousRelease(c)}`,
  'compensate.parameters': () => 'restoring the release parameters',
  'compensate.waitParameters': () => 'waiting for the release parameters',
  'compensate.instances': () => 'terminating the builder and the migration runner',
  'compensate.maintenance': () => 'taking the maintenance page down',
  'compensate.restart': () => "stopping the restart: terminating its new instances that do not serve",
  'compensate.waitRestart': () => 'waiting for the instances from before the restart to serve',
  'compensate.record': () => 'recording the rollback',
};

/** The phrase for the state's current step; a step this CLI does not know yet reads "working" (never its id). */
export function stepPhrase(c: StepContext): string {
  return STEP_PHRASES[c.state.step]?.(c) ?? 'working';
}

/** Phases as the operator reads them. */
export const PHASE_NAMES: Readonly<Record<Phase, string>> = {
  lock: 'lock',
  bake: 'bake',
  launchTemplate: 'launch template',
  migrate: 'migrate',
  rollout: 'rollout',
  verify: 'verify',
  record: 'record',
  compensate: 'roll back',
};

/** The compensation steps, as "what was rolled back". */
export const COMPENSATION_DONE: Readonly<Record<string, string>> = {
  'compensate.switchBack': 'load balancer switched back to the old web fleet',
  'compensate.settle': 'load balancer back on the web target group',
  'compensate.unstage': 'staging target group emptied',
  'compensate.waitWorkers': '',
  'compensate.fleet': 'old fleets put back',
  'compensate.floor': "fleets' sizes restored",
  'compensate.waitFloor': '',
  'compensate.refresh': 'instances rolled back',
  'compensate.waitRefresh': '',
  'compensate.parameters': 'release parameters restored',
  'compensate.waitParameters': '',
  'compensate.instances': 'builder and runner terminated',
  'compensate.maintenance': 'maintenance page taken down',
  'compensate.restart': "the restart's failing instances terminated",
  'compensate.waitRestart': '',
  'compensate.record': '',
};
