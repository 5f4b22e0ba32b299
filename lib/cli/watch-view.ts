/**
 * What `herd watch` (and every verb that follows a deploy) says, as text: the phase list with
 * estimates up front, each finished phase against its estimate, the live line with the
 * step in words, the maintenance banner, a failure's cause and what was rolled back, and the
 * summary of a release that serves. Pure: `watch.ts` reads, `display.ts` draws.
 */
import type { DeployState, Phase } from '../../lambda/deploy/state';
import { BYPASS_HEADER } from '../names';
import type { LiveView } from './display';
import type { EnvironmentHandle } from './environment';
import type { DeployEstimate } from './estimate';
import type { FleetView, InstanceView } from './fleet';
import { formatDuration, type Progress } from './progress';
import { COMPENSATION_DONE, PHASE_NAMES, STEP_PHRASES, stepPhrase } from './step-names';

/** Width of the phase column. */
const PHASE_COLUMN = 16;

type Env = Pick<EnvironmentHandle, 'name' | 'outputs'> & {
  readonly config: { readonly maintenance: { readonly bypassCidrs: readonly string[] } };
  /** An operator's maintenance page was up when the watch began. */
  readonly pageUpBefore?: boolean;
};

/** `~6m00s`, or `?` without an estimate. */
function about(seconds: number | undefined): string {
  return seconds === undefined ? '?' : `~${formatDuration(seconds)}`;
}

/**
 * The deploy's phases with their estimates and the total, printed before the first poll:
 * `release v42 on staging, rolling: ETA ~14m30s (estimate from herd plan)`, then one line per phase.
 */
export function phaseListLines(estimate: DeployEstimate | undefined, target: { release: string; strategy: string; mode?: string }, env: string): string[] {
  const what = target.mode === 'bake' ? `image of release ${target.release} for ${env}` : `release ${target.release} on ${env}, ${target.strategy}`;
  if (!estimate || estimate.phases.length === 0) return [`${what}: no estimate (no earlier deploy like it, and herd plan could not model it)`];
  return [
    `${what}: ETA ${about(estimate.totalSeconds)} (estimate ${estimate.source})`,
    ...estimate.phases.map((p) => `  ${PHASE_NAMES[p.phase].padEnd(PHASE_COLUMN)}${about(p.seconds)}`),
  ];
}

/** `bake            5m40s (estimate ~6m00s)` for timing `n` of the state; ✖ for the phase that failed. */
export function finishedPhaseLine(state: DeployState, n: number, estimate: DeployEstimate | undefined): { line: string; mark: 'done' | 'failed' } {
  const t = state.timings[n];
  if (!t) return { line: '', mark: 'done' };
  const took = formatDuration(((t.endedAt ?? t.startedAt) - t.startedAt) / 1000);
  const failed = state.failure !== undefined && t.phase === state.failure.phase && t.endedAt === state.failure.at && state.timings[n + 1]?.phase === 'compensate';
  const guess = estimate?.phases.filter((p) => p.phase === t.phase).reduce((s, p) => s + p.seconds, 0);
  const vs = guess !== undefined && guess > 0 && t.phase !== 'compensate' ? ` (estimate ${about(guess)})` : '';
  const end = failed ? (state.abortedBy ? ' — aborted' : ' — failed') : '';
  return { line: `${PHASE_NAMES[t.phase].padEnd(PHASE_COLUMN)}${took}${vs}${end}`, mark: failed ? 'failed' : 'done' };
}

/**
 * Whether the maintenance page is up now, and since when (no `since`: an operator's, up
 * before the deploy). `upBefore`: the listener showed an operator's page when the watch began
 * (a rolling deploy records none in its state).
 */
function pageUp(state: DeployState, upBefore = false): { since?: number } | undefined {
  const m = state.maintenance;
  if (state.done) return undefined;
  if (!m) return upBefore ? {} : undefined;
  if (m.wasOnBefore) return {};
  if (m.onAt !== undefined && m.offAt === undefined) return { since: m.onAt };
  return undefined;
}

/** `14:03:07 UTC` */
function clock(epochMs: number): string {
  return `${new Date(epochMs).toISOString().slice(11, 19)} UTC`;
}

/** A secret's name from its ARN (`…:secret:herd/shop/staging/maintenance-bypass-AbCdEf` → `herd/shop/staging/maintenance-bypass`): `--secret-id` takes either. */
export function secretName(arn: string): string {
  const m = /:secret:(.+)-[A-Za-z0-9]{6}$/.exec(arn);
  return m?.[1] ?? arn;
}

/** What changes the banner: whether the page is up, and since when. */
export function bannerKey(state: DeployState, upBefore = false): string {
  const up = pageUp(state, upBefore);
  return up ? `up:${up.since ?? 'before'}` : '';
}

/**
 * The banner while the maintenance page is up: since when, and how to get past it (the
 * bypass header, read from its secret — its value is never printed — and the allowed CIDRs).
 */
export function bannerLines(state: DeployState, env: Env, now: number): string[] {
  const up = pageUp(state, env.pageUpBefore);
  if (!up) return [];
  const since = up.since === undefined ? 'since before this deploy (an operator put it up)' : `since ${clock(up.since)} (${formatDuration((now - up.since) / 1000)})`;
  const lines = [`▲ maintenance page up ${since}: visitors get 503`];
  const secret = env.outputs.maintenanceBypassSecretArn;
  if (secret) lines.push(`  bypass: ${BYPASS_HEADER} header = secret ${secretName(secret)}`);
  const cidrs = env.config.maintenance.bypassCidrs;
  if (cidrs.length > 0) lines.push(`  bypass: requests from ${cidrs.join(', ')} skip the page`);
  return lines;
}

/** `maintenance page down at 10:12:03 UTC, after 4m10s` once a deploy took its page down (or rolled back). */
export function pageDownLine(state: DeployState): string {
  const m = state.maintenance;
  if (m?.onAt !== undefined && m.offAt !== undefined) return `maintenance page down at ${clock(m.offAt)}, after ${formatDuration((m.offAt - m.onAt) / 1000)}`;
  return 'maintenance page down';
}

/** Phases whose instances the display follows (the groups change then). */
export function followsInstances(state: DeployState, phase: Phase): boolean {
  return state.next !== undefined && (phase === 'rollout' || phase === 'verify' || phase === 'compensate');
}

/** Steps whose failure cause says it all (`release … is unhealthy: …`): no phrase in front. */
const SELF_EXPLAINING = new Set(['rollout.unhealthy']);

/** A step's words without the state's counts (a cause is read after the fact). */
function wordsOf(step: string): string | undefined {
  return STEP_PHRASES[step]?.({ state: { step, roleIndex: 0 } as DeployState, hasWorker: false });
}

/**
 * A cause in words: the step id the deploy step puts in front (`migrate.waitRunner: …`,
 * `refresh.wait kept failing for 5 min: …`) becomes its phrase, and any other step id in it too.
 */
export function humanCause(cause: string): string {
  const lead = /^([a-zA-Z]+\.[a-zA-Z]+)(: | kept failing)/.exec(cause);
  let text = cause;
  if (lead?.[1] && STEP_PHRASES[lead[1]]) {
    const rest = cause.slice(lead[1].length + (lead[2] === ': ' ? 2 : 0));
    text = SELF_EXPLAINING.has(lead[1]) && lead[2] === ': ' ? rest : `${wordsOf(lead[1])}${lead[2] === ': ' ? ': ' : ''}${rest}`;
  }
  return text.replace(/\b[a-zA-Z]+\.[a-zA-Z]+\b/g, (id) => wordsOf(id) ?? id);
}

/** The live part after a poll. */
export function liveView(
  state: DeployState,
  progress: Progress,
  fleet: FleetView | undefined,
  instances: { all: readonly InstanceView[]; changes: readonly InstanceView[] },
  env: Env & { readonly hasWorker: boolean },
  now: number,
): LiveView {
  const step = stepPhrase({ state, hasWorker: env.hasWorker, ...(fleet ? { counts: fleet.counts } : {}) });
  const phase = PHASE_NAMES[progress.phase];
  const extra: string[] = [];
  if (progress.bakePercent !== undefined) extra.push(`bake ~${progress.bakePercent}%`);
  const refreshes = (progress.refreshes ?? []).map((r) => `${r.role} ${r.percent}%`).join(', ');
  if (refreshes) extra.push(`refresh ${refreshes}`);
  const elapsed = formatDuration(progress.elapsedSeconds);
  const eta = progress.leftSeconds === undefined ? 'unknown' : `~${formatDuration(progress.leftSeconds)}`;
  return {
    line: [`${phase}: ${step}`, ...extra].join(' · '),
    time: `elapsed ${elapsed} · ETA ${eta}`,
    // What makes a new piped line: the bake's estimate moves every poll, so only its tens count
    // (the heartbeat says the rest); a refresh's percentage moves as instances are replaced.
    key: [phase, step, progress.bakePercent === undefined ? '' : `bake ${Math.floor(progress.bakePercent / 10) * 10}`, refreshes].join('|'),
    heartbeat: `still ${phase}: ${step}, elapsed ${elapsed}, ETA ${eta}`,
    banner: bannerLines(state, env, now),
    bannerKey: bannerKey(state, env.pageUpBefore),
    instances: instances.all,
    changes: instances.changes,
  };
}

/** A cause's first line, without the log excerpt a diagnosis shows whole. */
function causeHead(cause: string, diagnosed: boolean): string[] {
  const lines = humanCause(cause).split('\n');
  if (!diagnosed) return lines;
  return [(lines[0] ?? '').replace(/; boot log of \S+:$/, '')];
}

/** The summary of a failed deploy: the cause, the diagnosis, what was rolled back. */
export function failureLines(state: DeployState | undefined, fallbackCause: string | undefined): string[] {
  if (!state?.failure && !fallbackCause) return [];
  const lines: string[] = [];
  const how = state?.abortedBy ? 'aborted' : 'failed';
  const where = state?.failure ? `deploy ${how} in ${PHASE_NAMES[state.failure.phase]}` : `deploy ${how}`;
  const [head, ...more] = causeHead(state?.failure?.cause ?? fallbackCause ?? '', state?.diagnosis !== undefined);
  lines.push(`${where}: ${head ?? ''}`);
  for (const l of more) lines.push(`  ${l}`);
  const d = state?.diagnosis;
  if (d) {
    lines.push(`  diagnosis: ${d.instances.length} ${d.role} instance${d.instances.length === 1 ? '' : 's'} of ${d.release} failed their health check:`);
    lines.push(`    ${d.reason}${d.description ? `: ${d.description}` : ''}`);
    if (d.logTail.length > 0) {
      lines.push(`  boot log of ${d.logStream ?? 'the last instance'} (${d.logGroup}), last lines:`);
      for (const l of d.logTail.slice(-5)) lines.push(`    ${l}`);
    } else if (d.logError) lines.push(`  no boot log: ${d.logError}`);
  }
  const comp = state?.compensation;
  if (comp) {
    // Steps passed, except those that failed for good (their errors start with the step id).
    const failed = (step: string) => comp.errors.some((e) => e.startsWith(`${step}: `) || e.startsWith(`${step} kept failing`));
    const done = comp.steps
      .slice(0, comp.index + (state?.done ? 1 : 0))
      .filter((s) => !failed(s))
      .map((s) => COMPENSATION_DONE[s] ?? '')
      .filter((s) => s !== '');
    const back = state?.previous?.release ? `release ${state.previous.release} keeps serving` : 'nothing served before this deploy';
    lines.push(`  rolled back: ${done.length > 0 ? '' : 'nothing had changed; '}${back}`);
    for (const d of done) lines.push(`    - ${d}`);
    if (comp.errors.length > 0) lines.push(`  rollback steps that failed: ${comp.errors.map(humanCause).join('; ')}`);
  }
  return lines;
}

/** The summary of a release that serves: URL, instances per role, duration against estimate, the way back. */
export function successLines(state: DeployState, fleet: FleetView | undefined, estimate: DeployEstimate | undefined, env: Env, now: number): string[] {
  const took = (now - state.startedAt) / 1000;
  const lines = [`  url        ${env.outputs.url}`];
  if (fleet) {
    const per = (['web', 'worker'] as const)
      .map((role) => ({ role, n: fleet.instances.filter((i) => i.role === role && (i.status === 'healthy' || i.status === 'booting')).length, desired: fleet.counts[role]?.desired }))
      .filter((r) => r.desired !== undefined)
      .map((r) => `${r.role} ${r.n}${r.desired !== r.n ? ` of ${r.desired}` : ''}`);
    if (per.length > 0) lines.push(`  instances  ${per.join(' · ')}`);
  }
  lines.push(`  duration   ${formatDuration(took)}${estimate && estimate.totalSeconds > 0 ? ` (estimate ${about(estimate.totalSeconds)} ${estimate.source})` : ''}`);
  const previous = state.previous?.release;
  if (previous && previous !== state.release) {
    lines.push(`  previous   ${previous}`);
    // `herd rollback <env>` goes back to the last successful release before the serving one: this one.
    lines.push(`  roll back  herd rollback ${env.name}`);
  }
  return lines;
}
