/**
 * An environment in the deploy step's fake cloud (`lib/simulation`), with what the CLI
 * needs around it, registered on the fake as more of its APIs: the stack's outputs
 * (`stack-outputs.ts`), Step Functions running the real deploy step (`step-functions.ts`),
 * S3 for artifacts (`artifacts-bucket.ts`) and STS answering with one fixed caller
 * (`sts.ts`). The CLI reaches them through real SDK clients (`clients()`), so its
 * paginators, waiters and `@aws-sdk/lib-storage` uploads run as in production. The sandbox
 * (`herd --sandbox`) holds one per configured environment; the CLI tests' `SimulatedEnvironment`
 * adds IAM evaluation around one.
 */
import { IAMClient } from '@aws-sdk/client-iam';
import { KMSClient } from '@aws-sdk/client-kms';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { ServiceQuotasClient } from '@aws-sdk/client-service-quotas';
import { SFNClient } from '@aws-sdk/client-sfn';
import { STSClient } from '@aws-sdk/client-sts';
import { newBypassValue } from '../cli/bypass-rotation';
import type { AwsClients } from '../cli/deps';
import { BYPASS_HEADER, BYPASS_HEADER_PRIORITY } from '../names';
import { addSecret } from '../simulation/services/secrets-manager';
import type { ApiCall } from '../simulation/iam/requests';
import { fakeClient } from '../simulation/transport';
import { createWorld, type World, type WorldSpec } from '../simulation/world';
import { registerArtifactsBucket, type ArtifactsStore, type SimulatedMultipartUpload } from './artifacts-bucket';
import { deployStateMachineArn, maintenanceBypassSecretArn, publishStackOutputs, stackOutputs } from './stack-outputs';
import { DeployStateMachine, type AbnormalEnd, type Execution } from './step-functions';
import { registerSts } from './sts';

/** The principal of the CLI's calls when none is named (the operator with the deploy policy). */
export const OPERATOR_PRINCIPAL = 'operator';

export class SandboxEnvironment implements ArtifactsStore {
  readonly world: World;
  readonly stateMachine: DeployStateMachine;
  readonly objects = new Map<string, Buffer>();
  readonly metadata = new Map<string, Record<string, string>>();
  readonly uploads = new Map<string, SimulatedMultipartUpload>();
  readonly s3Calls: string[] = [];
  onS3: ((api: string, partNumber: number | undefined) => void) | undefined;
  readonly stateMachineArn: string;
  readonly bypassSecretArn: string;

  /** `spec.app` and `spec.env` name the environment (default `shop`, `staging`). */
  constructor(spec: WorldSpec) {
    this.world = createWorld({ app: 'shop', env: 'staging', ...spec });
    const { app, env } = this.world.env;
    this.stateMachineArn = deployStateMachineArn(env);
    this.bypassSecretArn = maintenanceBypassSecretArn(app, env);
    this.publishOutputs();
    this.addBypassRule(app, env);
    registerArtifactsBucket(this.world.cloud, this);
    this.stateMachine = new DeployStateMachine(this.world, this.stateMachineArn, (call) => this.recordCall(call));
    registerSts(this.world.cloud);
  }

  /**
   * What the stack makes for the maintenance bypass: the secret holding a generated value and
   * the listener rule at `BYPASS_HEADER_PRIORITY` whose `X-Herd-Bypass` condition accepts it,
   * forwarding to the app (`lib/load-balancer.ts`), so `herd maintenance rotate-bypass` finds both.
   */
  private addBypassRule(app: string, env: string): void {
    const cloud = this.world.cloud;
    const value = newBypassValue();
    addSecret(cloud, `herd/${app}/${env}/maintenance-bypass`, this.bypassSecretArn, value);
    const listenerArn = this.world.env.loadBalancer.listenerArn;
    cloud.listeners.get(listenerArn)?.push({
      arn: `${listenerArn.replace(':listener/', ':listener-rule/')}/0000000000bypass`,
      priority: BYPASS_HEADER_PRIORITY,
      conditions: [{ Field: 'http-header', HttpHeaderConfig: { HttpHeaderName: BYPASS_HEADER, Values: [value] } }],
      actions: [{ Type: 'forward', TargetGroupArn: this.world.env.loadBalancer.targetGroupArn }],
      tags: {},
    });
  }

  /** Sees the calls made outside the fake cloud (the reaper's to Step Functions); nothing by default. */
  protected recordCall(_call: ApiCall): void {}

  get bucket(): string {
    return this.world.env.artifacts.bucket;
  }

  get executions(): Map<string, Execution> {
    return this.stateMachine.executions;
  }

  get reaped(): string[] {
    return this.stateMachine.reaped;
  }

  get executionLagSeconds(): number {
    return this.stateMachine.executionLagSeconds;
  }

  set executionLagSeconds(seconds: number) {
    this.stateMachine.executionLagSeconds = seconds;
  }

  /** The runner role's ARN the stack outputs (`herd run` passes it); undefined: a made-up one. */
  protected runnerRoleArn(): string | undefined {
    return undefined;
  }

  private arns() {
    const runnerRoleArn = this.runnerRoleArn();
    return { stateMachineArn: this.stateMachineArn, bypassSecretArn: this.bypassSecretArn, ...(runnerRoleArn ? { runnerRoleArn } : {}) };
  }

  /** Sets the environment's stack as CloudFormation describes it, with its outputs. */
  protected publishOutputs(): void {
    publishStackOutputs(this.world, this.arns());
  }

  outputs(): Record<string, string> {
    return stackOutputs(this.world, this.arns());
  }

  /** Ends a running execution abnormally (`DeployStateMachine.kill`); the reaper resumes it. */
  kill(deployId: string, status: AbnormalEnd = 'ABORTED'): Promise<void> {
    return this.stateMachine.kill(deployId, status);
  }

  /** Lets running executions go on for `seconds` of virtual time. */
  run(seconds: number): Promise<void> {
    return this.stateMachine.run(seconds);
  }

  /** Runs every execution to its end. */
  finish(): Promise<void> {
    return this.stateMachine.finish();
  }

  private readonly cliClients = new Map<string, AwsClients>();

  /**
   * The CLI's clients: the same real SDK clients as production (`realClients`), whose
   * requests the fake cloud answers, calling as `principal` (for IAM in tests: the operator
   * with the deploy policy unless named; STS names the same caller either way).
   */
  clients(principal: string = OPERATOR_PRINCIPAL): AwsClients {
    let clients = this.cliClients.get(principal);
    if (!clients) {
      const cloud = this.world.cloud;
      clients = {
        ...cloud.clients(principal),
        sfn: fakeClient(SFNClient, cloud, 'sfn', { principal }),
        sts: fakeClient(STSClient, cloud, 'sts', { principal }),
        secretsManager: fakeClient(SecretsManagerClient, cloud, 'secretsManager', { principal }),
        iam: fakeClient(IAMClient, cloud, 'iam', { principal }),
        kms: fakeClient(KMSClient, cloud, 'kms', { principal }),
        serviceQuotas: fakeClient(ServiceQuotasClient, cloud, 'serviceQuotas', { principal }),
      };
      this.cliClients.set(principal, clients);
    }
    return clients;
  }
}
