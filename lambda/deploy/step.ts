/** What every step of the deploy state machine receives and returns, and helpers they share. */
import { DescribeInstancesCommand, TerminateInstancesCommand, type RunInstancesCommandOutput, type Tag, type _InstanceType } from '@aws-sdk/client-ec2';
import { DeleteParameterCommand, GetParameterCommand } from '@aws-sdk/client-ssm';
import type { Role } from '../../lib/config/types';
import { TAGS } from '../../lib/names';
import type { Clock, DeployClients } from './clients';
import type { DeployEnvironment } from './environment';
import { DeployFailure, NotVisibleYetError } from './errors';
import type { DeployState } from './state';

export interface AdvanceContext {
  readonly clients: DeployClients;
  readonly env: DeployEnvironment;
  readonly clock: Clock;
}

/**
 * What a step asks for next:
 * - `goto`: another step of the same stage, at once;
 * - `stageDone`: the stage is complete (or, in compensation, this compensation step);
 * - `poll`: run this same step again after `poll` seconds.
 * A step fails the deploy by throwing `DeployFailure` (or any non-transient error).
 */
/**
 * What a step asks for next: another step, the next stage, the same step again after
 * `poll` seconds, or the end of the deploy with nothing done (`end: 'unchanged'`).
 */
export type StepResult = { readonly goto: string } | { readonly stageDone: true } | { readonly poll: number } | { readonly end: 'unchanged' };

export type Step = (state: DeployState, ctx: AdvanceContext) => Promise<StepResult>;

export const STAGE_DONE: StepResult = { stageDone: true };

export function rolesOf(env: DeployEnvironment): Role[] {
  return env.fleets.worker ? ['web', 'worker'] : ['web'];
}

export function fleetOf(env: DeployEnvironment, role: Role) {
  const fleet = role === 'web' ? env.fleets.web : env.fleets.worker;
  if (!fleet) throw new DeployFailure(`environment ${env.env} has no ${role} fleet`);
  return fleet;
}

/**
 * Fails the deploy once the current step has waited longer than `minutes`.
 * The deadline starts the first time the step runs.
 */
export function checkDeadline(state: DeployState, ctx: AdvanceContext, minutes: number, what: string): void {
  const now = ctx.clock.now();
  if (state.deadlineStep !== state.step || state.deadline === undefined) {
    state.deadlineStep = state.step;
    state.deadline = now + minutes * 60_000;
    state.waitStartedAt = now;
    return;
  }
  if (now >= state.deadline) throw new DeployFailure(`timed out after ${minutes} min waiting for ${what}`);
}

/** A wait polls at least this often… */
export const MAX_POLL_SECONDS = 600;
/** …and, once it has lasted a while, every this share of the time it has lasted. */
export const POLL_GROWTH = 0.1;

/**
 * Seconds until the next poll of a wait that began `elapsedSeconds` ago: `baseSeconds` at
 * first (what the thing waited for can change that fast), then a tenth of the time waited,
 * at most 10 minutes. A long wait (a bake of hours) costs a few hundred polls, not
 * thousands: every poll is about 9 Step Functions history events, and an execution fails
 * at 25,000 (`lambda/deploy/budget.ts` proves the worst case stays below).
 */
export function pollSeconds(baseSeconds: number, elapsedSeconds: number, maxSeconds = MAX_POLL_SECONDS): number {
  return Math.min(maxSeconds, Math.max(baseSeconds, Math.round(elapsedSeconds * POLL_GROWTH)));
}

/**
 * The current step waits for `what`: fails the deploy after `minutes` (see `checkDeadline`),
 * else asks to run again after `pollSeconds(baseSeconds, time waited so far)`.
 */
export function waitFor(state: DeployState, ctx: AdvanceContext, minutes: number, what: string, baseSeconds: number, maxSeconds = MAX_POLL_SECONDS): StepResult {
  checkDeadline(state, ctx, minutes, what);
  const elapsed = Math.max(0, (ctx.clock.now() - (state.waitStartedAt ?? ctx.clock.now())) / 1000);
  return { poll: pollSeconds(baseSeconds, elapsed, maxSeconds) };
}

/** Tags of everything a deploy creates. */
export function deployTags(state: DeployState, role?: string): Tag[] {
  return [
    { Key: TAGS.app, Value: state.app },
    { Key: TAGS.environment, Value: state.env },
    { Key: TAGS.deploy, Value: state.deployId },
    { Key: TAGS.release, Value: state.release },
    ...(role ? [{ Key: TAGS.role, Value: role }] : []),
    { Key: 'Name', Value: `herd-${state.app}-${state.env}-${role ?? 'deploy'}-${state.release}`.slice(0, 255) },
  ];
}

const LIVE_STATES = ['pending', 'running', 'stopping', 'stopped'];

/** Instances of this deploy with `role` (builder, release…) that are not terminated or terminating. */
export async function findDeployInstances(state: DeployState, ctx: AdvanceContext, role?: string, extra: { Name: string; Values: string[] }[] = []): Promise<string[]> {
  const filters = [
    { Name: `tag:${TAGS.deploy}`, Values: [state.deployId] },
    { Name: `tag:${TAGS.app}`, Values: [state.app] },
    { Name: 'instance-state-name', Values: LIVE_STATES },
    ...(role ? [{ Name: `tag:${TAGS.role}`, Values: [role] }] : []),
    ...extra,
  ];
  const ids: string[] = [];
  let token: string | undefined;
  do {
    const res = await ctx.clients.ec2.send(new DescribeInstancesCommand({ Filters: filters, NextToken: token }));
    for (const r of res.Reservations ?? []) for (const i of r.Instances ?? []) if (i.InstanceId) ids.push(i.InstanceId);
    token = res.NextToken;
  } while (token);
  return ids;
}

/**
 * Seconds after herd created something during which EC2 (or SSM) may still answer that it
 * does not exist: its API is eventually consistent ("Eventual consistency in the Amazon EC2
 * API"), and the SDK's own waiters (`waitUntilInstanceExists`, `waitUntilImageExists`) retry
 * on exactly these answers.
 */
export const VISIBILITY_GRACE_SECONDS = 300;

/** The answers that mean "does not exist", which right after a create mean "not visible yet". */
const NOT_FOUND_CODES = new Set([
  'InvalidInstanceID.NotFound',
  'InvalidAMIID.NotFound',
  'InvalidLaunchTemplateId.VersionNotFound',
  'InvalidLaunchTemplateId.NotFound',
  'InvalidSnapshot.NotFound',
  'ParameterNotFound',
  'RuleNotFound',
  'RuleNotFoundException',
]);

/** True when `err` is EC2 or Auto Scaling saying a launch-template version does not exist. */
export function isVersionNotFound(err: unknown): boolean {
  return err instanceof Error && (err.name === 'InvalidLaunchTemplateId.VersionNotFound' || (err.name === 'ValidationError' && /launch template version .*(does not exist|not found)/i.test(err.message)));
}

/** True when `err` says something does not exist, and herd created it less than the grace window ago. */
export function notYetVisible(err: unknown, createdAt: number | undefined, ctx: AdvanceContext): boolean {
  if (!(err instanceof Error) || !NOT_FOUND_CODES.has(err.name) || createdAt === undefined) return false;
  return ctx.clock.now() - createdAt < VISIBILITY_GRACE_SECONDS * 1000;
}

/**
 * State name of one instance: `terminated` when EC2 no longer knows it, `pending` when it
 * does not know it yet (herd launched it at `launchedAt`, less than the grace window ago).
 */
export async function instanceState(ctx: AdvanceContext, instanceId: string, launchedAt?: number): Promise<string> {
  const gone = launchedAt !== undefined && ctx.clock.now() - launchedAt < VISIBILITY_GRACE_SECONDS * 1000 ? 'pending' : 'terminated';
  try {
    const res = await ctx.clients.ec2.send(new DescribeInstancesCommand({ InstanceIds: [instanceId] }));
    return res.Reservations?.[0]?.Instances?.[0]?.State?.Name ?? gone;
  } catch (err) {
    if (err instanceof Error && err.name === 'InvalidInstanceID.NotFound') return gone;
    throw err;
  }
}

/** Seconds a report may take to become readable after its instance powered off (SSM is eventually consistent too). */
export const REPORT_GRACE_SECONDS = 60;

/**
 * A builder or runner powered off with no readable report: within `REPORT_GRACE_SECONDS`
 * of noticing, poll again (the report it wrote last may not be readable yet), then fail.
 */
export function reportMissing(state: DeployState, ctx: AdvanceContext, what: string): StepResult {
  const now = ctx.clock.now();
  state.reportMissingSince ??= now;
  if (now - state.reportMissingSince < REPORT_GRACE_SECONDS * 1000) return { poll: 10 };
  throw new DeployFailure(what);
}

/** A run report (`bake-runs/<id>` or `release-runs/<id>`). */
export interface RunReport {
  readonly exitCode: number;
  readonly logTail: string;
  readonly processes?: readonly string[];
}

function isRunReport(value: unknown): value is RunReport {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  return (
    typeof v.exitCode === 'number' &&
    typeof v.logTail === 'string' &&
    (v.processes === undefined || (Array.isArray(v.processes) && v.processes.every((p) => typeof p === 'string')))
  );
}

/** Reads a run report; undefined until the instance wrote it. A malformed report fails the deploy. */
export async function readReport(ctx: AdvanceContext, name: string): Promise<RunReport | undefined> {
  let value: string | undefined;
  try {
    const res = await ctx.clients.ssm.send(new GetParameterCommand({ Name: name }));
    value = res.Parameter?.Value;
  } catch (err) {
    if (err instanceof Error && err.name === 'ParameterNotFound') return undefined;
    throw err;
  }
  if (value === undefined) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    throw new DeployFailure(`report ${name} is not JSON: ${value.slice(0, 200)}`);
  }
  if (!isRunReport(parsed)) throw new DeployFailure(`report ${name} lacks {exitCode, logTail}: ${value.slice(0, 200)}`);
  return parsed;
}

export async function deleteReport(ctx: AdvanceContext, name: string): Promise<void> {
  try {
    await ctx.clients.ssm.send(new DeleteParameterCommand({ Name: name }));
  } catch (err) {
    if (!(err instanceof Error && err.name === 'ParameterNotFound')) throw err;
  }
}

/**
 * Terminates this deploy's instances (of `role`, or all of them) and deletes the reports
 * named in `reports`; both idempotent, so a retried step converges. The instances are the
 * ones found by tag plus the ones the state knows (`known`, with when they were launched):
 * a listing filtered by tag may not show an instance launched seconds ago yet. One EC2 does
 * not know yet is terminated on a later try (the error is transient within the grace window).
 */
export async function retireDeployInstances(
  state: DeployState,
  ctx: AdvanceContext,
  role: string | undefined,
  reports: readonly string[],
  known: readonly { id: string; launchedAt?: number }[] = [],
): Promise<void> {
  const ids = new Set(await findDeployInstances(state, ctx, role));
  for (const k of known) ids.add(k.id);
  for (const id of ids) {
    try {
      await ctx.clients.ec2.send(new TerminateInstancesCommand({ InstanceIds: [id] }));
    } catch (err) {
      const launchedAt = known.find((k) => k.id === id)?.launchedAt;
      if (notYetVisible(err, launchedAt, ctx)) throw new NotVisibleYetError(`instance ${id}, launched by this deploy, is not visible to EC2 yet`);
      if (!(err instanceof Error && err.name === 'InvalidInstanceID.NotFound')) throw err;
    }
  }
  for (const name of reports) await deleteReport(ctx, name);
}

/** EC2 errors that are about one availability zone: another subnet usually works. */
const ZONAL_CAPACITY_ERRORS = new Set(['InsufficientInstanceCapacity', 'Unsupported', 'InsufficientFreeAddressesInSubnet', 'InsufficientCapacity']);

/**
 * Launches one instance (a builder or a runner) in the first of the environment's private
 * subnets that has capacity: `run(subnetId, attempt)` makes the RunInstances call. A zone
 * without capacity for the type (or not offering it) is skipped and said in the history;
 * the client token differs per subnet (EC2 refuses one token with other parameters).
 */
export async function launchInSubnets(
  state: DeployState,
  ctx: AdvanceContext,
  what: string,
  run: (subnetId: string, attempt: number) => Promise<RunInstancesCommandOutput>,
): Promise<string> {
  const subnets = ctx.env.instances.subnetIds;
  const refused: string[] = [];
  for (const [attempt, subnetId] of subnets.entries()) {
    try {
      const res = await run(subnetId, attempt);
      const id = res.Instances?.[0]?.InstanceId;
      if (!id) throw new DeployFailure(`RunInstances returned no ${what} instance`);
      if (refused.length > 0) state.warnings.push(`${what}: ${refused.join('; ')}; launched ${id} in ${subnetId}`);
      return id;
    } catch (err) {
      if (!(err instanceof Error && ZONAL_CAPACITY_ERRORS.has(err.name))) throw err;
      refused.push(`${subnetId}: ${err.name}`);
    }
  }
  throw new DeployFailure(`no private subnet could launch the ${what} (${refused.join('; ')}); try another deploy.builderInstanceType or wait for capacity`);
}

/** Last `max` characters of a log, for error messages. */
export function tail(text: string, max = 400): string {
  const t = text.trim();
  return t.length > max ? `…${t.slice(-max)}` : t;
}

export function instanceType(value: string): _InstanceType {
  return value as _InstanceType;
}

export function base64(text: string): string {
  return Buffer.from(text, 'utf8').toString('base64');
}
