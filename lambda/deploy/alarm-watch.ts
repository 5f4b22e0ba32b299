/**
 * The rollback alarms watched by the deploy itself, beyond an instance refresh's own
 * auto-rollback (which watches them only while the refresh runs):
 *
 * - `full`: while the new fleet is up behind the maintenance page (only the bypass reaches
 *   it) and during the hold, and for `alarmWatchMinutes` after the page comes off;
 * - `rolling`: for `alarmWatchMinutes` after the last refresh ended.
 *
 * A rollback alarm (`lib/alarms.ts`: the 5xx alarm) in ALARM fails the deploy, which
 * compensates: the previous release comes back. Alarms that were already in ALARM when the
 * deploy started with `ignoreAlarms` are not watched (they would roll back the fix at once).
 */
import { DeployFailure } from './errors';
import { alarmsFiring } from './preflight';
import type { DeployState } from './state';
import { STAGE_DONE, type AdvanceContext, type Step } from './step';

/** Fails the deploy if a watched rollback alarm is in ALARM (`when` says at which point). */
export async function failIfAlarming(state: DeployState, ctx: AdvanceContext, when: string): Promise<void> {
  const firing = (await alarmsFiring(ctx)).filter((a) => !(state.ignoredAlarms ?? []).includes(a.name));
  const [first] = firing;
  if (first) throw new DeployFailure(`alarm ${first.name} went into ALARM ${when} (${first.reason.slice(0, 300)}): rolling the release back`);
}

/** Seconds between two looks at the alarms during the watch. */
const WATCH_POLL_SECONDS = 30;

/** `verify.watch`: the release serves everyone; its alarms are watched for `alarmWatchMinutes`. */
export const watchAlarms: Step = async (state, ctx) => {
  const minutes = ctx.env.deploy.alarmWatchMinutes ?? 0;
  if (minutes <= 0 || ctx.env.alarmNames.length === 0 || state.mode === 'bake') return STAGE_DONE;
  const now = ctx.clock.now();
  state.watchUntil ??= now + minutes * 60_000;
  await failIfAlarming(state, ctx, `within ${minutes} min of the release serving everyone`);
  if (now >= state.watchUntil) return STAGE_DONE;
  return { poll: Math.min(WATCH_POLL_SECONDS, Math.ceil((state.watchUntil - now) / 1000)) };
};
