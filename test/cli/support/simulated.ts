/**
 * An environment in the deploy step's fake cloud with what the CLI needs around it
 * (`lib/sandbox/environment.ts`: stack outputs, Step Functions running the real deploy step,
 * S3 for artifacts, STS answering `SIMULATED_CALLER_ARN`), for the CLI tests: app `shop`,
 * environment `staging`, and `sleep()` advancing the execution instead of waiting.
 *
 * IAM: every call the CLI makes (principal `operator`, or `operator-read-only`), the deploy
 * step and the reaper make is evaluated against its policy — the operator's from
 * `herd iam-policy` for this environment, the functions' from the synthesized template — after
 * each test (`iam.check()`), which fails naming each denied call.
 */
import type { AwsClients } from '../../../lib/cli/deps';
import { SandboxEnvironment } from '../../../lib/sandbox/environment';
import { deployStateMachineArn, maintenanceBypassSecretArn } from '../../../lib/sandbox/stack-outputs';
import { SIMULATED_CALLER_ARN } from '../../../lib/sandbox/sts';
import type { ApiCall } from '../../../lib/simulation/iam/requests';
import type { WorldSpec } from '../../../lib/simulation/world';
import { OPERATOR_ARN, OPERATOR_PRINCIPALS, operatorPrincipals } from '../../support/iam/operator';
import { checkWorldIam, type IamCheck } from '../../support/iam/world-iam';

export { S3_LIMITS, type SimulatedMultipartUpload } from '../../../lib/sandbox/artifacts-bucket';
export { SIMULATED_CALLER_ARN };
export { OPERATOR_PRINCIPALS };

export const STATE_MACHINE_ARN = deployStateMachineArn('staging');
export const BYPASS_SECRET_ARN = maintenanceBypassSecretArn('shop', 'staging');
/** The actor the CLI records for that caller. */
export const SIMULATED_ACTOR = `alice (${SIMULATED_CALLER_ARN})`;

if (SIMULATED_CALLER_ARN !== OPERATOR_ARN) throw new Error(`STS's caller ${SIMULATED_CALLER_ARN} is not the operator IAM evaluates (${OPERATOR_ARN})`);

/** No evaluation: records nothing, allows everything. */
const NO_IAM: IamCheck = { principals: new Map(), scope: { account: '', region: '', roleOfInstanceProfile: () => undefined }, calls: [], record: () => undefined, denials: async () => [], check: async () => undefined };

/** Every simulated environment made in the current test: their calls are evaluated after it. */
const live: SimulatedEnvironment[] = [];
// Under jest only (`tty-entry.ts` runs the CLI in a terminal outside it).
if (typeof afterEach === 'function') {
  afterEach(async () => {
    const sims = live.splice(0);
    for (const sim of sims) await sim.iam.check();
  });
}

export class SimulatedEnvironment extends SandboxEnvironment {
  /** Virtual seconds each `sleep` lets the deploy run. */
  secondsPerPoll = 30;
  /** Sleeps the CLI asked for. */
  polls = 0;
  /** Called after each poll (e.g. to press Ctrl-C). */
  onPoll: ((n: number) => void) | undefined;

  /** IAM evaluation of every call made in this environment. */
  readonly iam: IamCheck;

  /** `options.iam: false`: no IAM evaluation (the terminal entry point, outside jest, needs no synthesized template). */
  constructor(spec: WorldSpec, options: { readonly iam?: boolean } = {}) {
    super({ app: 'shop', env: 'staging', ...spec });
    this.iam = options.iam === false ? NO_IAM : checkWorldIam(this.world, { extraPrincipals: operatorPrincipals(this.world, { deployStateMachineArn: STATE_MACHINE_ARN, maintenanceBypassSecretArn: BYPASS_SECRET_ARN }) });
    // The operator may pass the runner role (`herd run`): its ARN is the synthesized one the evaluation resolved.
    const runnerRoleArn = this.iam.scope.roleOfInstanceProfile(this.world.env.instances.runnerInstanceProfileArn);
    if (runnerRoleArn) {
      for (const p of operatorPrincipals(this.world, { deployStateMachineArn: STATE_MACHINE_ARN, maintenanceBypassSecretArn: BYPASS_SECRET_ARN, runnerRoleArn })) this.iam.principals.set(p.name, p);
    }
    if (options.iam !== false) live.push(this);
    // The stack's outputs name the runner role the evaluation resolved.
    this.publishOutputs();
  }

  /** The runner role's ARN (for IAM: the synthesized one; without IAM evaluation: the sandbox's made-up one). */
  protected override runnerRoleArn(): string | undefined {
    // Called by the base constructor too, before the evaluation exists.
    return this.iam?.scope.roleOfInstanceProfile(this.world.env.instances.runnerInstanceProfileArn) ?? super.runnerRoleArn();
  }

  protected override recordCall(call: ApiCall): void {
    this.iam.record(call);
  }

  async sleep(): Promise<void> {
    this.polls += 1;
    await this.run(this.secondsPerPoll);
    this.onPoll?.(this.polls);
  }

  /**
   * The CLI's clients (`SandboxEnvironment.clients`), calling as `principal`: the operator
   * with the deploy policy unless named.
   */
  override clients(principal: string = OPERATOR_PRINCIPALS.deploy): AwsClients {
    return super.clients(principal);
  }
}
