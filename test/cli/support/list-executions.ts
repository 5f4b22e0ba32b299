/**
 * Step Functions `ListExecutions` for a simulated environment's deploy state machine, as its
 * API reference describes it: executions of `stateMachineArn` (another ARN:
 * StateMachineDoesNotExist), newest first, optionally of one `statusFilter`, at most
 * `maxResults` a page (0 or unset: 100; at most 1,000) with a `nextToken` bound to the query.
 * It is eventually consistent ("best effort"): an execution started less than the
 * environment's `executionLagSeconds` ago is not listed yet.
 * Registered from the tests that need it, on the environment's fake cloud, reading its
 * executions (the simulated Step Functions' own state).
 */
import { ListExecutionsCommand } from '@aws-sdk/client-sfn';
import { FakeAwsError } from '../../../lib/simulation/errors';
import { STATE_MACHINE_ARN, type SimulatedEnvironment } from './simulated';

export function registerListExecutions(sim: SimulatedEnvironment): void {
  sim.world.cloud.on('sfn', ListExecutionsCommand, (input) => {
    if (input.stateMachineArn === undefined) throw new FakeAwsError('ValidationException', 'Must provide a StateMachine ARN or MapRun ARN', 400);
    if (input.stateMachineArn !== STATE_MACHINE_ARN) throw new FakeAwsError('StateMachineDoesNotExist', `State Machine Does Not Exist: '${input.stateMachineArn}'`, 400);
    const max = input.maxResults ?? 0;
    if (!Number.isInteger(max) || max < 0 || max > 1000) {
      throw new FakeAwsError('ValidationException', `1 validation error detected: Value '${max}' at 'maxResults' failed to satisfy constraint: Member must have value less than or equal to 1000`, 400);
    }
    const all = [...sim.executions.values()]
      .filter((x) => sim.world.clock.now() - x.startDate.getTime() >= sim.executionLagSeconds * 1000)
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
      executions: page.map((x) => ({ executionArn: x.arn, stateMachineArn: STATE_MACHINE_ARN, name: x.name, status: x.status, startDate: x.startDate, ...(x.stopDate ? { stopDate: x.stopDate } : {}) })),
      ...(next < all.length ? { nextToken: Buffer.from(`${next}#${query}`).toString('base64') } : {}),
    };
  });
}
