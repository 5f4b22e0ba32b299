/**
 * Step Functions for an environment's deploy state machine, registered on the fake cloud:
 * executions run the REAL deploy step (`lambda/deploy/handler.ts`) one advance at a time as
 * virtual time passes, ending as the state machine's Choice ends them; StartExecution runs
 * the first advance at once, StopExecution aborts (and the reaper, `lambda/deploy/reaper.ts`,
 * resumes the deploy in a new execution), and DescribeExecution and GetExecutionHistory
 * answer ExecutionDoesNotExist for `executionLagSeconds` after the start (they are
 * eventually consistent). ListExecutions (`herd doctor`), as its API reference describes it:
 * newest first, optionally of one `statusFilter`, at most `maxResults` a page (0 or unset: 100;
 * at most 1,000) with a `nextToken` bound to the query; "best effort" consistent, so an
 * execution started less than `executionLagSeconds` ago is not listed yet.
 */
import { DescribeExecutionCommand, GetExecutionHistoryCommand, ListExecutionsCommand, StartExecutionCommand, StopExecutionCommand } from '@aws-sdk/client-sfn';
import { handle } from '../../lambda/deploy/handler';
import { OUTCOME_ERRORS, SUCCEEDING_OUTCOMES } from '../../lambda/deploy/contract';
import { ABNORMAL_STATUSES, reap } from '../../lambda/deploy/reaper';
import type { DeployState } from '../../lambda/deploy/state';
import { FakeAwsError } from '../simulation/errors';
import type { ApiCall } from '../simulation/iam/requests';
import type { World } from '../simulation/world';

/** One execution of the deploy state machine. */
export interface Execution {
  readonly arn: string;
  readonly name: string;
  readonly input: Record<string, unknown>;
  readonly startDate: Date;
  states: DeployState[];
  /** Virtual time the next advance call is due (the state machine's Wait ends). */
  dueAt: number;
  status: 'RUNNING' | 'SUCCEEDED' | 'FAILED' | 'TIMED_OUT' | 'ABORTED';
  error?: string;
  cause?: string;
  stopDate?: Date;
}

/** What the sandbox does around executions (its faults): nothing unless set. */
export interface ExecutionHooks {
  /** A deploy starts (StartExecution; not the reaper's resume), before its first advance. */
  started?(x: Execution): void;
  /** Just before an advance call of `x`. */
  beforeAdvance?(x: Execution): void;
  /** Just after an advance call of `x` (or its failure): may end the execution (`kill`). */
  afterAdvance?(x: Execution): Promise<void> | void;
}

/** The statuses an execution can be ended with by hand or by Step Functions' limits. */
export type AbnormalEnd = 'ABORTED' | 'TIMED_OUT' | 'FAILED';

export class DeployStateMachine {
  readonly executions = new Map<string, Execution>();
  /**
   * Seconds after StartExecution during which DescribeExecution and GetExecutionHistory answer
   * ExecutionDoesNotExist (they are eventually consistent).
   */
  executionLagSeconds = 2;
  /** What the reaper did with each execution that ended abnormally, in order. */
  readonly reaped: string[] = [];
  /** What happens around executions (the sandbox's faults). */
  hooks: ExecutionHooks = {};

  /**
   * `recordCall` sees the calls the reaper makes outside the fake cloud (Step Functions'
   * history and StartExecution), for IAM evaluation in tests.
   */
  constructor(
    private readonly world: World,
    readonly arn: string,
    private readonly recordCall: (call: ApiCall) => void = () => undefined,
  ) {
    this.register();
  }

  private now(): number {
    return this.world.clock.now();
  }

  private async advanceOnce(x: Execution): Promise<void> {
    // A resumed execution starts from its input, the dead execution's last state.
    const last = x.states.at(-1) ?? (x.input as unknown as DeployState);
    if (last.done) return;
    this.world.cloud.advance(Math.max(0, x.dueAt - this.now()) / 1000);
    const next = await this.advanceCall(x, last);
    this.world.cloud.advance(1);
    this.record(x, next);
    await this.hooks.afterAdvance?.(x);
  }

  /** One call of the advance function on `state`, for `x`. */
  private async advanceCall(x: Execution, state: unknown): Promise<DeployState> {
    this.hooks.beforeAdvance?.(x);
    try {
      return await handle(state, { clients: this.world.cloud.clients(), env: this.world.env, clock: this.world.clock });
    } catch (err) {
      await this.hooks.afterAdvance?.(x);
      throw err;
    }
  }

  private record(x: Execution, state: DeployState): void {
    x.states.push(state);
    x.dueAt = this.now() + state.waitSeconds * 1000;
    if (state.done) {
      // As the state machine's Choice: a succeeding outcome ends at Serving, any other at its Fail state.
      x.status = (SUCCEEDING_OUTCOMES as readonly string[]).includes(state.outcome ?? '') ? 'SUCCEEDED' : 'FAILED';
      x.stopDate = new Date(this.now());
      if (x.status === 'FAILED') {
        x.error = OUTCOME_ERRORS[(state.outcome ?? 'failed') as keyof typeof OUTCOME_ERRORS] ?? OUTCOME_ERRORS.failed;
        x.cause = state.failure?.cause ?? 'the deploy failed';
      }
    }
  }

  /**
   * Ends a running execution abnormally, as Step Functions does (StopExecution by hand:
   * ABORTED; its timeout: TIMED_OUT; the history limit: FAILED States.Runtime) without
   * running any Catch. The reaper's EventBridge rule fires at once.
   */
  async kill(deployId: string, status: AbnormalEnd = 'ABORTED'): Promise<void> {
    const x = [...this.executions.values()].filter((e) => e.name.startsWith(deployId) && e.status === 'RUNNING').at(-1);
    if (!x) throw new Error(`no running execution of ${deployId}`);
    x.status = status;
    x.stopDate = new Date(this.now());
    if (status === 'FAILED') {
      x.error = 'States.Runtime';
      x.cause = 'The execution reached the maximum number of history events (25000).';
    }
    await this.reap(x);
  }

  /** The reaper (lambda/deploy/reaper.ts) on an execution that ended abnormally: starts the resume execution. */
  private async reap(x: Execution): Promise<void> {
    if (!(ABNORMAL_STATUSES as readonly string[]).includes(x.status)) return;
    const outcome = await reap(
      { executionArn: x.arn, status: x.status, ...(x.error ? { error: x.error } : {}), ...(x.cause ? { cause: x.cause } : {}) },
      {
        clients: this.world.cloud.clients('reaper'),
        env: this.world.env,
        now: () => this.now(),
        lastState: async () => {
          this.recordCall({ principal: 'reaper', service: 'sfn', api: 'GetExecutionHistory', input: { executionArn: x.arn } });
          return x.states.at(-1);
        },
        startExecution: async (name, input) => {
          this.recordCall({ principal: 'reaper', service: 'sfn', api: 'StartExecution', input: { stateMachineArn: this.arn, name } });
          this.start(name, input as unknown as Record<string, unknown>);
        },
      },
    );
    this.reaped.push(outcome.action);
  }

  private start(name: string, input: Record<string, unknown>): Execution {
    const arn = `${this.arn.replace(':stateMachine:', ':execution:')}:${name}`;
    if (this.executions.has(arn)) throw new FakeAwsError('ExecutionAlreadyExists', `Execution Already Exists: '${arn}'`, 400);
    const x: Execution = { arn, name, input, startDate: new Date(this.now()), states: [], dueAt: this.now(), status: 'RUNNING' };
    this.executions.set(arn, x);
    return x;
  }

  /** Lets running executions go on for `seconds` of virtual time (the clock stops where the last one ends). */
  async run(seconds: number): Promise<void> {
    const until = this.now() + seconds * 1000;
    for (const x of this.executions.values()) {
      while (x.status === 'RUNNING' && this.now() < until) {
        if (x.dueAt > until) {
          this.world.cloud.advance((until - this.now()) / 1000);
          break;
        }
        await this.advanceOnce(x);
      }
    }
  }

  /** Runs every execution to its end. */
  async finish(): Promise<void> {
    for (const x of this.executions.values()) while (x.status === 'RUNNING') await this.advanceOnce(x);
  }

  private register(): void {
    const cloud = this.world.cloud;
    cloud.on('sfn', StartExecutionCommand, async (input) => {
      if (input.stateMachineArn !== this.arn) throw new FakeAwsError('StateMachineDoesNotExist', 'no such state machine', 400);
      const parsed = JSON.parse(input.input ?? '{}') as Record<string, unknown>;
      const x = this.start(input.name ?? '', parsed);
      this.hooks.started?.(x);
      try {
        this.record(x, await this.advanceCall(x, parsed));
        await this.hooks.afterAdvance?.(x);
      } catch (err) {
        x.status = 'FAILED';
        x.stopDate = new Date(this.now());
        x.error = err instanceof Error ? err.name : 'Error';
        x.cause = err instanceof Error ? err.message : String(err);
      }
      return { executionArn: x.arn, startDate: x.startDate };
    });
    cloud.on('sfn', StopExecutionCommand, async (input) => {
      const x = this.executions.get(input.executionArn ?? '');
      if (!x) throw new FakeAwsError('ExecutionDoesNotExist', `Execution Does Not Exist: '${input.executionArn}'`, 400);
      // Stopping an execution that ended already changes nothing (its status stays).
      if (x.status === 'RUNNING') {
        x.status = 'ABORTED';
        x.stopDate = new Date(this.now());
        if (input.error !== undefined) x.error = input.error;
        if (input.cause !== undefined) x.cause = input.cause;
        await this.reap(x);
      }
      return { stopDate: x.stopDate ?? new Date(this.now()) };
    });
    const visible = (arn: string | undefined): Execution => {
      const x = this.executions.get(arn ?? '');
      if (!x || this.now() - x.startDate.getTime() < this.executionLagSeconds * 1000) {
        throw new FakeAwsError('ExecutionDoesNotExist', `Execution Does Not Exist: '${arn}'`, 400);
      }
      return x;
    };
    cloud.on('sfn', DescribeExecutionCommand, (input) => {
      const x = visible(input.executionArn);
      const last = x.states[x.states.length - 1];
      return {
        executionArn: x.arn,
        stateMachineArn: this.arn,
        name: x.name,
        status: x.status,
        startDate: x.startDate,
        ...(x.stopDate ? { stopDate: x.stopDate } : {}),
        ...(x.status === 'SUCCEEDED' && last ? { output: JSON.stringify(last) } : {}),
        ...(x.error ? { error: x.error, cause: x.cause } : {}),
      };
    });
    cloud.on('sfn', GetExecutionHistoryCommand, (input) => {
      const x = visible(input.executionArn);
      const events = x.states.map((s, n) => ({ id: n + 2, type: 'LambdaFunctionSucceeded' as const, timestamp: new Date(this.now()), lambdaFunctionSucceededEventDetails: { output: JSON.stringify(s) } }));
      return { events: input.reverseOrder ? events.reverse().slice(0, input.maxResults ?? 1000) : events };
    });
    cloud.on('sfn', ListExecutionsCommand, (input) => {
      if (input.stateMachineArn === undefined) throw new FakeAwsError('ValidationException', 'Must provide a StateMachine ARN or MapRun ARN', 400);
      if (input.stateMachineArn !== this.arn) throw new FakeAwsError('StateMachineDoesNotExist', `State Machine Does Not Exist: '${input.stateMachineArn}'`, 400);
      const max = input.maxResults ?? 0;
      if (!Number.isInteger(max) || max < 0 || max > 1000) {
        throw new FakeAwsError('ValidationException', `1 validation error detected: Value '${max}' at 'maxResults' failed to satisfy constraint: Member must have value less than or equal to 1000`, 400);
      }
      const all = [...this.executions.values()]
        .filter((x) => this.now() - x.startDate.getTime() >= this.executionLagSeconds * 1000)
        .filter((x) => input.statusFilter === undefined || x.status === input.statusFilter)
        .sort((a, b) => b.startDate.getTime() - a.startDate.getTime() || b.name.localeCompare(a.name));
      const query = `${input.stateMachineArn}|${input.statusFilter ?? ''}`;
      let start = 0;
      if (input.nextToken !== undefined) {
        const [n, q] = Buffer.from(input.nextToken, 'base64').toString('utf8').split('#');
        if (q !== query) throw new FakeAwsError('InvalidToken', 'Invalid Token', 400);
        start = Number(n);
      }
      const page = all.slice(start, start + (max === 0 ? 100 : max));
      const next = start + page.length;
      return {
        executions: page.map((x) => ({ executionArn: x.arn, stateMachineArn: this.arn, name: x.name, status: x.status, startDate: x.startDate, ...(x.stopDate ? { stopDate: x.stopDate } : {}) })),
        ...(next < all.length ? { nextToken: Buffer.from(`${next}#${query}`).toString('base64') } : {}),
      };
    });
  }
}
