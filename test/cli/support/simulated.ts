/**
 * An environment in the deploy step's fake cloud (`lib/simulation`), with what the CLI
 * needs around it: the stack's outputs (CloudFormation), a Step Functions that runs the
 * real deploy step against the fake cloud one poll at a time, S3 for artifacts (PutObject
 * and multipart uploads, as strict as S3), the deploy table's Query, and STS answering
 * with one fixed caller (`SIMULATED_CALLER_ARN`). `deps.sleep` advances the execution
 * instead of waiting.
 *
 * IAM: every call the CLI makes (principal `operator`, or `operator-read-only`), the deploy
 * step and the reaper make is evaluated against its policy — the operator's from
 * `herd iam-policy` for this environment, the functions' from the synthesized template — after
 * each test (`iam.check()`), which fails naming each denied call.
 */
import { DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  PutObjectCommand,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { createHash, randomBytes } from 'node:crypto';
import { DescribeExecutionCommand, GetExecutionHistoryCommand, StartExecutionCommand, StopExecutionCommand } from '@aws-sdk/client-sfn';
import { GetCallerIdentityCommand } from '@aws-sdk/client-sts';
import { QueryCommand } from '@aws-sdk/lib-dynamodb';
import { handle } from '../../../lambda/deploy/handler';
import { OUTCOME_ERRORS, SUCCEEDING_OUTCOMES } from '../../../lambda/deploy/contract';
import { ABNORMAL_STATUSES, reap } from '../../../lambda/deploy/reaper';
import type { DeployState } from '../../../lambda/deploy/state';
import type { AwsClients } from '../../../lib/cli/deps';
import { FakeAwsError } from '../../../lib/simulation/errors';
import { createWorld, type World, type WorldSpec } from '../../../lib/simulation/world';
import { OPERATOR_ARN, OPERATOR_PRINCIPALS, operatorPrincipals } from '../../support/iam/operator';
import { checkWorldIam, type IamCheck } from '../../support/iam/world-iam';

export const STATE_MACHINE_ARN = 'arn:aws:states:eu-west-1:123456789012:stateMachine:herd-staging-deploy';
export const BYPASS_SECRET_ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:herd/shop/staging/maintenance-bypass-AbCdEf';
/** Who STS says the caller is, in every simulated run. */
export const SIMULATED_CALLER_ARN = OPERATOR_ARN;
/** The actor the CLI records for that caller. */
export const SIMULATED_ACTOR = `alice (${SIMULATED_CALLER_ARN})`;

interface Execution {
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

type Send = (command: object) => Promise<unknown>;

function client<T>(send: Send): T {
  return { send } as unknown as T;
}

export { OPERATOR_PRINCIPALS };

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

/** What S3 enforces on uploads (S3 User Guide, "Amazon S3 multipart upload limits"). */
export const S3_LIMITS = {
  /** Largest PutObject body: 5 GiB. */
  maxPutObjectBytes: 5 * 1024 ** 3,
  /** Smallest part of a multipart upload, except the last: 5 MiB. */
  minPartBytes: 5 * 1024 ** 2,
  /** Largest part: 5 GiB. */
  maxPartBytes: 5 * 1024 ** 3,
  maxParts: 10_000,
} as const;

/** A multipart upload in progress: parts by number, as UploadPart stored them. */
export interface SimulatedMultipartUpload {
  readonly bucket: string;
  readonly key: string;
  readonly contentType?: string;
  readonly parts: Map<number, { readonly etag: string; readonly body: Buffer }>;
}

const md5 = (data: Buffer) => createHash('md5').update(data).digest();

/** An S3 request body (Buffer, Uint8Array, string, or a stream) as bytes. */
async function bytesOf(body: unknown): Promise<Buffer> {
  if (body === undefined || body === null) return Buffer.alloc(0);
  if (typeof body === 'string') return Buffer.from(body);
  if (body instanceof Uint8Array) return Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  if (typeof body === 'object' && Symbol.asyncIterator in body) {
    const chunks: Buffer[] = [];
    for await (const c of body as AsyncIterable<Uint8Array | string>) chunks.push(typeof c === 'string' ? Buffer.from(c) : Buffer.from(c));
    return Buffer.concat(chunks);
  }
  throw new Error(`fake S3: unsupported body ${Object.prototype.toString.call(body)}`);
}

/**
 * The client configuration `@aws-sdk/lib-storage`'s Upload reads besides `send`: where the
 * bucket is (for the Location of a single PUT), the checksum setting, and the request
 * handler (no upload progress events from it: progress comes per finished part).
 */
const SIMULATED_S3_CONFIG = {
  endpoint: async () => ({ protocol: 'https:', hostname: 's3.eu-west-1.amazonaws.com', path: '/' }),
  forcePathStyle: false,
  requestChecksumCalculation: async () => 'WHEN_SUPPORTED',
  requestHandler: undefined,
};

export class SimulatedEnvironment {
  readonly world: World;
  readonly executions = new Map<string, Execution>();
  readonly objects = new Map<string, Buffer>();
  /** Multipart uploads created and neither completed nor aborted, by upload id. */
  readonly uploads = new Map<string, SimulatedMultipartUpload>();
  /** Every S3 call, in order: the command's name without `Command` and the part number, if any. */
  readonly s3Calls: string[] = [];
  /** Called with every S3 command before it is answered (e.g. to fail one). */
  onS3: ((command: object) => void) | undefined;
  /** Virtual seconds each `sleep` lets the deploy run. */
  secondsPerPoll = 30;
  /**
   * Seconds after StartExecution during which DescribeExecution and GetExecutionHistory answer
   * ExecutionDoesNotExist (they are eventually consistent).
   */
  executionLagSeconds = 2;
  /** What the reaper did with each execution that ended abnormally, in order. */
  readonly reaped: string[] = [];
  /** Sleeps the CLI asked for. */
  polls = 0;
  /** Called after each poll (e.g. to press Ctrl-C). */
  onPoll: ((n: number) => void) | undefined;

  /** IAM evaluation of every call made in this environment. */
  readonly iam: IamCheck;

  /** `options.iam: false`: no IAM evaluation (the terminal entry point, outside jest, needs no synthesized template). */
  constructor(spec: WorldSpec, options: { readonly iam?: boolean } = {}) {
    this.world = createWorld({ app: 'shop', env: 'staging', ...spec });
    this.iam = options.iam === false ? NO_IAM : checkWorldIam(this.world, { extraPrincipals: operatorPrincipals(this.world, { deployStateMachineArn: STATE_MACHINE_ARN, maintenanceBypassSecretArn: BYPASS_SECRET_ARN }) });
    if (options.iam !== false) live.push(this);
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
      NotificationTopic: e.notificationTopicArn,
      ParameterRoot: '/herd/shop/staging',
      DatabaseSecretArn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:db-AbCdEf',
      DeployStateMachineArn: STATE_MACHINE_ARN,
      DeployTableName: e.tableName,
      RollbackAlarms: e.alarmNames.join(','),
      MaintenanceBypassSecretArn: BYPASS_SECRET_ARN,
    };
  }

  private async advanceOnce(x: Execution): Promise<void> {
    // A resumed execution starts from its input, the dead execution's last state.
    const last = x.states.at(-1) ?? (x.input as unknown as DeployState);
    if (last.done) return;
    this.world.cloud.advance(Math.max(0, x.dueAt - this.world.clock.now()) / 1000);
    const next = await handle(last, { clients: this.world.cloud.clients(), env: this.world.env, clock: this.world.clock });
    this.world.cloud.advance(1);
    this.record(x, next);
  }

  private record(x: Execution, state: DeployState): void {
    x.states.push(state);
    x.dueAt = this.world.clock.now() + state.waitSeconds * 1000;
    if (state.done) {
      // As the state machine's Choice: a succeeding outcome ends at Serving, any other at its Fail state.
      x.status = (SUCCEEDING_OUTCOMES as readonly string[]).includes(state.outcome ?? '') ? 'SUCCEEDED' : 'FAILED';
      x.stopDate = new Date(this.world.clock.now());
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
  async kill(deployId: string, status: 'ABORTED' | 'TIMED_OUT' | 'FAILED' = 'ABORTED'): Promise<void> {
    const x = [...this.executions.values()].filter((e) => e.name.startsWith(deployId) && e.status === 'RUNNING').at(-1);
    if (!x) throw new Error(`no running execution of ${deployId}`);
    x.status = status;
    x.stopDate = new Date(this.world.clock.now());
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
        now: () => this.world.clock.now(),
        lastState: async () => {
          this.iam.record({ principal: 'reaper', service: 'sfn', api: 'GetExecutionHistory', input: { executionArn: x.arn } });
          return x.states.at(-1);
        },
        startExecution: async (name, input) => {
          this.iam.record({ principal: 'reaper', service: 'sfn', api: 'StartExecution', input: { stateMachineArn: STATE_MACHINE_ARN, name } });
          this.start(name, input as unknown as Record<string, unknown>);
        },
      },
    );
    this.reaped.push(outcome.action);
  }

  private start(name: string, input: Record<string, unknown>): Execution {
    const arn = `${STATE_MACHINE_ARN.replace(':stateMachine:', ':execution:')}:${name}`;
    if (this.executions.has(arn)) throw new FakeAwsError('ExecutionAlreadyExists', `Execution Already Exists: '${arn}'`, 400);
    const x: Execution = { arn, name, input, startDate: new Date(this.world.clock.now()), states: [], dueAt: this.world.clock.now(), status: 'RUNNING' };
    this.executions.set(arn, x);
    return x;
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

  /**
   * S3 for artifacts: HeadObject, PutObject (at most 5 GiB), and multipart uploads as S3
   * checks them: UploadPart numbers 1–10000, each part at most 5 GiB; CompleteMultipartUpload
   * refuses an unknown upload (NoSuchUpload), parts not in ascending order
   * (InvalidPartOrder), a part never uploaded or whose ETag differs (InvalidPart), and a
   * part other than the last under 5 MiB (EntityTooSmall); the object is the listed parts
   * in order.
   */
  private async s3(command: object): Promise<unknown> {
    const partNumber = command instanceof UploadPartCommand ? ` ${command.input.PartNumber}` : '';
    this.s3Calls.push(`${command.constructor.name.replace(/Command$/, '')}${partNumber}`);
    this.onS3?.(command);
    if (command instanceof HeadObjectCommand) {
      const object = this.objects.get(`${command.input.Bucket}/${command.input.Key}`);
      if (!object) throw new FakeAwsError('NotFound', 'Not Found', 404);
      return { ContentLength: object.length };
    }
    if (command instanceof PutObjectCommand) {
      const body = await bytesOf(command.input.Body);
      if (body.length > S3_LIMITS.maxPutObjectBytes) throw new FakeAwsError('EntityTooLarge', 'Your proposed upload exceeds the maximum allowed object size.', 400);
      this.objects.set(`${command.input.Bucket}/${command.input.Key}`, body);
      return { ETag: `"${md5(body).toString('hex')}"` };
    }
    if (command instanceof CreateMultipartUploadCommand) {
      const uploadId = randomBytes(16).toString('hex');
      this.uploads.set(uploadId, {
        bucket: command.input.Bucket ?? '',
        key: command.input.Key ?? '',
        ...(command.input.ContentType ? { contentType: command.input.ContentType } : {}),
        parts: new Map(),
      });
      return { Bucket: command.input.Bucket, Key: command.input.Key, UploadId: uploadId };
    }
    const noSuchUpload = () => new FakeAwsError('NoSuchUpload', 'The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.', 404);
    if (command instanceof UploadPartCommand) {
      const upload = this.uploads.get(command.input.UploadId ?? '');
      if (!upload || upload.bucket !== command.input.Bucket || upload.key !== command.input.Key) throw noSuchUpload();
      const n = command.input.PartNumber ?? 0;
      if (!Number.isInteger(n) || n < 1 || n > S3_LIMITS.maxParts) throw new FakeAwsError('InvalidArgument', 'Part number must be an integer between 1 and 10000, inclusive', 400);
      const body = await bytesOf(command.input.Body);
      if (body.length > S3_LIMITS.maxPartBytes) throw new FakeAwsError('EntityTooLarge', 'Your proposed upload exceeds the maximum allowed object size.', 400);
      const etag = `"${md5(body).toString('hex')}"`;
      upload.parts.set(n, { etag, body });
      return { ETag: etag };
    }
    if (command instanceof CompleteMultipartUploadCommand) {
      const upload = this.uploads.get(command.input.UploadId ?? '');
      if (!upload || upload.bucket !== command.input.Bucket || upload.key !== command.input.Key) throw noSuchUpload();
      const listed = command.input.MultipartUpload?.Parts ?? [];
      if (listed.length === 0) throw new FakeAwsError('MalformedXML', 'The XML you provided was not well-formed or did not validate against our published schema.', 400);
      const bodies: Buffer[] = [];
      const digests: Buffer[] = [];
      for (const [i, p] of listed.entries()) {
        if (i > 0 && (p.PartNumber ?? 0) <= (listed[i - 1]?.PartNumber ?? 0)) {
          throw new FakeAwsError('InvalidPartOrder', 'The list of parts was not in ascending order. The parts list must be specified in order by part number.', 400);
        }
        const part = upload.parts.get(p.PartNumber ?? 0);
        if (!part || part.etag !== p.ETag) {
          throw new FakeAwsError('InvalidPart', 'One or more of the specified parts could not be found. The part may not have been uploaded, or the specified entity tag may not match the part\'s entity tag.', 400);
        }
        // Checked as each next part comes: every part but the last is at least 5 MiB.
        if ((bodies[i - 1]?.length ?? S3_LIMITS.minPartBytes) < S3_LIMITS.minPartBytes) {
          throw new FakeAwsError('EntityTooSmall', 'Your proposed upload is smaller than the minimum allowed object size.', 400);
        }
        bodies.push(part.body);
        digests.push(md5(part.body));
      }
      this.objects.set(`${upload.bucket}/${upload.key}`, Buffer.concat(bodies));
      this.uploads.delete(command.input.UploadId ?? '');
      return { Bucket: upload.bucket, Key: upload.key, ETag: `"${md5(Buffer.concat(digests)).toString('hex')}-${listed.length}"` };
    }
    if (command instanceof ListMultipartUploadsCommand) {
      const uploads = [...this.uploads.entries()].filter(([, u]) => u.bucket === command.input.Bucket && u.key.startsWith(command.input.Prefix ?? ''));
      return { Bucket: command.input.Bucket, Uploads: uploads.map(([UploadId, u]) => ({ Key: u.key, UploadId })) };
    }
    if (command instanceof AbortMultipartUploadCommand) {
      if (!this.uploads.delete(command.input.UploadId ?? '')) throw noSuchUpload();
      return {};
    }
    throw new Error(`fake S3: ${command.constructor.name}`);
  }

  /**
   * The deploy table's Query as DynamoDB answers the one the CLI sends (`pk = :pk`): one
   * partition, in sort-key order (`ScanIndexForward: false`: descending), `Limit` items a
   * page, `LastEvaluatedKey` when more remain, resumed from `ExclusiveStartKey`.
   */
  private query(command: QueryCommand): { Items: Record<string, unknown>[]; LastEvaluatedKey?: Record<string, unknown>; $metadata: object } {
    const input = command.input;
    if (input.TableName !== this.world.env.tableName) throw new FakeAwsError('ResourceNotFoundException', `Requested resource not found: Table: ${input.TableName} not found`, 400);
    if (input.KeyConditionExpression !== 'pk = :pk') throw new Error(`fake DynamoDB Query: unsupported KeyConditionExpression ${JSON.stringify(input.KeyConditionExpression)}`);
    const pk = input.ExpressionAttributeValues?.[':pk'];
    if (typeof pk !== 'string') throw new FakeAwsError('ValidationException', 'Value provided in ExpressionAttributeValues unused or missing: :pk', 400);
    if (input.Limit !== undefined && (!Number.isInteger(input.Limit) || input.Limit < 1)) {
      throw new FakeAwsError('ValidationException', `1 validation error detected: Value '${input.Limit}' at 'limit' failed to satisfy constraint: Member must have value greater than or equal to 1`, 400);
    }
    const forward = input.ScanIndexForward ?? true;
    let items = [...this.world.cloud.table.values()]
      .filter((i) => i.pk === pk)
      .sort((a, b) => (forward ? 1 : -1) * (String(a.sk) < String(b.sk) ? -1 : String(a.sk) > String(b.sk) ? 1 : 0));
    const start = input.ExclusiveStartKey?.sk;
    if (typeof start === 'string') items = items.filter((i) => (forward ? String(i.sk) > start : String(i.sk) < start));
    const page = items.slice(0, input.Limit ?? items.length);
    const last = page.at(-1);
    return {
      Items: page.map((i) => structuredClone(i)),
      ...(page.length < items.length && last ? { LastEvaluatedKey: { pk: last.pk, sk: last.sk } } : {}),
      $metadata: {},
    };
  }

  /** The CLI's clients, calling as `principal` (the operator with the deploy policy unless named). */
  clients(principal: string = OPERATOR_PRINCIPALS.deploy): AwsClients {
    const cloud = this.world.cloud.clients(principal);
    const fakeDynamo = cloud.dynamodb;
    // Calls answered here rather than by the fake cloud are recorded for IAM as the fake records its own.
    const recorded = <T>(service: string, c: T): T => ({
      ...(c as object),
      send: (command: object) => {
        const api = command.constructor.name.replace(/Command$/, '');
        if (!(service === 'dynamodb' && api !== 'Query')) this.iam.record({ principal, service, api, input: (command as { input?: Record<string, unknown> }).input ?? {} });
        return (c as { send: Send }).send(command);
      },
    }) as T;
    return this.recordedClients(cloud, fakeDynamo, recorded);
  }

  private recordedClients(cloud: ReturnType<World['cloud']['clients']>, fakeDynamo: AwsClients['dynamodb'], recorded: <T>(service: string, c: T) => T): AwsClients {
    const raw = this.rawClients(cloud, fakeDynamo);
    return {
      ...raw,
      dynamodb: recorded('dynamodb', raw.dynamodb),
      sts: recorded('sts', raw.sts),
      cloudFormation: recorded('cloudFormation', raw.cloudFormation),
      s3: recorded('s3', raw.s3),
      secretsManager: recorded('secretsManager', raw.secretsManager),
      sfn: recorded('sfn', raw.sfn),
    };
  }

  private rawClients(cloud: ReturnType<World['cloud']['clients']>, fakeDynamo: AwsClients['dynamodb']): AwsClients {
    return {
      ...cloud,
      dynamodb: client<AwsClients['dynamodb']>(async (command) => {
        if (command instanceof QueryCommand) return this.query(command);
        return fakeDynamo.send(command as never);
      }),
      sts: client<AwsClients['sts']>(async (command) => {
        if (!(command instanceof GetCallerIdentityCommand)) throw new Error(`fake STS: ${command.constructor.name}`);
        return { UserId: 'AIDAEXAMPLEALICE0001', Account: '123456789012', Arn: SIMULATED_CALLER_ARN, $metadata: {} };
      }),
      cloudFormation: client<AwsClients['cloudFormation']>(async (command) => {
        if (!(command instanceof DescribeStacksCommand)) throw new Error(`fake CloudFormation: ${command.constructor.name}`);
        if (command.input.StackName !== 'herd-staging') throw new FakeAwsError('ValidationError', `Stack with id ${command.input.StackName} does not exist`, 400);
        return { Stacks: [{ StackName: 'herd-staging', StackStatus: 'UPDATE_COMPLETE', Outputs: Object.entries(this.outputs()).map(([OutputKey, OutputValue]) => ({ OutputKey, OutputValue })) }] };
      }),
      s3: { send: (command: object) => this.s3(command), config: SIMULATED_S3_CONFIG } as unknown as AwsClients['s3'],
      secretsManager: client<AwsClients['secretsManager']>(async () => {
        throw new Error('fake Secrets Manager: not used');
      }),
      sfn: client<AwsClients['sfn']>(async (command) => {
        if (command instanceof StartExecutionCommand) {
          if (command.input.stateMachineArn !== STATE_MACHINE_ARN) throw new FakeAwsError('StateMachineDoesNotExist', 'no such state machine', 400);
          const input = JSON.parse(command.input.input ?? '{}') as Record<string, unknown>;
          const x = this.start(command.input.name ?? '', input);
          const arn = x.arn;
          try {
            this.record(x, await handle(input, { clients: this.world.cloud.clients(), env: this.world.env, clock: this.world.clock }));
          } catch (err) {
            x.status = 'FAILED';
            x.stopDate = new Date(this.world.clock.now());
            x.error = err instanceof Error ? err.name : 'Error';
            x.cause = err instanceof Error ? err.message : String(err);
          }
          return { executionArn: arn, startDate: x.startDate };
        }
        if (command instanceof StopExecutionCommand) {
          const x = this.executions.get(command.input.executionArn ?? '');
          if (!x) throw new FakeAwsError('ExecutionDoesNotExist', `Execution Does Not Exist: '${command.input.executionArn}'`, 400);
          // Stopping an execution that ended already changes nothing (its status stays).
          if (x.status === 'RUNNING') {
            x.status = 'ABORTED';
            x.stopDate = new Date(this.world.clock.now());
            if (command.input.error !== undefined) x.error = command.input.error;
            if (command.input.cause !== undefined) x.cause = command.input.cause;
            await this.reap(x);
          }
          return { stopDate: x.stopDate };
        }
        const arn = (command as { input: { executionArn?: string } }).input.executionArn ?? '';
        const x = this.executions.get(arn);
        if (!x || this.world.clock.now() - x.startDate.getTime() < this.executionLagSeconds * 1000) {
          throw new FakeAwsError('ExecutionDoesNotExist', `Execution Does Not Exist: '${arn}'`, 400);
        }
        if (command instanceof DescribeExecutionCommand) {
          const last = x.states[x.states.length - 1];
          return {
            executionArn: arn,
            status: x.status,
            startDate: x.startDate,
            ...(x.stopDate ? { stopDate: x.stopDate } : {}),
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
