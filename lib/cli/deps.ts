/**
 * What every `herd` command receives: AWS clients for a region, where to write, whether
 * the output is a terminal, the clock, a sleep, the configuration and the operator's
 * name. `defaultDeps()` wires the real ones; tests inject moto-backed or simulated ones,
 * a collecting writer and a sleep that does not wait.
 */
import { S3Client } from '@aws-sdk/client-s3';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SFNClient } from '@aws-sdk/client-sfn';
import { userInfo } from 'node:os';
import { createDeployClients, type DeployClients } from '../../lambda/deploy/clients';
import { loadConfig } from '../config/load';
import type { HerdConfig } from '../config/types';

/** The clients the CLI uses: the deploy step's (CloudFormation among them), plus Step Functions, S3, Secrets Manager. */
export interface AwsClients extends DeployClients {
  readonly sfn: Pick<SFNClient, 'send'>;
  readonly s3: Pick<S3Client, 'send'>;
  readonly secretsManager: Pick<SecretsManagerClient, 'send'>;
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
   * SSO, environment variables, instance roles) and adaptive retries.
   */
  clients(region: string | undefined): AwsClients;
  readonly out: Writer;
  readonly err: Writer;
  /** Whether `out` is a terminal (spinner, in-place redraw) or a pipe/file (plain lines). */
  readonly isTTY: boolean;
  /** Milliseconds since the epoch. */
  now(): number;
  /** Waits between polls; tests make it instant (or advance a simulation). */
  sleep(ms: number): Promise<void>;
  /** The validated configuration (`herd.config.ts` unless `HERD_CONFIG` names another file). */
  config(): HerdConfig;
  /** Who runs the command, recorded as a deploy's actor: `$HERD_ACTOR`, else the OS user. */
  actor(): string;
  /** Calls `handler` on Ctrl-C (SIGINT) until unsubscribed. */
  onInterrupt(handler: () => void): Unsubscribe;
}

/** Client settings shared by every real client: adaptive retries absorb throttling. */
export const CLIENT_RETRY = { retryMode: 'adaptive', maxAttempts: 6 } as const;

/** Real SDK v3 clients, one set per region. */
export function realClients(region: string | undefined): AwsClients {
  const config = { ...CLIENT_RETRY, ...(region ? { region } : {}) };
  return {
    sfn: new SFNClient(config),
    s3: new S3Client(config),
    secretsManager: new SecretsManagerClient(config),
    ...createDeployClients(config),
  };
}

/** The operator's name: `$HERD_ACTOR`, else the OS user. */
export function actorFrom(env: NodeJS.ProcessEnv): string {
  const fromEnv = env.HERD_ACTOR?.trim();
  if (fromEnv) return fromEnv;
  try {
    return userInfo().username || 'unknown';
  } catch {
    return env.USER ?? 'unknown';
  }
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
      config ??= process.env.HERD_CONFIG ? loadConfig(process.env.HERD_CONFIG) : loadConfig();
      return config;
    },
    actor: () => actorFrom(process.env),
    onInterrupt(handler) {
      process.on('SIGINT', handler);
      return () => {
        process.off('SIGINT', handler);
      };
    },
  };
}
