/**
 * CloudWatch in the fake cloud: herd's load-balancer alarms, evaluated from what the fake
 * computes rather than set by a test. Each virtual second the web target group serves
 * `requestsPerMinute / 60` requests, spread over its healthy targets (none while a
 * maintenance page answers every path); each target answers with its release's
 * `errorRate` of 5xx and its `p99Seconds` of latency. Every period (60 s) closes one
 * datapoint per alarm with the alarm's statistic:
 *
 * - HTTPCode_Target_5XX_Count, Sum: the period's 5xx answers (no data when there were none);
 * - UnHealthyHostCount, Maximum: the most targets in state `unhealthy` at once (a target
 *   of a slow-booting app is unhealthy until its app answers);
 * - TargetResponseTime, p99: the slowest serving target's p99 (no data without requests).
 *
 * An alarm goes to ALARM when its last `evaluationPeriods` datapoints all breach, missing
 * data not breaching (TreatMissingData NOT_BREACHING, as the stack sets), and back to OK
 * otherwise. Auto Scaling reads the state to roll a refresh back.
 */
import * as cw from '@aws-sdk/client-cloudwatch';
import { breaches } from '../../alarms';
import type { FakeCloud } from '../fake-cloud';
import type { FakeAlarm } from '../model';
import { fail } from './common';
import { releaseOfInstance } from './ec2';

/** Default traffic of a simulated site: 10 requests a second. */
export const DEFAULT_REQUESTS_PER_MINUTE = 600;
/** p99 latency of a release that does not say otherwise, seconds. */
const DEFAULT_P99_SECONDS = 0.15;

/** Whether a listener answers every path with a fixed response (a maintenance page). */
function pageUp(cloud: FakeCloud): boolean {
  for (const rules of cloud.listeners.values()) {
    if (rules.some((r) => r.actions.some((a) => a.Type === 'fixed-response') && r.conditions.some((c) => c.PathPatternConfig?.Values?.includes('/*')))) return true;
  }
  return false;
}

/** One second of traffic and target health, added to each alarm's open period; closes the period on its boundary. */
export function tickAlarms(cloud: FakeCloud, now: number): void {
  const page = pageUp(cloud);
  for (const alarm of cloud.alarms.values()) {
    if (!alarm.shape || alarm.threshold === undefined || !alarm.targetGroupArn) continue;
    const targets = [...(cloud.targetGroups.get(alarm.targetGroupArn)?.values() ?? [])];
    const serving = page ? [] : targets.filter((t) => t.state === 'healthy');
    const perTarget = serving.length > 0 ? cloud.requestsPerMinute / 60 / serving.length : 0;
    for (const t of serving) {
      const i = cloud.instances.get(t.id);
      const behaviour = cloud.behaviour(i ? releaseOfInstance(cloud, i) : undefined);
      alarm.current.errors += perTarget * (behaviour.errorRate ?? 0);
      alarm.current.p99 = Math.max(alarm.current.p99, behaviour.p99Seconds ?? DEFAULT_P99_SECONDS);
      alarm.current.requests += perTarget;
    }
    alarm.current.unhealthy = Math.max(alarm.current.unhealthy, targets.filter((t) => t.state === 'unhealthy').length);
    if (now % (alarm.shape.periodSeconds * 1000) === 0) closePeriod(alarm, now);
  }
}

function closePeriod(alarm: FakeAlarm, now: number): void {
  const shape = alarm.shape!;
  const c = alarm.current;
  const value =
    shape.metric === 'HTTPCode_Target_5XX_Count' ? (c.errors >= 1 ? Math.floor(c.errors) : undefined)
    : shape.metric === 'UnHealthyHostCount' ? c.unhealthy
    : c.requests > 0 ? c.p99 : undefined;
  alarm.datapoints.push(value);
  if (alarm.datapoints.length > 60) alarm.datapoints.shift();
  alarm.current = { errors: 0, unhealthy: 0, p99: 0, requests: 0 };
  const last = alarm.datapoints.slice(-shape.evaluationPeriods);
  const alarming = last.length === shape.evaluationPeriods && last.every((v) => v !== undefined && breaches(shape, v, alarm.threshold!));
  const state = alarming ? 'ALARM' : 'OK';
  if (state !== alarm.state) {
    alarm.state = state;
    const shown = last.map((v) => (v === undefined ? 'no data' : String(Math.round(v * 1000) / 1000))).join(', ');
    alarm.history.push({ at: now, state, reason: `${shape.metric} ${shape.statistic} over ${shape.evaluationPeriods} period(s) of ${shape.periodSeconds} s: [${shown}], threshold ${alarm.threshold}` });
  }
}

/**
 * DescribeAlarms by name (what the deploy step asks): the alarms that exist, with their
 * state; names that do not exist are left out, as CloudWatch does. At most 100 names.
 */
export function registerCloudWatch(cloud: FakeCloud): void {
  cloud.on('cloudWatch', cw.DescribeAlarmsCommand, (input) => {
    const names = input.AlarmNames ?? [];
    if (names.length > 100) fail('InvalidParameterValue', `AlarmNames may list at most 100 alarms (received ${names.length})`);
    if (input.AlarmNamePrefix !== undefined && names.length > 0) fail('InvalidParameterCombination', 'AlarmNames and AlarmNamePrefix cannot be used together');
    const alarms = [...cloud.alarms.values()].filter((a) => (names.length === 0 || names.includes(a.name)) && (input.AlarmNamePrefix === undefined || a.name.startsWith(input.AlarmNamePrefix)));
    return {
      MetricAlarms: alarms.map((a) => ({
        AlarmName: a.name,
        StateValue: a.state as cw.StateValue,
        ...(a.history.at(-1) ? { StateReason: a.history.at(-1)!.reason, StateUpdatedTimestamp: new Date(a.history.at(-1)!.at) } : {}),
        ...(a.shape ? { MetricName: a.shape.metric, Namespace: 'AWS/ApplicationELB', Threshold: a.threshold, EvaluationPeriods: a.shape.evaluationPeriods, Period: a.shape.periodSeconds } : {}),
      })),
    };
  });
}
