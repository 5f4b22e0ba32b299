/** What every step of the deploy state machine receives and returns, and helpers they share. */
import { DescribeInstancesCommand, TerminateInstancesCommand, type Tag, type _InstanceType } from '@aws-sdk/client-ec2';
import { DeleteParameterCommand, GetParameterCommand } from '@aws-sdk/client-ssm';
import type { Role } from '../../lib/config/types';
import { TAGS } from '../../lib/names';
import type { Clock, DeployClients } from './clients';
import type { DeployEnvironment } from './environment';
import { DeployFailure } from './errors';
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
export type StepResult = { readonly goto: string } | { readonly stageDone: true } | { readonly poll: number };

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
    return;
  }
  if (now >= state.deadline) throw new DeployFailure(`timed out after ${minutes} min waiting for ${what}`);
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
export async function findDeployInstances(state: DeployState, ctx: AdvanceContext, role?: string): Promise<string[]> {
  const filters = [
    { Name: `tag:${TAGS.deploy}`, Values: [state.deployId] },
    { Name: `tag:${TAGS.app}`, Values: [state.app] },
    { Name: 'instance-state-name', Values: LIVE_STATES },
    ...(role ? [{ Name: `tag:${TAGS.role}`, Values: [role] }] : []),
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

/** State name of one instance (`terminated` when EC2 no longer knows it). */
export async function instanceState(ctx: AdvanceContext, instanceId: string): Promise<string> {
  try {
    const res = await ctx.clients.ec2.send(new DescribeInstancesCommand({ InstanceIds: [instanceId] }));
    return res.Reservations?.[0]?.Instances?.[0]?.State?.Name ?? 'terminated';
  } catch (err) {
    if (err instanceof Error && err.name === 'InvalidInstanceID.NotFound') return 'terminated';
    throw err;
  }
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
 * named in `reports`; both idempotent, so a retried step converges.
 */
export async function retireDeployInstances(state: DeployState, ctx: AdvanceContext, role: string | undefined, reports: readonly string[]): Promise<void> {
  const ids = await findDeployInstances(state, ctx, role);
  if (ids.length > 0) await ctx.clients.ec2.send(new TerminateInstancesCommand({ InstanceIds: ids }));
  for (const name of reports) await deleteReport(ctx, name);
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
