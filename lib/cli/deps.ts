/**
 * What every `herd` command receives: AWS clients for a region, where to write, whether
 * the output is a terminal, the clock, a sleep, the configuration and who the caller is
 * (their AWS identity). `defaultDeps()` wires the real ones; tests inject moto-backed or
 * simulated ones, a collecting writer and a sleep that does not wait.
 */
import { IAMClient } from '@aws-sdk/client-iam';
import { KMSClient } from '@aws-sdk/client-kms';
import { S3Client } from '@aws-sdk/client-s3';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { ServiceQuotasClient } from '@aws-sdk/client-service-quotas';
import { SFNClient } from '@aws-sdk/client-sfn';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { createInterface } from 'node:readline';
import { createDeployClients, type DeployClients } from '../../lambda/deploy/clients';
import { findConfigFile, loadConfig } from '../config/load';
import type { HerdConfig } from '../config/types';

/** The clients the CLI uses: the deploy step's (CloudFormation among them), plus Step Functions, S3, Secrets Manager, STS, and IAM, KMS and Service Quotas (doctor's account checks). */
export interface AwsClients extends DeployClients {
  readonly sfn: Pick<SFNClient, 'send'>;
  readonly s3: Pick<S3Client, 'send'>;
  readonly secretsManager: Pick<SecretsManagerClient, 'send'>;
  /** Who the caller is (GetCallerIdentity, which needs no permission): the actor of every mutating verb. */
  readonly sts: Pick<STSClient, 'send'>;
  /** doctor: Auto Scaling's service-linked role (GetRole). */
  readonly iam: Pick<IAMClient, 'send'>;
  /** doctor: the EBS default key's policy (GetKeyPolicy). */
  readonly kms: Pick<KMSClient, 'send'>;
  /** doctor: applied quotas (GetServiceQuota, GetAWSDefaultServiceQuota). */
  readonly serviceQuotas: Pick<ServiceQuotasClient, 'send'>;
}

/** Where the CLI writes: a stream (`process.stdout`) or a test's collector. */
export interface Writer {
  write(text: string): unknown;
  /** True on a terminal: spinners and in-place redraws; false when piped (plain lines). */
  readonly isTTY?: boolean;
}

/** Undoes a registration. */
export type Unsubscribe = () => void;

export interface CliDeps {
  /**
   * Clients for `region` (the environment's pinned region), or the operator's default
   * region when undefined. Real clients use the usual credentials chain (`AWS_PROFILE`,
   * SSO, environment variables, instance roles) and adaptive retries. `environment` names
   * the configured environment the clients are for: the sandbox (`herd --sandbox`) routes
   * them to its simulation of it; real clients ignore it.
   */
  clients(region: string | undefined, environment?: string): AwsClients;
  readonly out: Writer;
  readonly err: Writer;
  /** Whether `out` is a terminal (spinner, in-place redraw) or a pipe/file (plain lines). */
  readonly isTTY: boolean;
  /** Milliseconds since the epoch. */
  now(): number;
  /** Waits between polls; tests make it instant (or advance a simulation). */
  sleep(ms: number): Promise<void>;
  /** The validated configuration: `HERD_CONFIG`, else the nearest `herd.config.ts` (`findConfigFile`). */
  config(): HerdConfig;
  /**
   * Who runs the command, recorded as the actor of a deploy or an operator action: the
   * caller's AWS identity from STS through `clients` (`callerActor`), asked once per process.
   * Never a name the caller declares: `$HERD_ACTOR` can only add a label to it.
   */
  actor(clients: Pick<AwsClients, 'sts'>): Promise<string>;
  /** Calls `handler` on Ctrl-C (SIGINT) until unsubscribed. */
  onInterrupt(handler: () => void): Unsubscribe;
  /**
   * Asks the operator a yes/no question on the terminal (`herd run`'s Ctrl-C: terminate or
   * detach?); resolves true only for an explicit yes. Absent, or without a terminal: no one
   * can answer, and the caller takes its documented default.
   */
  confirm?(question: string): Promise<boolean>;
  /**
   * Everything on standard input, to its end (`herd config set --secret KEY` reads the value
   * there, so it stays out of the shell's history). Absent: the command has no input.
   */
  readStdin?(): Promise<string>;
  /** The sandbox the command runs in (`herd --sandbox`); absent against AWS. */
  readonly sandbox?: SandboxControl;
}

/** What `herd sandbox …` does to the sandbox (`lib/sandbox/`). */
export interface SandboxControl {
  /** The directory holding its state, as the operator should read it (relative to the working directory when inside it). */
  readonly dir: string;
  /** Deletes the state: the next command starts from freshly deployed environments. */
  reset(): void;
  /** Arms fault `kind` for the next deploy started on `env`; throws naming the kinds if unknown. */
  armFault(kind: string, env: string): void;
  /** Disarms the faults of `env` (every environment when undefined) and lifts those still in effect. */
  clearFaults(env: string | undefined): void;
  /** Faults armed, and those in effect, per environment. */
  faults(): readonly { readonly env: string; readonly kind: string; readonly state: 'armed' | 'in effect'; readonly deployId?: string }[];
  /** Every fault kind with what it does. */
  readonly faultKinds: Readonly<Record<string, string>>;
}

/** Client settings shared by every real client: adaptive retries absorb throttling. */
export const CLIENT_RETRY = { retryMode: 'adaptive', maxAttempts: 6 } as const;

/** Real SDK v3 clients, one set per region. */
export function realClients(region: string | undefined): AwsClients {
  const config = { ...CLIENT_RETRY, ...(region ? { region } : {}) };
  return {
    sfn: new SFNClient(config),
    secretsManager: new SecretsManagerClient(config),
    sts: new STSClient(config),
    iam: new IAMClient(config),
    kms: new KMSClient(config),
    serviceQuotas: new ServiceQuotasClient(config),
    ...createDeployClients(config),
  };
}

/** Longest actor the deploy step accepts (`parseDeployInput`). */
export const MAX_ACTOR_CHARS = 200;
/** Longest `$HERD_ACTOR` label kept. */
export const MAX_ACTOR_LABEL_CHARS = 60;

/**
 * The readable part of an identity ARN: an IAM user's name (`alice`), an assumed role's
 * `role/session` (`deployer/ci-1234`, or `AWSReservedSSO_Admin_0123/alice@example.com`),
 * a federated user's name, `root`. Any other ARN is shown whole.
 */
export function shortIdentity(arn: string): string {
  const m = /^arn:aws[a-z-]*:(iam|sts)::\d{12}:(.+)$/.exec(arn);
  const resource = m?.[2];
  if (!resource) return arn;
  if (resource === 'root') return 'root';
  const [kind, ...rest] = resource.split('/');
  if (kind === 'assumed-role' && rest.length >= 2) return `${rest[0]}/${rest.slice(1).join('/')}`;
  // An IAM user may have a path (`user/team/alice`): its name is the last part.
  if ((kind === 'user' || kind === 'federated-user') && rest.length >= 1) return rest[rest.length - 1] ?? resource;
  return resource;
}

/**
 * The actor of an identity: `alice (arn:aws:iam::123456789012:user/alice)`, then the
 * `$HERD_ACTOR` label in brackets if one is set (`[release-pipeline #42]`: a CI job's name;
 * the caller declares it, so it only adds to the identity). At most `MAX_ACTOR_CHARS`: when
 * both forms do not fit, the ARN alone (an ARN of an assumed role is at most ~180
 * characters), and a label only if it still fits.
 */
export function actorOf(arn: string, label?: string): string {
  const short = shortIdentity(arn);
  const identity = short === arn ? arn : `${short} (${arn})`;
  const base = identity.length <= MAX_ACTOR_CHARS ? identity : arn.slice(0, MAX_ACTOR_CHARS);
  const cleaned = label?.replace(/[\x00-\x1f\x7f]/g, ' ').trim().slice(0, MAX_ACTOR_LABEL_CHARS);
  if (!cleaned) return base;
  const labelled = `${base} [${cleaned}]`;
  return labelled.length <= MAX_ACTOR_CHARS ? labelled : base;
}

/** The caller's actor: GetCallerIdentity through `clients`, rendered by `actorOf` with `$HERD_ACTOR` as its label. */
export async function callerActor(clients: Pick<AwsClients, 'sts'>, label?: string): Promise<string> {
  const identity = await clients.sts.send(new GetCallerIdentityCommand({}));
  if (!identity.Arn) throw new Error(`STS GetCallerIdentity answered without an ARN (account ${identity.Account ?? 'unknown'}); herd cannot tell who you are`);
  return actorOf(identity.Arn, label);
}

/**
 * `callerActor`, asked once: the first call's answer (or its pending request) serves every
 * later one; a failed request is forgotten, so a later call asks again.
 */
export function cachedActor(label?: string): (clients: Pick<AwsClients, 'sts'>) => Promise<string> {
  let pending: Promise<string> | undefined;
  return (clients) => {
    pending ??= callerActor(clients, label).catch((err: unknown) => {
      pending = undefined;
      throw err;
    });
    return pending;
  };
}

/** The real dependencies of `bin/herd.ts`. */
export function defaultDeps(): CliDeps {
  const cache = new Map<string, AwsClients>();
  let config: HerdConfig | undefined;
  return {
    clients(region) {
      const key = region ?? '';
      let c = cache.get(key);
      if (!c) {
        c = realClients(region);
        cache.set(key, c);
      }
      return c;
    },
    out: process.stdout,
    err: process.stderr,
    isTTY: process.stdout.isTTY === true,
    now: () => Date.now(),
    sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
    config() {
      config ??= loadConfig(findConfigFile());
      return config;
    },
    actor: cachedActor(process.env.HERD_ACTOR),
    onInterrupt(handler) {
      process.on('SIGINT', handler);
      return () => {
        process.off('SIGINT', handler);
      };
    },
    async readStdin() {
      const chunks: Buffer[] = [];
      for await (const chunk of process.stdin) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk)));
      return Buffer.concat(chunks).toString('utf8');
    },
    ...(process.stdin.isTTY ? { confirm: askOnTerminal } : {}),
  };
}

/** `question [y/N] ` on stderr, one line read from stdin: true for y or yes; Ctrl-C at the prompt keeps the default (no). */
function askOnTerminal(question: string): Promise<boolean> {
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  return new Promise((resolve) => {
    const answer = (yes: boolean) => {
      rl.close();
      resolve(yes);
    };
    rl.on('SIGINT', () => {
      process.stderr.write('\n');
      answer(false);
    });
    rl.question(`${question} [y/N] `, (text) => answer(/^\s*y(es)?\s*$/i.test(text)));
  });
}
