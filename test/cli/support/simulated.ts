/**
 * An environment in the deploy step's fake cloud (`lib/simulation`), with what the CLI
 * needs around it, registered on the fake as more of its APIs: the stack's outputs
 * (CloudFormation), a Step Functions that runs the real deploy step against the fake cloud
 * one poll at a time, S3 for artifacts (PutObject and multipart uploads, as strict as S3; ListObjectsV2),
 * and STS answering with one fixed caller (`SIMULATED_CALLER_ARN`). The CLI reaches them
 * through real SDK clients (`clients()`), so its paginators, waiters and
 * `@aws-sdk/lib-storage` uploads run as in production. `deps.sleep` advances the execution
 * instead of waiting.
 *
 * IAM: every call the CLI makes (principal `operator`, or `operator-read-only`), the deploy
 * step and the reaper make is evaluated against its policy — the operator's from
 * `herd iam-policy` for this environment, the functions' from the synthesized template — after
 * each test (`iam.check()`), which fails naming each denied call.
 */
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { createHash, randomBytes } from 'node:crypto';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { DescribeExecutionCommand, GetExecutionHistoryCommand, SFNClient, StartExecutionCommand, StopExecutionCommand } from '@aws-sdk/client-sfn';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { handle } from '../../../lambda/deploy/handler';
import { OUTCOME_ERRORS, SUCCEEDING_OUTCOMES } from '../../../lambda/deploy/contract';
import { ABNORMAL_STATUSES, reap } from '../../../lambda/deploy/reaper';
import type { DeployState } from '../../../lambda/deploy/state';
import type { AwsClients } from '../../../lib/cli/deps';
import { FakeAwsError } from '../../../lib/simulation/errors';
import { fakeClient } from '../../../lib/simulation/transport';
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

export class SimulatedEnvironment {
  readonly world: World;
  readonly executions = new Map<string, Execution>();
  readonly objects = new Map<string, Buffer>();
  /** Multipart uploads created and neither completed nor aborted, by upload id. */
  readonly uploads = new Map<string, SimulatedMultipartUpload>();
  /** Every S3 call, in order: the command's name without `Command` and the part number, if any. */
  readonly s3Calls: string[] = [];
  /** Called with every S3 request (its API, and an UploadPart's part number) before it is answered: throwing a `FakeAwsError` fails it. */
  onS3: ((api: string, partNumber: number | undefined) => void) | undefined;
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
    // The operator may pass the runner role (`herd run`): its ARN is the synthesized one the evaluation resolved.
    const runnerRoleArn = this.iam.scope.roleOfInstanceProfile(this.world.env.instances.runnerInstanceProfileArn);
    if (runnerRoleArn) {
      for (const p of operatorPrincipals(this.world, { deployStateMachineArn: STATE_MACHINE_ARN, maintenanceBypassSecretArn: BYPASS_SECRET_ARN, runnerRoleArn })) this.iam.principals.set(p.name, p);
    }
    if (options.iam !== false) live.push(this);
    // The environment's stack as CloudFormation describes it, with its outputs.
    const stack = this.world.cloud.stacks.get('herd-staging');
    this.world.cloud.stacks.set('herd-staging', { status: stack?.status ?? 'UPDATE_COMPLETE', outputs: this.outputs() });
    this.registerS3();
    this.registerStepFunctions();
    this.registerSts();
  }


  /** The runner role's ARN (for IAM: the synthesized one; without IAM evaluation: a made-up one). */
  runnerRoleArn(): string {
    return this.iam.scope.roleOfInstanceProfile(this.world.env.instances.runnerInstanceProfileArn) ?? 'arn:aws:iam::123456789012:role/herd-staging-runner';
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
      RunnerInstanceProfileArn: e.instances.runnerInstanceProfileArn,
      RunnerRoleArn: this.runnerRoleArn(),
      RunnerSubnetIds: e.instances.subnetIds.join(','),
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
   * S3 for artifacts, registered on the fake cloud: HeadObject, PutObject (at most 5 GiB), and
   * multipart uploads as S3 checks them: UploadPart numbers 1–10000, each part at most 5 GiB;
   * CompleteMultipartUpload refuses an unknown upload (NoSuchUpload), parts not in ascending
   * order (InvalidPartOrder), a part never uploaded or whose ETag differs (InvalidPart), and a
   * part other than the last under 5 MiB (EntityTooSmall); the object is the listed parts in
   * order. The bucket holds only what was put in it: the deploy step's pre-flight sees the
   * same objects as the CLI.
   */
  private registerS3(): void {
    const cloud = this.world.cloud;
    const seen = (api: string, partNumber?: number) => {
      this.s3Calls.push(`${api}${partNumber !== undefined ? ` ${partNumber}` : ''}`);
      this.onS3?.(api, partNumber);
    };
    const noSuchUpload = () => new FakeAwsError('NoSuchUpload', 'The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.', 404);
    cloud.on('s3', HeadObjectCommand, (input) => {
      seen('HeadObject');
      const object = this.objects.get(`${input.Bucket}/${input.Key}`);
      if (!object) throw new FakeAwsError('NotFound', 'Not Found', 404);
      return { ContentLength: object.length, ETag: `"${md5(object).toString('hex')}"` };
    });
    cloud.on('s3', PutObjectCommand, (input) => {
      seen('PutObject');
      const body = Buffer.from((input.Body ?? new Uint8Array()) as Uint8Array);
      if (body.length > S3_LIMITS.maxPutObjectBytes) throw new FakeAwsError('EntityTooLarge', 'Your proposed upload exceeds the maximum allowed object size.', 400);
      this.objects.set(`${input.Bucket}/${input.Key}`, body);
      return { ETag: `"${md5(body).toString('hex')}"` };
    });
    cloud.on('s3', CreateMultipartUploadCommand, (input) => {
      seen('CreateMultipartUpload');
      const uploadId = randomBytes(16).toString('hex');
      this.uploads.set(uploadId, { bucket: input.Bucket ?? '', key: input.Key ?? '', ...(input.ContentType ? { contentType: input.ContentType } : {}), parts: new Map() });
      return { Bucket: input.Bucket, Key: input.Key, UploadId: uploadId };
    });
    cloud.on('s3', UploadPartCommand, (input) => {
      seen('UploadPart', input.PartNumber);
      const upload = this.uploads.get(input.UploadId ?? '');
      if (!upload || upload.bucket !== input.Bucket || upload.key !== input.Key) throw noSuchUpload();
      const n = input.PartNumber ?? 0;
      if (!Number.isInteger(n) || n < 1 || n > S3_LIMITS.maxParts) throw new FakeAwsError('InvalidArgument', 'Part number must be an integer between 1 and 10000, inclusive', 400);
      const body = Buffer.from((input.Body ?? new Uint8Array()) as Uint8Array);
      if (body.length > S3_LIMITS.maxPartBytes) throw new FakeAwsError('EntityTooLarge', 'Your proposed upload exceeds the maximum allowed object size.', 400);
      const etag = `"${md5(body).toString('hex')}"`;
      upload.parts.set(n, { etag, body });
      return { ETag: etag };
    });
    cloud.on('s3', CompleteMultipartUploadCommand, (input) => {
      seen('CompleteMultipartUpload');
      const upload = this.uploads.get(input.UploadId ?? '');
      if (!upload || upload.bucket !== input.Bucket || upload.key !== input.Key) throw noSuchUpload();
      const listed = input.MultipartUpload?.Parts ?? [];
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
      this.uploads.delete(input.UploadId ?? '');
      return { Bucket: upload.bucket, Key: upload.key, ETag: `"${md5(Buffer.concat(digests)).toString('hex')}-${listed.length}"` };
    });
    cloud.on('s3', ListMultipartUploadsCommand, (input) => {
      seen('ListMultipartUploads');
      const uploads = [...this.uploads.entries()].filter(([, u]) => u.bucket === input.Bucket && u.key.startsWith(input.Prefix ?? ''));
      return { Bucket: input.Bucket, Uploads: uploads.map(([UploadId, u]) => ({ Key: u.key, UploadId })) };
    });
    // One page of keys under the prefix, in key order (S3 lists at most 1,000 a page).
    cloud.on('s3', ListObjectsV2Command, (input) => {
      seen('ListObjectsV2');
      const prefix = `${input.Bucket}/${input.Prefix ?? ''}`;
      const keys = [...this.objects.keys()].filter((k) => k.startsWith(prefix)).sort();
      const start = input.ContinuationToken ? Number(input.ContinuationToken) : 0;
      const page = keys.slice(start, start + Math.min(1000, input.MaxKeys ?? 1000));
      const next = start + page.length < keys.length ? String(start + page.length) : undefined;
      return {
        Name: input.Bucket,
        Prefix: input.Prefix,
        KeyCount: page.length,
        IsTruncated: next !== undefined,
        ...(next ? { NextContinuationToken: next } : {}),
        Contents: page.map((k) => ({ Key: k.slice(`${input.Bucket}/`.length), Size: this.objects.get(k)?.length ?? 0, LastModified: new Date(this.world.clock.now()) })),
      };
    });
    cloud.on('s3', AbortMultipartUploadCommand, (input) => {
      seen('AbortMultipartUpload');
      if (!this.uploads.delete(input.UploadId ?? '')) throw noSuchUpload();
      return {};
    });
  }

  /**
   * Step Functions for the deploy state machine, registered on the fake cloud: StartExecution
   * runs the first advance at once, StopExecution aborts (and the reaper runs), and
   * DescribeExecution and GetExecutionHistory answer ExecutionDoesNotExist for
   * `executionLagSeconds` after the start (they are eventually consistent).
   */
  private registerStepFunctions(): void {
    const cloud = this.world.cloud;
    cloud.on('sfn', StartExecutionCommand, async (input) => {
      if (input.stateMachineArn !== STATE_MACHINE_ARN) throw new FakeAwsError('StateMachineDoesNotExist', 'no such state machine', 400);
      const parsed = JSON.parse(input.input ?? '{}') as Record<string, unknown>;
      const x = this.start(input.name ?? '', parsed);
      try {
        this.record(x, await handle(parsed, { clients: cloud.clients(), env: this.world.env, clock: this.world.clock }));
      } catch (err) {
        x.status = 'FAILED';
        x.stopDate = new Date(this.world.clock.now());
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
        x.stopDate = new Date(this.world.clock.now());
        if (input.error !== undefined) x.error = input.error;
        if (input.cause !== undefined) x.cause = input.cause;
        await this.reap(x);
      }
      return { stopDate: x.stopDate ?? new Date(this.world.clock.now()) };
    });
    const visible = (arn: string | undefined): Execution => {
      const x = this.executions.get(arn ?? '');
      if (!x || this.world.clock.now() - x.startDate.getTime() < this.executionLagSeconds * 1000) {
        throw new FakeAwsError('ExecutionDoesNotExist', `Execution Does Not Exist: '${arn}'`, 400);
      }
      return x;
    };
    cloud.on('sfn', DescribeExecutionCommand, (input) => {
      const x = visible(input.executionArn);
      const last = x.states[x.states.length - 1];
      return {
        executionArn: x.arn,
        stateMachineArn: STATE_MACHINE_ARN,
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
      const events = x.states.map((s, n) => ({ id: n + 2, type: 'LambdaFunctionSucceeded' as const, timestamp: new Date(this.world.clock.now()), lambdaFunctionSucceededEventDetails: { output: JSON.stringify(s) } }));
      return { events: input.reverseOrder ? events.reverse().slice(0, input.maxResults ?? 1000) : events };
    });
  }

  /** STS, registered on the fake cloud: one caller, `SIMULATED_CALLER_ARN`. */
  private registerSts(): void {
    this.world.cloud.on('sts', GetCallerIdentityCommand, () => ({ UserId: 'AIDAEXAMPLEALICE0001', Account: '123456789012', Arn: SIMULATED_CALLER_ARN }));
  }

  private readonly cliClients = new Map<string, AwsClients>();

  /**
   * The CLI's clients: the same real SDK clients as production (`realClients`), whose
   * requests the fake cloud answers, calling as `principal` (for IAM: the operator with the
   * deploy policy unless named; STS says `SIMULATED_CALLER_ARN` either way).
   */
  clients(principal: string = OPERATOR_PRINCIPALS.deploy): AwsClients {
    let clients = this.cliClients.get(principal);
    if (!clients) {
      const cloud = this.world.cloud;
      clients = {
        ...cloud.clients(principal),
        sfn: fakeClient(SFNClient, cloud, 'sfn', { principal }),
        sts: fakeClient(STSClient, cloud, 'sts', { principal }),
        secretsManager: fakeClient(SecretsManagerClient, cloud, 'secretsManager', { principal }),
      };
      this.cliClients.set(principal, clients);
    }
    return clients;
  }
}
