/**
 * AWS errors in the operator's words. The credential, profile, region and network errors
 * are the ones the real SDK throws (a real STS call with shared config files written for
 * the test, no network reached but a closed local port); service errors are the SDK's
 * service exceptions as it deserializes them (name = the error code, the service's message).
 */
import { CloudFormationServiceException } from '@aws-sdk/client-cloudformation';
import { EC2ServiceException } from '@aws-sdk/client-ec2';
import { SSMServiceException } from '@aws-sdk/client-ssm';
import { GetCallerIdentityCommand, STSClient, STSServiceException } from '@aws-sdk/client-sts';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { deniedAction, explainAwsError } from '../../lib/cli/aws-errors';
import { explain } from '../../lib/cli/errors';
import { runHerd, testConfig, testDeps } from './support/harness';
import { SimulatedEnvironment } from './support/simulated';

const CONFIG = `[profile sso-dev]
sso_session = corp
sso_account_id = 123456789012
sso_role_name = Admin
region = eu-west-1

[sso-session corp]
sso_start_url = https://corp.awsapps.com/start
sso_region = eu-west-1
sso_registration_scopes = sso:account:access

[profile keys-no-region]
aws_access_key_id = AKIAIOSFODNN7EXAMPLE
aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY
`;

/** A home with ~/.aws/config; the variables the SDK reads set to it and `vars`. */
function awsHome(vars: Record<string, string>): NodeJS.ProcessEnv {
  const home = mkdtempSync(path.join(tmpdir(), 'herd-aws-home-'));
  mkdirSync(path.join(home, '.aws'));
  writeFileSync(path.join(home, '.aws', 'config'), CONFIG);
  return {
    HOME: home,
    AWS_CONFIG_FILE: path.join(home, '.aws', 'config'),
    AWS_SHARED_CREDENTIALS_FILE: path.join(home, '.aws', 'credentials'),
    AWS_EC2_METADATA_DISABLED: 'true',
    ...vars,
  };
}

/** What a real STS call throws with `env` as the process environment. */
async function sdkError(env: NodeJS.ProcessEnv, region: string | null = 'eu-west-1'): Promise<unknown> {
  const saved = process.env;
  process.env = env;
  try {
    await new STSClient({ ...(region ? { region } : {}), maxAttempts: 1 }).send(new GetCallerIdentityCommand({}));
  } catch (err) {
    return err;
  } finally {
    process.env = saved;
  }
  throw new Error('the call succeeded');
}

describe('credentials, profile, region: the errors the SDK throws', () => {
  test('an SSO session never started: aws sso login --profile <profile>', async () => {
    const env = awsHome({ AWS_PROFILE: 'sso-dev' });
    const err = await sdkError(env);
    expect(explainAwsError(err, { env })).toEqual({
      message: 'the AWS SSO session of profile sso-dev has expired or was never started: run `aws sso login --profile sso-dev`, then the command again',
      exitCode: 2,
    });
  });

  test('an expired SSO session: aws sso login --profile <profile>', async () => {
    const env = awsHome({ AWS_PROFILE: 'sso-dev' });
    // The SDK's token cache: ~/.aws/sso/cache/<sha1 of the session name>.json, expired an hour ago.
    const cache = path.join(env.HOME!, '.aws', 'sso', 'cache');
    mkdirSync(cache, { recursive: true });
    writeFileSync(
      path.join(cache, `${createHash('sha1').update('corp').digest('hex')}.json`),
      JSON.stringify({ accessToken: 'token', expiresAt: new Date(Date.now() - 3_600_000).toISOString(), region: 'eu-west-1', startUrl: 'https://corp.awsapps.com/start' }),
    );
    const err = await sdkError(env);
    expect(explainAwsError(err, { env })?.message).toBe(
      'the AWS SSO session of profile sso-dev has expired or was never started: run `aws sso login --profile sso-dev`, then the command again',
    );
  });

  test('an unknown profile: its name, how to list the profiles', async () => {
    const env = awsHome({ AWS_PROFILE: 'prod-typo' });
    const err = await sdkError(env);
    expect(err).toMatchObject({ name: 'CredentialsProviderError' });
    expect(explainAwsError(err, { env })).toEqual({
      message: 'unknown AWS profile "prod-typo" (AWS_PROFILE): neither ~/.aws/config nor ~/.aws/credentials defines it; list the profiles with `aws configure list-profiles` and set AWS_PROFILE to one of them (nothing was changed)',
      exitCode: 2,
    });
  });

  test('no credentials at all: set AWS_PROFILE and log in', async () => {
    const env = awsHome({});
    const err = await sdkError(env);
    expect(explainAwsError(err, { env })).toEqual({
      message: 'no AWS credentials for profile default: set AWS_PROFILE to a configured profile (`aws configure list-profiles`) and run `aws sso login --profile <profile>`, then the command again (nothing was changed)',
      exitCode: 2,
    });
  });

  test('no region: AWS_REGION or the environment\'s region in herd.config.ts', async () => {
    const env = awsHome({ AWS_PROFILE: 'keys-no-region' });
    const err = await sdkError(env, null);
    expect(explainAwsError(err, { env })).toEqual({
      message: 'no AWS region (profile keys-no-region names none): `export AWS_REGION=<region>` (e.g. eu-west-1), give the profile a region, or pin the environment\'s `region` in herd.config.ts (nothing was changed)',
      exitCode: 2,
    });
  });

  test('an unreachable endpoint: the region, the endpoint, what to check', async () => {
    const env = awsHome({ AWS_PROFILE: 'keys-no-region', AWS_REGION: 'eu-west-1', AWS_ENDPOINT_URL: 'http://127.0.0.1:9' });
    const err = await sdkError(env);
    expect(explainAwsError(err, { env })).toEqual({
      message: 'cannot reach AWS in eu-west-1 (AWS_ENDPOINT_URL=http://127.0.0.1:9): connect ECONNREFUSED 127.0.0.1:9. Check the network connection, a proxy (HTTPS_PROXY) or VPN, and that the region is right; then run the command again',
      exitCode: 1,
    });
  });

  test('a timeout is an unreachable endpoint too', () => {
    const err = Object.assign(new Error('Connection timed out after 1000 ms'), { name: 'TimeoutError' });
    expect(explainAwsError(err, { env: { AWS_REGION: 'eu-west-1' } })?.message).toMatch(/^cannot reach AWS in eu-west-1: Connection timed out after 1000 ms\. Check the network/);
  });
});

describe('service errors as the SDK deserializes them', () => {
  const meta = { $metadata: { httpStatusCode: 403 }, $fault: 'client' as const };

  test('expired keys (ExpiredTokenException): log in again', () => {
    const err = new STSServiceException({ name: 'ExpiredTokenException', message: 'The security token included in the request is expired', ...meta });
    expect(explainAwsError(err, { env: { AWS_PROFILE: 'sso-dev' } })).toEqual({
      message: 'AWS rejected the credentials of profile sso-dev as expired or invalid (ExpiredTokenException): run `aws sso login --profile sso-dev`, or renew the keys in AWS_ACCESS_KEY_ID / AWS_SESSION_TOKEN, then the command again',
      exitCode: 1,
    });
  });

  test('access denied (IAM\'s message): the action, the resource, the policy command and the README section', () => {
    const err = new SSMServiceException({
      name: 'AccessDeniedException',
      message: 'User: arn:aws:iam::123456789012:user/alice is not authorized to perform: ssm:GetParameter on resource: arn:aws:ssm:eu-west-1:123456789012:parameter/herd/shop/staging/current-release because no identity-based policy allows the ssm:GetParameter action',
      ...meta,
    });
    expect(explainAwsError(err, { env: { AWS_PROFILE: 'ops' }, environment: 'staging' })).toEqual({
      message:
        'AWS denied ssm:GetParameter on arn:aws:ssm:eu-west-1:123456789012:parameter/herd/shop/staging/current-release to your identity (AccessDeniedException, profile ops): ' +
        'the operator\'s IAM policy is missing or out of date. Print it with `npx herd iam-policy staging` and attach it to your role, group or permission set (README, "The operator\'s IAM policy"); then run the command again',
      exitCode: 1,
    });
  });

  test('EC2\'s UnauthorizedOperation names the action without a resource', () => {
    const err = new EC2ServiceException({
      name: 'UnauthorizedOperation',
      message: 'You are not authorized to perform this operation. User: arn:aws:iam::123456789012:user/alice is not authorized to perform: ec2:DescribeInstances because no identity-based policy allows the ec2:DescribeInstances action',
      ...meta,
    });
    expect(explainAwsError(err, {})?.message).toMatch(/^AWS denied ec2:DescribeInstances to your identity \(UnauthorizedOperation, profile default\): .*`npx herd iam-policy <env>`/);
  });

  test('S3\'s AccessDenied without an action still points to the policy', () => {
    const err = Object.assign(new Error('Access Denied'), { name: 'AccessDenied' });
    expect(explainAwsError(err, {})?.message).toMatch(/^AWS denied a call to your identity \(AccessDenied, profile default\)/);
  });

  test('deniedAction reads the action and resource IAM names', () => {
    expect(deniedAction('User: x is not authorized to perform: states:StartExecution on resource: arn:aws:states:eu-west-1:1:stateMachine:herd because no')).toEqual({
      action: 'states:StartExecution',
      resource: 'arn:aws:states:eu-west-1:1:stateMachine:herd',
    });
    expect(deniedAction('Access Denied')).toEqual({});
  });

  test('a stack not deployed yet (CloudFormation ValidationError): npx cdk deploy herd-<env>', () => {
    const err = new CloudFormationServiceException({ name: 'ValidationError', message: 'Stack with id herd-staging does not exist', ...meta, $metadata: { httpStatusCode: 400 } });
    expect(explainAwsError(err, { env: { AWS_REGION: 'eu-west-1' } })).toEqual({
      message: 'stack herd-staging does not exist in eu-west-1: the environment is not deployed yet (or is in another region or account); run `npx cdk deploy herd-staging`',
      exitCode: 2,
    });
  });

  test('any other error is left as it was', () => {
    const err = new SSMServiceException({ name: 'ParameterNotFound', message: 'nope', ...meta });
    expect(explainAwsError(err, {})).toBeUndefined();
    expect(explain(err)).toEqual({ message: 'ParameterNotFound: nope', exitCode: 1 });
  });
});

describe('through the CLI (simulated environment)', () => {
  test('a stack not deployed yet: the stack and `npx cdk deploy herd-<env>`, exit 2', async () => {
    const sim = new SimulatedEnvironment({ web: 2, worker: 1, serving: 'r1' });
    const deps = testDeps({ clients: () => sim.clients(), now: () => sim.world.clock.now(), sleep: () => sim.sleep() });
    // Only staging is deployed in the simulated account.
    expect(await runHerd(['status', 'production'], deps)).toEqual({
      code: 2,
      out: '',
      err: 'herd: stack herd-production does not exist: environment production is not deployed yet; run npx cdk deploy herd-production\n',
    });
    // staging's operator policy does not reach production's stack: not what this test is about.
    sim.iam.calls.splice(0);
  });

  test('another app\'s environment of the same name (herd-<env> does not name the app): refused before any change, exit 2', async () => {
    const sim = new SimulatedEnvironment({ web: 2, worker: 1, serving: 'r1' });
    const blog = { ...testConfig(), app: 'blog' };
    const deps = testDeps({ clients: () => sim.clients(), now: () => sim.world.clock.now(), sleep: () => sim.sleep(), config: blog });
    const before = JSON.stringify([...sim.world.cloud.groups.values()].map((g) => [g.name, [...g.suspended], g.ltVersion]));
    const run = await runHerd(['autoscaling', 'suspend', 'staging'], deps);
    expect(run).toEqual({
      code: 2,
      out: '',
      err: 'herd: stack herd-staging is not blog\'s staging environment (its ParameterRoot output is /herd/shop/staging, herd.config.ts expects /herd/blog/staging): ' +
        'herd names an environment\'s stack herd-<env>, so two apps cannot both have an environment "staging" in one account and region; ' +
        'give this app\'s environment another name in herd.config.ts (or deploy it to another account or region); nothing was changed\n',
    });
    expect(JSON.stringify([...sim.world.cloud.groups.values()].map((g) => [g.name, [...g.suspended], g.ltVersion]))).toBe(before);
    expect(sim.iam.calls.map((c) => `${c.call.service}:${c.call.api}`).filter((c) => !/:(Describe|Get)/.test(c))).toEqual([]);
  });
});
