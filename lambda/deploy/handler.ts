/**
 * The advance Lambda. Step Functions calls it with the execution input first (it answers
 * with the first state), then with each state it returned, until `done`.
 * Clients live at module scope with adaptive retries; the environment comes from the
 * `DEPLOY_ENVIRONMENT` variable, validated once.
 */
import { advance, startDeploy } from './advance';
import { createDeployClients, systemClock } from './clients';
import { parseDeployEnvironment, type DeployEnvironment } from './environment';
import { isDeployState, parseDeployInput, type DeployState } from './state';
import type { AdvanceContext } from './step';

const clients = createDeployClients({ retryMode: 'adaptive', maxAttempts: 6 });

let environment: DeployEnvironment | undefined;

/** Runs one call: a state advances one step, an execution input becomes the first state. */
export async function handle(event: unknown, ctx: AdvanceContext): Promise<DeployState> {
  if (isDeployState(event)) return advance(event, ctx);
  return startDeploy(parseDeployInput(event), ctx.env, ctx.clock);
}

export async function handler(event: unknown): Promise<DeployState> {
  environment ??= parseDeployEnvironment(process.env.DEPLOY_ENVIRONMENT);
  return handle(event, { clients, env: environment, clock: systemClock });
}

/** For tests: forget the parsed environment. */
export function resetEnvironmentForTests(): void {
  environment = undefined;
}
