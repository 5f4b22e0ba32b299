/**
 * AWS errors in the operator's words: what the SDK threw (credentials, profile, region,
 * access denied, network, a stack not deployed yet) turned into one paragraph saying what
 * was wrong, the value involved (profile, region, action) and what to do. Anything else
 * is left to `explain` as it was.
 *
 * The shapes are those the SDK v3 throws: `CredentialsProviderError` /
 * `TokenProviderError` from the credential providers (an SSO token missing or expired, no
 * credentials in the chain), `Error('Region is missing')` from the region resolver, service
 * exceptions named by their code (`ExpiredToken`, `AccessDenied`, `UnauthorizedOperation`,
 * CloudFormation's `ValidationError`), Node's network errors (`code` ENOTFOUND,
 * ECONNREFUSED…) and the SDK's `TimeoutError`.
 */
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import * as path from 'node:path';
import { EXIT } from './errors';

/** Where the explanation is read: the environment variables (`process.env`), the environment named on the command line. */
export interface AwsErrorContext {
  readonly env?: NodeJS.ProcessEnv;
  /** The herd environment the command was about, for `npx herd iam-policy <env>`. */
  readonly environment?: string;
}

/** What the operator reads, and the exit code. */
export interface AwsExplanation {
  readonly message: string;
  readonly exitCode: number;
}

/** Where the operator IAM policy is described. */
export const IAM_POLICY_SECTION = 'README, "The operator\'s IAM policy"';

const EXPIRED_CODES = new Set(['ExpiredToken', 'ExpiredTokenException', 'RequestExpired', 'InvalidClientTokenId', 'UnrecognizedClientException', 'InvalidSignatureException', 'SignatureDoesNotMatch']);
const DENIED_CODES = new Set(['AccessDenied', 'AccessDeniedException', 'UnauthorizedOperation', 'UnauthorizedAccess', 'AuthorizationError', 'Forbidden']);
const NETWORK_CODES = new Set(['ENOTFOUND', 'EAI_AGAIN', 'ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EPIPE']);

/** The profile the SDK reads: `AWS_PROFILE`, else `default`. */
function profileOf(env: NodeJS.ProcessEnv): string {
  return env.AWS_PROFILE || 'default';
}

/** The profiles named in the shared config and credentials files (`[profile x]`, `[x]`). */
export function knownProfiles(env: NodeJS.ProcessEnv = process.env): Set<string> {
  const home = env.HOME || homedir();
  const files = [env.AWS_CONFIG_FILE || path.join(home, '.aws', 'config'), env.AWS_SHARED_CREDENTIALS_FILE || path.join(home, '.aws', 'credentials')];
  const profiles = new Set<string>();
  for (const file of files) {
    if (!existsSync(file)) continue;
    for (const match of readFileSync(file, 'utf8').matchAll(/^\s*\[\s*(?:profile\s+)?([^\]\s]+)\s*\]/gm)) {
      if (!match[1]!.startsWith('sso-session')) profiles.add(match[1]!);
    }
  }
  return profiles;
}

function codeOf(err: Error): string | undefined {
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' ? code : undefined;
}

/** The action (`ssm:GetParameter`) and resource an access-denied message names, when it does. */
export function deniedAction(message: string): { action?: string; resource?: string } {
  const action = /perform:?\s+([A-Za-z0-9-]+:[A-Za-z0-9*]+)/.exec(message)?.[1];
  const resource = /on resource:?\s+"?([^\s"]+?)"?(?:\s|$|\.\s|,)/.exec(message)?.[1];
  return { ...(action ? { action } : {}), ...(resource ? { resource } : {}) };
}

/** `aws sso login --profile x` (or without `--profile` for the default). */
function ssoLogin(profile: string): string {
  return profile === 'default' ? '`aws sso login`' : `\`aws sso login --profile ${profile}\``;
}

/**
 * The operator's explanation of an AWS error, or undefined when `err` is none of the
 * kinds above (the caller shows it as it is).
 */
export function explainAwsError(err: unknown, context: AwsErrorContext = {}): AwsExplanation | undefined {
  if (!(err instanceof Error)) return undefined;
  const env = context.env ?? process.env;
  const profile = profileOf(env);
  const region = env.AWS_REGION || env.AWS_DEFAULT_REGION;
  const usage = (message: string) => ({ message, exitCode: EXIT.usage });
  const failed = (message: string) => ({ message, exitCode: EXIT.failed });
  // Node's own code, or, when the SDK wrapped an error from another realm, the code in its message.
  const code = codeOf(err) ?? /\b(E[A-Z_]{4,})\b/.exec(err.message)?.[1];

  // The SSO token providers: a session never started, expired, or a profile that is not there.
  const ssoProfile = /SSO session token associated with profile=([^\s.]+)/.exec(err.message)?.[1];
  if (ssoProfile || /SSO session|SSO token|Token is expired/i.test(err.message)) {
    const p = ssoProfile ?? profile;
    return usage(`the AWS SSO session of profile ${p} has expired or was never started: run ${ssoLogin(p)}, then the command again`);
  }
  const missingProfile = /Profile '?([^'\s]+)'? could not be found/i.exec(err.message)?.[1];
  if (missingProfile) {
    return usage(`unknown AWS profile "${missingProfile}": neither ~/.aws/config nor ~/.aws/credentials defines it; list the profiles with \`aws configure list-profiles\` and set AWS_PROFILE to one of them (nothing was changed)`);
  }
  if (err.name === 'CredentialsProviderError' || err.name === 'TokenProviderError' || /Could not load credentials/i.test(err.message)) {
    const named = env.AWS_PROFILE;
    if (named && !knownProfiles(env).has(named)) {
      return usage(`unknown AWS profile "${named}" (AWS_PROFILE): neither ~/.aws/config nor ~/.aws/credentials defines it; list the profiles with \`aws configure list-profiles\` and set AWS_PROFILE to one of them (nothing was changed)`);
    }
    return usage(
      `no AWS credentials for profile ${profile}: ${named ? `run ${ssoLogin(named)} (or \`aws configure --profile ${named}\`)` : 'set AWS_PROFILE to a configured profile (`aws configure list-profiles`) and run `aws sso login --profile <profile>`'}, then the command again (nothing was changed)`,
    );
  }
  // A refused call (exit 1): the credentials may have expired halfway through a command.
  if (EXPIRED_CODES.has(err.name) || /security token included in the request is (expired|invalid)/i.test(err.message)) {
    return failed(
      `AWS rejected the credentials of profile ${profile} as expired or invalid (${err.name}): run ${ssoLogin(profile)}, or renew the keys in AWS_ACCESS_KEY_ID / AWS_SESSION_TOKEN, then the command again`,
    );
  }
  if (/Region is missing/i.test(err.message)) {
    return usage(
      `no AWS region${env.AWS_PROFILE ? ` (profile ${env.AWS_PROFILE} names none)` : ''}: \`export AWS_REGION=<region>\` (e.g. eu-west-1), give the profile a region, or pin the environment's \`region\` in herd.config.ts (nothing was changed)`,
    );
  }
  if (DENIED_CODES.has(err.name)) {
    const { action, resource } = deniedAction(err.message);
    const what = action ? `${action}${resource ? ` on ${resource}` : ''}` : 'a call';
    const target = context.environment ?? '<env>';
    return failed(
      `AWS denied ${what} to your identity (${err.name}, profile ${profile}): the operator's IAM policy is missing or out of date. Print it with \`npx herd iam-policy ${target}\` and attach it to your role, group or permission set (${IAM_POLICY_SECTION}); then run the command again`,
    );
  }
  if ((code && NETWORK_CODES.has(code)) || err.name === 'TimeoutError' || err.name === 'NetworkingError') {
    const endpoint = env.AWS_ENDPOINT_URL ? ` (AWS_ENDPOINT_URL=${env.AWS_ENDPOINT_URL})` : '';
    return failed(
      `cannot reach AWS${region ? ` in ${region}` : ''}${endpoint}: ${err.message.replace(/^AWS SDK error wrapper for (Error: )?/, '')}. Check the network connection, a proxy (HTTPS_PROXY) or VPN, and that the region is right; then run the command again`,
    );
  }
  const stack = /Stack with id (\S+) does not exist/.exec(err.message)?.[1];
  if (err.name === 'ValidationError' && stack) {
    return usage(`stack ${stack} does not exist${region ? ` in ${region}` : ''}: the environment is not deployed yet (or is in another region or account); run \`npx cdk deploy ${stack}\``);
  }
  return undefined;
}
