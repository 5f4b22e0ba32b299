/**
 * Events outside the deploy step that a scenario schedules (`ScenarioFaults.events`): what
 * AWS, the fleet and operators do while a deploy runs. Each fires once, the first time the
 * deploy step returns a state at its `atStep`, in the order listed, and is recorded in the
 * run's timeline with what it did (`observation.ts`), which the invariants read.
 *
 * Operators act as the CLI does (the same functions, its preconditions), through the API
 * but not as the deploy step: the throttling and API faults aimed at the deploy step do not
 * touch their calls. A command the CLI would refuse, or AWS rejects, is recorded as refused.
 */
import { ResumeProcessesCommand, SuspendProcessesCommand, UpdateAutoScalingGroupCommand } from '@aws-sdk/client-auto-scaling';
import { HERD_ALARMS, type HerdAlarmId } from '../../lib/alarms';
import { TAGS, parameterNames } from '../../lib/names';
import { failRefresh } from '../../lib/simulation/services/autoscaling';
import { setState } from '../../lib/simulation/services/ec2';
import type { World } from '../../lib/simulation/world';
import { readLock, updateLock } from '../../lambda/deploy/lock';
import { MANUAL_OWNER, maintenanceOff, maintenanceOn, takeOverPage } from '../../lambda/deploy/maintenance';
import type { DeployState } from '../../lambda/deploy/state';
import { ABORT_ERROR } from '../../lib/cli/commands/abort';
import type { FleetRole, Observation } from './observation';

/** Auto Scaling processes an operator may suspend without stopping a rollout (the others are refused by the pre-flight). */
export const HARMLESS_PROCESSES = ['AZRebalance', 'ScheduledActions', 'AlarmNotification'] as const;

export type ScenarioEvent = ScenarioAction & {
  /** Fires only once the deploy recorded this role's refresh as succeeded (`state.refreshed`): the first state at `atStep` after it. */
  readonly afterRefreshed?: FleetRole;
};

type ScenarioAction =
  /** The next `calls` API calls of the deploy step are throttled (a burst of other traffic in the account). */
  | { readonly atStep: string; readonly kind: 'throttle'; readonly calls: number }
  /** `count` running instances of a role (the oldest first) die: EC2 shuts them down (hardware, a spot reclaim). */
  | { readonly atStep: string; readonly kind: 'kill'; readonly role: FleetRole | 'builder' | 'release'; readonly count: number }
  /** The zone of private subnet `subnet` runs out of capacity (RunInstances: InsufficientInstanceCapacity). */
  | { readonly atStep: string; readonly kind: 'noCapacity'; readonly subnet: number }
  /** One of herd's alarms goes to ALARM: its last periods breached (it goes back to OK when the metric does). */
  | { readonly atStep: string; readonly kind: 'alarm'; readonly alarm: HerdAlarmId }
  /** A scaling policy or an operator changes the group's desired capacity by `by`, within its min and max. */
  | { readonly atStep: string; readonly kind: 'scale'; readonly role: FleetRole; readonly by: number }
  /** An operator runs `herd maintenance on` or `off` (without --force). */
  | { readonly atStep: string; readonly kind: 'maintenance'; readonly action: 'on' | 'off' }
  /** An operator suspends or resumes Auto Scaling processes on a group. */
  | { readonly atStep: string; readonly kind: 'suspend' | 'resume'; readonly role: FleetRole; readonly processes: readonly string[] }
  /** An operator runs `herd abort`: the lock records who, the execution is stopped, the reaper resumes it to compensate. */
  | { readonly atStep: string; readonly kind: 'abort'; readonly actor: string }
  /** The execution dies: stopped from the console (no `herd abort`); the reaper resumes it. */
  | { readonly atStep: string; readonly kind: 'die' }
  /** An app setting is written where boot reads it (as `herd config set` does, the lock aside): instances launched from now on load it. */
  | { readonly atStep: string; readonly kind: 'setting'; readonly key: string; readonly value: string }
  /** The role's running instance refresh fails (`failRefresh`: rolled back by Auto Scaling when it was started with AutoRollback). */
  | { readonly atStep: string; readonly kind: 'refreshFails'; readonly role: FleetRole };

/** What an event may act on. */
export interface EventContext {
  readonly world: World;
  readonly observation: Observation;
  /** Throttles the deploy step's next `calls` calls. */
  throttleBurst(calls: number): void;
  /** Stops the execution before its next task (StopExecution's error and cause). */
  stop(error: { name: string; message: string }): void;
  /**
   * An operator's suspension of `process` right before the deploy step suspends it too, in a
   * call retried after its side effect: the retry finds it suspended and cannot tell whose it
   * is (Auto Scaling records no owner), so it counts as the deploy's.
   */
  ambiguous(process: string): boolean;
}

/** Runs `fn` as an operator: the throttling and API faults aimed at the deploy step are set aside meanwhile. */
async function asOperator<T>(world: World, fn: () => Promise<T>): Promise<T> {
  const { cloud } = world;
  const throttle = cloud.throttle;
  const faults = cloud.faults.splice(0);
  cloud.throttle = undefined;
  try {
    return await fn();
  } finally {
    cloud.throttle = throttle;
    cloud.faults.push(...faults);
  }
}

function refusal(err: unknown): string {
  return `refused: ${err instanceof Error ? `${err.name}: ${err.message}` : String(err)}`;
}

/** Applies `event` now (the deploy step just returned `state`); returns what it did. */
export async function applyEvent(event: ScenarioEvent, state: DeployState, c: EventContext): Promise<string> {
  const { cloud, env } = c.world;
  const clients = cloud.clients('operator');
  switch (event.kind) {
    case 'throttle':
      c.throttleBurst(event.calls);
      return `the next ${event.calls} call(s) throttled`;
    case 'kill': {
      const victims = [...cloud.instances.values()]
        .filter((i) => i.tags[TAGS.role] === event.role && i.tags[TAGS.environment] === env.env && (i.state === 'running' || i.state === 'pending'))
        .sort((a, b) => a.launchedAt - b.launchedAt)
        .slice(0, event.count);
      for (const i of victims) setState(cloud, i, 'shutting-down');
      if (event.role === 'web' && victims.length > 0) c.observation.webDisruptions.push(cloud.now());
      return victims.length > 0 ? `killed ${victims.map((i) => i.id).join(', ')}` : `no running ${event.role} instance`;
    }
    case 'noCapacity': {
      const subnet = env.instances.subnetIds[event.subnet];
      if (!subnet) return `no private subnet ${event.subnet}`;
      cloud.noCapacity.add(subnet);
      return `no capacity in ${subnet}`;
    }
    case 'alarm': {
      const alarm = cloud.alarms.get(`herd-${env.env}-${event.alarm.toLowerCase()}`);
      if (alarm?.threshold === undefined || !alarm.shape) return `no alarm ${event.alarm}`;
      const shape = HERD_ALARMS[event.alarm];
      const breaching = alarm.threshold + 1;
      alarm.datapoints.push(...Array.from({ length: shape.evaluationPeriods }, () => breaching));
      if (alarm.state !== 'ALARM') alarm.history.push({ at: cloud.now(), state: 'ALARM', reason: `scenario: ${shape.evaluationPeriods} breaching period(s)` });
      alarm.state = 'ALARM';
      return `${alarm.name} in ALARM`;
    }
    case 'scale': {
      const fleet = env.fleets[event.role];
      const g = fleet ? cloud.groups.get(fleet.autoScalingGroupName) : undefined;
      if (!fleet || !g) return `no ${event.role} group`;
      const was = g.desired;
      const desired = Math.min(g.max, Math.max(g.min, was + event.by));
      if (desired === was) return `desired stays ${desired} (min ${g.min}, max ${g.max})`;
      try {
        // A scaling policy or someone in the console, not a herd verb.
        await asOperator(c.world, () => cloud.clients('administrator').autoScaling.send(new UpdateAutoScalingGroupCommand({ AutoScalingGroupName: fleet.autoScalingGroupName, DesiredCapacity: desired })));
      } catch (err) {
        return refusal(err);
      }
      c.observation.operatorScaled.add(event.role);
      if (event.role === 'web' && desired < was) {
        c.observation.webDisruptions.push(cloud.now());
        c.observation.lowestWebDesired = Math.min(c.observation.lowestWebDesired ?? desired, desired);
      }
      return `desired ${was} → ${desired}`;
    }
    case 'maintenance': {
      try {
        if (event.action === 'on') {
          // `herd maintenance on`: a deploy's page becomes the operator's.
          const before = await asOperator(c.world, () => maintenanceOn(clients, env, MANUAL_OWNER));
          if (before.on && before.owner !== MANUAL_OWNER) await asOperator(c.world, () => takeOverPage(clients, before));
        } else {
          await asOperator(c.world, () => maintenanceOff(clients, env, { force: false }));
        }
      } catch (err) {
        return refusal(err);
      }
      c.observation.notePage();
      return `page ${event.action}; the operator ${c.observation.operatorOwnsPage ? 'owns it' : 'owns no page'}`;
    }
    case 'suspend':
    case 'resume': {
      const fleet = env.fleets[event.role];
      if (!fleet) return `no ${event.role} group`;
      const Command = event.kind === 'suspend' ? SuspendProcessesCommand : ResumeProcessesCommand;
      // Suspending a process already suspended changes nothing in AWS: one herd suspended (a full deploy's) stays herd's to resume.
      const already = new Set(cloud.groups.get(fleet.autoScalingGroupName)?.suspended ?? []);
      try {
        await asOperator(c.world, () => clients.autoScaling.send(new Command({ AutoScalingGroupName: fleet.autoScalingGroupName, ScalingProcesses: [...event.processes] })));
      } catch (err) {
        return refusal(err);
      }
      const mine = c.observation.operatorSuspended[event.role];
      for (const p of event.processes) {
        if (event.kind === 'resume') mine.delete(p);
        else if (c.ambiguous(p)) continue;
        else if (!already.has(p) || mine.has(p)) mine.add(p);
      }
      const held = event.kind === 'suspend' ? event.processes.filter((p) => already.has(p) && !mine.has(p)) : [];
      return `${event.kind === 'suspend' ? 'suspended' : 'resumed'} ${event.processes.join(', ')} on ${event.role}${held.length > 0 ? ` (${held.join(', ')} already suspended by the deploy: its own)` : ''}`;
    }
    case 'abort': {
      // `herd abort`'s own checks (lib/cli/commands/abort.ts), then the lock records who, then StopExecution.
      const lock = await asOperator(c.world, () => readLock(clients, env.tableName));
      if (!lock) return 'refused: no deploy is running';
      if (lock.needsAttention) return 'refused: the deploy needs attention';
      if (lock.deployId !== state.deployId) return `refused: deploy ${lock.deployId} holds the lock`;
      if (state.compensation) return 'refused: the deploy is compensating already';
      if (state.plan[state.stageIndex] === 'record') return 'refused: the release already serves';
      if (!(await asOperator(c.world, () => updateLock(clients, env.tableName, lock.deployId, { abortedBy: event.actor })))) return 'refused: the deploy ended meanwhile';
      c.stop({ name: ABORT_ERROR, message: `aborted by ${event.actor}` });
      return `stopped by ${event.actor}`;
    }
    case 'die':
      c.stop({ name: 'ExecutionAborted', message: `stopped from the console at ${state.step}` });
      return 'execution stopped';
    case 'setting':
      cloud.writeParameter(`${parameterNames(env.app, env.env).envPrefix}${event.key}`, event.value);
      return `app setting ${event.key} written`;
    case 'refreshFails': {
      const fleet = env.fleets[event.role];
      if (!fleet) return `no ${event.role} group`;
      return failRefresh(cloud, fleet.autoScalingGroupName, `${event.role} replacements failed to launch`);
    }
  }
}
