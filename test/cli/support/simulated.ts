/**
 * An environment in the deploy step's fake cloud (`lib/simulation`), with what the CLI
 * needs around it: the stack's outputs (CloudFormation), a Step Functions that runs the
 * real deploy step against the fake cloud one poll at a time, S3 for artifacts, and the
 * deploy table's Query. `deps.sleep` advances the execution instead of waiting.
 */
import { DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { HeadObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { DescribeExecutionCommand, GetExecutionHistoryCommand, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { QueryCommand } from '@aws-sdk/lib-dynamodb';
import { handle } from '../../../lambda/deploy/handler';
import type { DeployState } from '../../../lambda/deploy/state';
import type { AwsClients } from '../../../lib/cli/deps';
import { FakeAwsError } from '../../../lib/simulation/errors';
import { createWorld, type World, type WorldSpec } from '../../../lib/simulation/world';

export const STATE_MACHINE_ARN = 'arn:aws:states:eu-west-1:123456789012:stateMachine:herd-staging-deploy';
export const BYPASS_SECRET_ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:herd/shop/staging/maintenance-bypass-AbCdEf';

interface Execution {
  readonly arn: string;
  readonly name: string;
  readonly input: Record<string, unknown>;
  readonly startDate: Date;
  states: DeployState[];
  /** Virtual time the next advance call is due (the state machine's Wait ends). */
  dueAt: number;
  status: 'RUNNING' | 'SUCCEEDED' | 'FAILED';
  error?: string;
  cause?: string;
}

type Send = (command: object) => Promise<unknown>;

function client<T>(send: Send): T {
  return { send } as unknown as T;
}

export class SimulatedEnvironment {
  readonly world: World;
  readonly executions = new Map<string, Execution>();
  readonly objects = new Map<string, Buffer>();
  /** Virtual seconds each `sleep` lets the deploy run. */
  secondsPerPoll = 30;
  /** Sleeps the CLI asked for. */
  polls = 0;
  /** Called after each poll (e.g. to press Ctrl-C). */
  onPoll: ((n: number) => void) | undefined;

  constructor(spec: WorldSpec) {
    this.world = createWorld({ app: 'shop', env: 'staging', ...spec });
  }

  get bucket(): string {
    return this.world.env.artifacts.bucket;
  }

  outputs(): Record<string, string> {
    const e = this.world.env;
    return {
      Url: 'http://herd-staging-123.eu-west-1.elb.amazonaws.com',
      LoadBalancerDnsName: 'herd-staging-123.eu-west-1.elb.amazonaws.com',
      ListenerArn: e.loadBalancer.listenerArn,
      TargetGroupArn: e.loadBalancer.targetGroupArn,
      MaintenancePriority: String(e.loadBalancer.maintenancePriority),
      WebAutoScalingGroup: e.fleets.web.autoScalingGroupName,
      WorkerAutoScalingGroup: e.fleets.worker?.autoScalingGroupName ?? '',
      WebLaunchTemplateId: e.fleets.web.launchTemplateId,
      WorkerLaunchTemplateId: e.fleets.worker?.launchTemplateId ?? '',
      ArtifactsBucket: e.artifacts.bucket,
      NotificationTopic: 'arn:aws:sns:eu-west-1:123456789012:herd-staging',
      ParameterRoot: '/herd/shop/staging',
      DatabaseSecretArn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:db-AbCdEf',
      DeployStateMachineArn: STATE_MACHINE_ARN,
      DeployTableName: e.tableName,
      MaintenanceBypassSecretArn: BYPASS_SECRET_ARN,
    };
  }

  private async advanceOnce(x: Execution): Promise<void> {
    const last = x.states[x.states.length - 1];
    if (!last || last.done) return;
    this.world.cloud.advance(Math.max(0, x.dueAt - this.world.clock.now()) / 1000);
    const next = await handle(last, { clients: this.world.cloud.clients(), env: this.world.env, clock: this.world.clock });
    this.world.cloud.advance(1);
    this.record(x, next);
  }

  private record(x: Execution, state: DeployState): void {
    x.states.push(state);
    x.dueAt = this.world.clock.now() + state.waitSeconds * 1000;
    if (state.done) {
      x.status = state.outcome === 'succeeded' ? 'SUCCEEDED' : 'FAILED';
      if (x.status === 'FAILED') {
        x.error = 'DeployFailed';
        x.cause = 'the deploy failed and rolled back';
      }
    }
  }

  /** Lets running executions go on for `seconds` of virtual time. */
  async run(seconds: number): Promise<void> {
    const until = this.world.clock.now() + seconds * 1000;
    for (const x of this.executions.values()) {
      while (x.status === 'RUNNING' && this.world.clock.now() < until) {
        if (x.dueAt > until) {
          this.world.cloud.advance((until - this.world.clock.now()) / 1000);
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

  async sleep(): Promise<void> {
    this.polls += 1;
    await this.run(this.secondsPerPoll);
    this.onPoll?.(this.polls);
  }

  clients(): AwsClients {
    const cloud = this.world.cloud.clients();
    const fakeDynamo = cloud.dynamodb;
    return {
      ...cloud,
      dynamodb: client<AwsClients['dynamodb']>(async (command) => {
        if (command instanceof QueryCommand) {
          const items = [...this.world.cloud.table.values()]
            .filter((i) => i.pk === command.input.ExpressionAttributeValues?.[':pk'])
            .sort((a, b) => String(b.sk).localeCompare(String(a.sk)));
          return { Items: items.slice(0, command.input.Limit ?? items.length), $metadata: {} };
        }
        return fakeDynamo.send(command as never);
      }),
      cloudFormation: client<AwsClients['cloudFormation']>(async (command) => {
        if (!(command instanceof DescribeStacksCommand)) throw new Error(`fake CloudFormation: ${command.constructor.name}`);
        if (command.input.StackName !== 'herd-staging') throw new FakeAwsError('ValidationError', `Stack with id ${command.input.StackName} does not exist`, 400);
        return { Stacks: [{ StackName: 'herd-staging', StackStatus: 'UPDATE_COMPLETE', Outputs: Object.entries(this.outputs()).map(([OutputKey, OutputValue]) => ({ OutputKey, OutputValue })) }] };
      }),
      s3: client<AwsClients['s3']>(async (command) => {
        if (command instanceof HeadObjectCommand) {
          if (!this.objects.has(`${command.input.Bucket}/${command.input.Key}`)) throw new FakeAwsError('NotFound', 'Not Found', 404);
          return {};
        }
        if (command instanceof PutObjectCommand) {
          const body = command.input.Body;
          const chunks: Buffer[] = [];
          if (body && typeof body === 'object' && Symbol.asyncIterator in body) {
            for await (const c of body as AsyncIterable<Buffer>) chunks.push(Buffer.from(c));
          }
          this.objects.set(`${command.input.Bucket}/${command.input.Key}`, Buffer.concat(chunks));
          return {};
        }
        throw new Error(`fake S3: ${command.constructor.name}`);
      }),
      secretsManager: client<AwsClients['secretsManager']>(async () => {
        throw new Error('fake Secrets Manager: not used');
      }),
      sfn: client<AwsClients['sfn']>(async (command) => {
        if (command instanceof StartExecutionCommand) {
          if (command.input.stateMachineArn !== STATE_MACHINE_ARN) throw new FakeAwsError('StateMachineDoesNotExist', 'no such state machine', 400);
          const name = command.input.name ?? '';
          const arn = `${STATE_MACHINE_ARN.replace(':stateMachine:', ':execution:')}:${name}`;
          if (this.executions.has(arn)) throw new FakeAwsError('ExecutionAlreadyExists', `Execution Already Exists: '${arn}'`, 400);
          const input = JSON.parse(command.input.input ?? '{}') as Record<string, unknown>;
          const x: Execution = { arn, name, input, startDate: new Date(this.world.clock.now()), states: [], dueAt: this.world.clock.now(), status: 'RUNNING' };
          this.executions.set(arn, x);
          try {
            this.record(x, await handle(input, { clients: this.world.cloud.clients(), env: this.world.env, clock: this.world.clock }));
          } catch (err) {
            x.status = 'FAILED';
            x.error = err instanceof Error ? err.name : 'Error';
            x.cause = err instanceof Error ? err.message : String(err);
          }
          return { executionArn: arn, startDate: x.startDate };
        }
        const arn = (command as { input: { executionArn?: string } }).input.executionArn ?? '';
        const x = this.executions.get(arn);
        if (!x) throw new FakeAwsError('ExecutionDoesNotExist', `Execution Does Not Exist: '${arn}'`, 400);
        if (command instanceof DescribeExecutionCommand) {
          const last = x.states[x.states.length - 1];
          return {
            executionArn: arn,
            status: x.status,
            startDate: x.startDate,
            ...(x.status === 'SUCCEEDED' && last ? { output: JSON.stringify(last) } : {}),
            ...(x.error ? { error: x.error, cause: x.cause } : {}),
          };
        }
        if (command instanceof GetExecutionHistoryCommand) {
          const events = x.states.map((s, n) => ({ id: n + 2, type: 'LambdaFunctionSucceeded', timestamp: new Date(), lambdaFunctionSucceededEventDetails: { output: JSON.stringify(s) } }));
          return { events: command.input.reverseOrder ? events.reverse().slice(0, command.input.maxResults ?? 1000) : events };
        }
        throw new Error(`fake Step Functions: ${command.constructor.name}`);
      }),
    };
  }
}
