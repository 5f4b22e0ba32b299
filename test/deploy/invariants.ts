/**
 * What an operator relies on after any deploy, whatever went wrong during it (README, "What
 * happens when something fails"; docs/architecture.md). Checked after every generated run
 * (`fuzz/`) and every scenario file. Each breach names the invariant and its evidence.
 *
 * 1. The deploy ended with an outcome (or was refused, or stopped before it took the lock):
 *    no execution left dead without the reaper finishing it.
 * 2. Exactly one release serves every role: the release parameters name the deploy's release
 *    if it succeeded (the previous one otherwise, or after a bake-only run), every instance of every group runs its
 *    image, each group has its desired count and launches that image next. A deploy that
 *    ends `needs-attention` may leave it half done: the lock then says so.
 * 3. A rolling deploy never drops below the configured capacity floor (its min healthy
 *    percentage of the web fleet's configured minimum, rounded up as Auto Scaling does), and
 *    no deploy leaves requests with no healthy target outside a maintenance page (unless its
 *    floor is 0: configured to allow it), except while capacity a fault or an operator took
 *    away comes back.
 * 4. No builder or runner survives.
 * 5. The lock is free, or held with the reason of a deploy that needs attention (or, after a
 *    release that serves, its unlock denied: the history's warning says how to break it).
 * 6. The maintenance page is up at the end only if an operator owns it (put it up before
 *    the deploy or during it, or took the deploy's over), and then it is up.
 * 7. The processes operators suspended stay suspended, and only those.
 * 8. The group bounds are as found (a failed deploy) or as configured (a successful one).
 * 9. The history item is closed: the outcome, and for any end but success, its cause.
 * 10. No broken promise the fake cloud recorded (`violations`), and IAM allowed every call.
 * 11. No migration runs before the database is backed up as `deploy.backup` says: a restore
 *     point recorded before the runner launched (`pitr`, `snapshot`; the history says how to
 *     restore), a snapshot started before it (`snapshot`, unless a warning says why not), or
 *     a snapshot available before it (`snapshot-wait`).
 * 12. Layered bake: every release image baked on a base image names one that still exists
 *     (retention never retires a base an image needs), and no base image is tagged with a
 *     release (no release lookup may mistake a base for a release's image).
 * 13. The load balancer is as the stack made it (unless the deploy needs attention): the
 *    listener forwards to the web target group, the staging rule to the staging group, which
 *    holds no target but draining ones, and no launch hook holds an instance of the web group.
 */
import { describeDenial } from '../support/iam/evaluator';
import { ADVANCE_FATAL_ERRORS } from '../../lambda/deploy/contract';
import { MANUAL_OWNER } from '../../lambda/deploy/maintenance';
import { resolveVersion } from '../../lib/simulation/services/ec2';
import { NO_RELEASE, TAGS } from '../../lib/names';
import { viewOf, type FleetRole } from './observation';
import type { ScenarioRun } from './scenario';

/** One invariant that does not hold, and what shows it. */
export interface Breach {
  readonly invariant: string;
  readonly evidence: string;
}

const LOCK_KEY = 'LOCK\u0000LOCK';
const ROLES: readonly FleetRole[] = ['web', 'worker'];

/**
 * The calls IAM denied in `run`: every call the deploy step, the reaper and the scenario's
 * operators made, evaluated against the synthesized (or `herd iam-policy`) policies.
 */
export async function iamDenials(run: ScenarioRun): Promise<string[]> {
  return (await run.iam.denials()).map(describeDenial);
}

/** How the deploy ended, as an operator reads it: the history item's status, the execution's outcome, or a refusal. */
export function outcomeOf(run: ScenarioRun): string | undefined {
  const item = historyOf(run);
  if (typeof item?.status === 'string' && item.status !== 'running') return item.status;
  if (run.result.state?.outcome) return run.result.state.outcome;
  if ((ADVANCE_FATAL_ERRORS as readonly string[]).includes(run.result.error?.name ?? '')) return 'refused';
  // Stopped before it took the lock: no deploy began, nothing to finish (the reaper finds nothing either).
  const lock = run.world.cloud.table.get(LOCK_KEY);
  if (run.result.status !== 'SUCCEEDED' && !item && lock?.deployId !== (run.scenario.deploy.deployId ?? 'deploy-0001')) return 'never-started';
  return undefined;
}

function historyOf(run: ScenarioRun): Record<string, unknown> | undefined {
  const id = run.scenario.deploy.deployId ?? 'deploy-0001';
  return [...run.world.cloud.table.values()].find((i) => i.pk === 'DEPLOY' && i.deployId === id);
}

/** Seconds capacity lost to a fault or an operator may take to come back: a replacement boots, starts, passes its checks and warms up. */
function recoverySeconds(run: ScenarioRun): number {
  const t = run.world.cloud.timings;
  const appStart = Math.max(t.appStartSeconds, ...Object.values(run.world.cloud.releases).map((r) => r.appStartSeconds ?? 0));
  return t.shutdownSeconds + t.bootSeconds + appStart + t.healthCheckIntervalSeconds * (t.healthyThreshold + 1) + run.world.env.deploy.rolling.instanceWarmupSeconds + 60;
}

/** `denied`: the run's IAM denials (`iamDenials`, which is asynchronous). */
export function checkInvariants(run: ScenarioRun, denied: readonly string[] = []): Breach[] {
  const breaches: Breach[] = [];
  const breach = (invariant: string, evidence: string) => breaches.push({ invariant, evidence });
  const { cloud, env } = run.world;
  const { before, timeline } = run.observation;
  const after = viewOf(run.world);
  const lock = cloud.table.get(LOCK_KEY);
  const attention = typeof lock?.needsAttention === 'string' && lock.needsAttention.length > 0;
  const outcome = outcomeOf(run);
  const events = timeline.length > 0 ? `; events: ${timeline.map((e) => `${e.kind} at ${e.step}: ${e.effect}`).join('; ')}` : '';

  // 1. An outcome.
  if (outcome === undefined) {
    breach('the deploy ended with an outcome', `execution ${run.result.status}${run.result.error ? ` (${run.result.error.name}: ${run.result.error.message})` : ''}, history ${String(historyOf(run)?.status ?? 'absent')}`);
  }

  // 2. Exactly one release serves every role.
  if (!attention) {
    // A second deploy started when the first reached a step ran to its end there: it serves if it succeeded after the first.
    const second = run.secondDeploy?.state;
    const endedAt = (deployId: string | undefined) => String([...cloud.table.values()].find((i) => i.pk === 'DEPLOY' && i.deployId === deployId)?.endedAt ?? '');
    const first = (outcome === 'succeeded' || outcome === 'unchanged') && run.result.state?.mode !== 'bake' ? run.scenario.deploy.release : undefined;
    const secondServes = second?.outcome === 'succeeded' && (first === undefined || endedAt(second.deployId) > endedAt(run.scenario.deploy.deployId ?? 'deploy-0001'));
    const expected = secondServes ? second.release : (first ?? before.release);
    const images = expected === NO_RELEASE ? [run.world.baseImage] : [...cloud.images.values()].filter((i) => i.release === expected && i.state === 'available').map((i) => i.id);
    if (after.release !== expected) breach('exactly one release serves every role', `current-release is ${after.release}, expected ${expected ?? 'none'} (outcome ${outcome ?? '?'})${events}`);
    if (!after.image || !images.includes(after.image)) breach('exactly one release serves every role', `current-image is ${after.image}, not an available image of ${expected} (${images.join(', ') || 'none'})`);
    for (const role of ROLES) {
      const fleet = env.fleets[role];
      const g = fleet ? cloud.groups.get(fleet.autoScalingGroupName) : undefined;
      if (!g) continue;
      const active = g.instances.filter((i) => (i.lifecycle === 'Pending' || i.lifecycle === 'InService') && ['pending', 'running'].includes(cloud.instances.get(i.id)?.state ?? ''));
      const foreign = expected === NO_RELEASE ? [] : active.filter((i) => cloud.instances.get(i.id)?.imageId !== after.image);
      if (foreign.length > 0) {
        breach('exactly one release serves every role', `${role}: ${foreign.map((i) => `${i.id} runs ${cloud.instances.get(i.id)?.imageId}`).join(', ')}; current-image ${after.image}${events}`);
      }
      // Capacity an operator just changed may not have launched yet when the deploy ends.
      if (active.length !== g.desired && !run.observation.operatorScaled.has(role)) breach('exactly one release serves every role', `${role}: ${active.length} instance(s) running, desired ${g.desired}${events}`);
      // Before the first release the group launches the base image: only if an operator scaled it out.
      if (expected === NO_RELEASE && active.length > 0 && !run.observation.operatorScaled.has(role)) breach('exactly one release serves every role', `${role}: ${active.length} instance(s) before any release serves`);
      const next = cloud.launchableImage(resolveVersion(cloud.launchTemplates.get(g.ltId), g.ltVersion).imageId ?? '').imageId;
      if (next !== after.image) breach('exactly one release serves every role', `${role}: the group launches ${next} next (version ${g.ltVersion}), current-image ${after.image}`);
    }
  }

  // 3. Capacity.
  const recovery = recoverySeconds(run) * 1000;
  const disrupted = (at: number) => run.observation.webDisruptions.some((d) => at >= d && at <= d + recovery);
  const strategy = run.result.state?.strategy ?? run.states[0]?.strategy;
  // An operator who scaled the fleet in below the configured minimum lowered the floor with it.
  const floorBase = Math.min(env.fleets.web.minCapacity, run.observation.lowestWebDesired ?? Infinity);
  const floor = Math.ceil((env.deploy.rolling.minHealthyPercentage * floorBase) / 100);
  // An environment that served nothing before the deploy has no service to lose (a failed first release empties it again).
  const served = before.healthyWeb > 0;
  let below: { at: number; healthy: number } | undefined;
  let unserved: number | undefined;
  for (const s of run.observation.samples) {
    if (s.page) continue;
    if (disrupted(s.at)) continue;
    if (strategy === 'rolling' && before.release !== NO_RELEASE && before.healthyWeb >= floor && s.healthy < floor && !below) below = s;
    // A rolling deploy whose floor is 0 (min healthy 0 %, or of one instance) was configured to allow an outage.
    if (served && s.healthy === 0 && unserved === undefined && (strategy !== 'rolling' || floor > 0)) unserved = s.at;
  }
  if (below) {
    breach('a rolling deploy never drops below the configured capacity floor', `${below.healthy} healthy web target(s) at +${Math.round((below.at - run.startedAt) / 1000)} s, floor ${floor} (${env.deploy.rolling.minHealthyPercentage}% of ${floorBase})${events}`);
  }
  if (unserved !== undefined) breach('requests always meet a healthy target or the maintenance page', `no healthy web target, page down, at +${Math.round((unserved - run.startedAt) / 1000)} s${events}`);

  // 4. Builders and runners.
  const survivors = [...cloud.instances.values()].filter((i) => ['builder', 'release'].includes(i.tags[TAGS.role] ?? '') && !['terminated', 'shutting-down'].includes(i.state));
  if (survivors.length > 0) breach('no builder or runner survives', survivors.map((i) => `${i.id} (${i.tags[TAGS.role]}, ${i.state}, deploy ${i.tags[TAGS.deploy]})`).join(', '));

  // 5. The lock. A serving release whose unlock was denied for good says so in its history, with how to break the lock.
  const toldHeld = outcome === 'succeeded' && ((historyOf(run)?.warnings ?? []) as unknown[]).some((w) => typeof w === 'string' && w.includes('the lock is still held'));
  if (lock && !(attention && outcome === 'needs-attention') && !toldHeld) breach('the lock is free, or held with the reason of a deploy that needs attention', `lock ${JSON.stringify(lock)}, outcome ${outcome ?? '?'}`);

  // 6. The page.
  const operatorPage = run.observation.operatorOwnsPage;
  if (operatorPage && after.pageOwner !== MANUAL_OWNER) breach('a page an operator owns stays up', `page ${after.pageOwner === undefined ? 'down' : `owned by ${after.pageOwner}`} (before: ${before.pageOwner ?? 'down'})${events}`);
  if (!operatorPage && after.pageOwner !== undefined && !attention) breach('the page is up only if it was up before or an operator owns it', `page up, owned by ${after.pageOwner} (before: ${before.pageOwner ?? 'down'})${events}`);

  // 7. Suspended processes.
  for (const role of ROLES) {
    const now = after.groups[role]?.suspended;
    if (!now) continue;
    const theirs = [...run.observation.operatorSuspended[role]].sort();
    const missing = theirs.filter((p) => !now.includes(p));
    const extra = now.filter((p) => !theirs.includes(p));
    if (missing.length > 0) breach('operator-suspended processes stay suspended', `${role}: ${missing.join(', ')} resumed (suspended now: ${now.join(', ') || 'none'})${events}`);
    if (extra.length > 0 && !attention) breach('herd leaves suspended only what operators suspended', `${role}: ${extra.join(', ')} suspended, operators suspended ${theirs.join(', ') || 'none'}${events}`);
  }

  // 8. Group bounds.
  if (!attention && outcome !== undefined) {
    for (const role of ROLES) {
      const fleet = env.fleets[role];
      const was = before.groups[role];
      const now = after.groups[role];
      if (!fleet || !was || !now) continue;
      // A successful deploy sets them to the configuration, the first's or a second deploy's that ran meanwhile.
      const configured = outcome === 'succeeded' || run.secondDeploy?.state?.outcome === 'succeeded';
      const expected = configured ? { min: fleet.minCapacity, max: fleet.maxCapacity } : { min: was.min, max: was.max };
      if (now.min !== expected.min || now.max !== expected.max) {
        breach('group bounds as found (or as configured after a success)', `${role}: min ${now.min} max ${now.max}, expected min ${expected.min} max ${expected.max} (outcome ${outcome})${events}`);
      }
    }
  }

  // 9. History.
  const item = historyOf(run);
  if (outcome !== 'refused' && outcome !== 'unchanged' && outcome !== 'never-started' && outcome !== undefined) {
    if (!item) breach('the history item is closed with an outcome and a cause', `no history item (outcome ${outcome})`);
    else {
      if (item.status === 'running') breach('the history item is closed with an outcome and a cause', `history still running (execution ${run.result.status})`);
      if (run.result.state?.outcome && run.result.state.outcome !== item.status && !(item.status === 'needs-attention' && attention)) {
        breach('the history item is closed with an outcome and a cause', `history ${String(item.status)}, execution outcome ${run.result.state.outcome}`);
      }
      if (item.status !== 'succeeded' && (typeof item.error !== 'string' || item.error.length === 0)) breach('the history item is closed with an outcome and a cause', `history ${String(item.status)} without a cause`);
    }
  } else if (item?.status === 'running') {
    breach('the history item is closed with an outcome and a cause', `history running after a deploy ${outcome ?? 'that did not end'}`);
  }

  // 12. Base images.
  for (const im of cloud.images.values()) {
    const base = im.tags[TAGS.baseImage];
    if (base && !cloud.images.has(base)) breach('a release image\'s base image exists while the image does', `${im.id} (release ${im.release ?? '?'}) was baked on ${base}, which is gone`);
    if (im.tags[TAGS.role] === 'base' && im.tags[TAGS.release] !== undefined) breach('a base image carries no release', `${im.id} is tagged ${TAGS.release}=${im.tags[TAGS.release]}`);
  }

  // 13. The load balancer as the stack made it.
  const staging = env.loadBalancer.stagingTargetGroupArn;
  if (staging && !attention) {
    const listener = cloud.listenerStates.get(env.loadBalancer.listenerArn);
    if (listener?.defaultTargetGroupArn !== env.loadBalancer.targetGroupArn) breach('the load balancer is as the stack made it', `the listener forwards to ${listener?.defaultTargetGroupArn ?? 'nothing'}`);
    const rule = (cloud.listeners.get(env.loadBalancer.listenerArn) ?? []).find((r) => r.arn === env.loadBalancer.stagingRuleArn);
    if (rule && !rule.actions.some((a) => a.TargetGroupArn === staging)) breach('the load balancer is as the stack made it', `the staging rule forwards to ${rule.actions.map((a) => a.TargetGroupArn).join(', ')}`);
    const left = [...(cloud.targetGroups.get(staging)?.values() ?? [])].filter((t) => t.state !== 'draining');
    if (left.length > 0) breach('the load balancer is as the stack made it', `the staging target group still holds ${left.map((t) => `${t.id} (${t.state})`).join(', ')}`);
    const web = cloud.groups.get(env.fleets.web.autoScalingGroupName);
    if ((web?.launchHooks?.size ?? 0) > 0) breach('the load balancer is as the stack made it', `launch hook(s) left on the web group: ${[...(web?.launchHooks?.keys() ?? [])].join(', ')}`);
    const waiting = web?.instances.filter((i) => i.lifecycle === 'Pending:Wait') ?? [];
    if (waiting.length > 0) breach('the load balancer is as the stack made it', `web instance(s) still held by a launch hook: ${waiting.map((i) => i.id).join(', ')}`);
  }

  // 10. Promises the fake saw broken, and IAM.
  for (const v of cloud.violations) breach('no broken promise (the fake cloud\'s violations)', v);
  for (const d of denied) breach('IAM allowed every call', d);

  // 11. The backup before the migration.
  const deployId = run.scenario.deploy.deployId ?? 'deploy-0001';
  const runners = [...cloud.instances.values()].filter((i) => i.tags[TAGS.role] === 'release' && i.tags[TAGS.deploy] === deployId);
  const firstRunner = Math.min(...runners.map((i) => i.launchedAt));
  const backup = env.database ? env.deploy.backup : 'none';
  if (runners.length > 0 && backup !== 'none') {
    const state = run.result.state;
    const snapshot = [...cloud.dbSnapshots.values()].find((x) => x.tags[TAGS.deploy] === deployId && x.tags[TAGS.role] === 'backup');
    const why = 'no migration runs before the database is backed up as configured';
    if (backup === 'snapshot-wait') {
      if (!snapshot || snapshot.createdAt + cloud.timings.dbSnapshotSeconds * 1000 > firstRunner) breach(why, `snapshot-wait: ${snapshot ? `snapshot ${snapshot.id} created at ${snapshot.createdAt}` : 'no snapshot'}, runner launched at ${firstRunner}`);
    } else {
      const point = state?.backup?.restorePoint;
      if (!point || point.at > firstRunner) breach(why, `${backup}: restore point ${point ? `at ${point.at}` : 'absent'}, runner launched at ${firstRunner}`);
      if (typeof historyOf(run)?.restore !== 'string') breach(why, `${backup}: the history does not say how to restore`);
      const warned = (state?.warnings ?? []).some((w) => /^no manual snapshot/.test(w));
      if (backup === 'snapshot' && !warned && (!snapshot || snapshot.createdAt > firstRunner)) breach(why, `snapshot: ${snapshot ? `snapshot ${snapshot.id} started at ${snapshot.createdAt}` : 'no snapshot and no warning'}, runner launched at ${firstRunner}`);
    }
  }
  return breaches;
}

/** The breaches as a message: one line each. */
export function describeBreaches(breaches: readonly Breach[]): string {
  return breaches.map((b) => `- ${b.invariant}: ${b.evidence}`).join('\n');
}
