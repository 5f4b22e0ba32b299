/** The reaper Lambda's reading of an execution's history: the newest state in it. */
import type { HistoryEvent } from '@aws-sdk/client-sfn';
import { lastAdvancedState } from '../../lambda/deploy/reaper-handler';
import { startDeploy } from '../../lambda/deploy/advance';
import { createWorld } from '../../lib/simulation/world';

const world = createWorld({ web: 1, serving: 'r1' });
const state = (step: string) => ({ ...startDeploy({ release: 'r2', actor: 'alice', deployId: 'd-1' }, world.env, world.clock), step });

test('the newest state: a task\'s output when it returned, its input when it died running, skipping what is not a state', () => {
  const newestFirst: HistoryEvent[] = [
    { id: 9, type: 'WaitStateEntered', timestamp: new Date(), stateEnteredEventDetails: { name: 'Wait', input: JSON.stringify(state('replace.waitNew')) } },
    { id: 8, type: 'TaskStateExited', timestamp: new Date(), stateExitedEventDetails: { name: 'AdvanceStep', output: JSON.stringify(state('replace.waitNew')) } },
    { id: 3, type: 'TaskStateEntered', timestamp: new Date(), stateEnteredEventDetails: { name: 'AdvanceStep', input: JSON.stringify(state('replace.scaleOut')) } },
  ];
  expect(lastAdvancedState(newestFirst)?.step).toBe('replace.waitNew');
  expect(lastAdvancedState(newestFirst.slice(2))?.step).toBe('replace.scaleOut');
  expect(lastAdvancedState([
    { id: 2, type: 'TaskStateEntered', timestamp: new Date(), stateEnteredEventDetails: { name: 'AdvanceStep', input: '{"release":"r2","actor":"alice"}' } },
    { id: 1, type: 'ExecutionStarted', timestamp: new Date() },
  ])).toBeUndefined();
});
