/**
 * The `aws` CLI calls the instance scripts make (as the instance tests' stub records their
 * arguments) as API calls, for IAM evaluation against the instance roles. A command without a
 * mapping fails: a new call in the scripts needs one here first.
 */
import type { ApiCall } from '../../../lib/simulation/iam/requests';

/** The value after `flag` in `argv`. */
function option(argv: readonly string[], flag: string): string | undefined {
  const i = argv.indexOf(flag);
  return i >= 0 ? argv[i + 1] : undefined;
}

/** One recorded `aws …` command line as the API call it makes, by `principal`. */
export function awsCliCall(principal: string, argv: readonly string[]): ApiCall {
  const [service, command, ...rest] = argv;
  switch (`${service} ${command}`) {
    case 's3 cp': {
      const [from, to] = rest;
      const source = /^s3:\/\/([^/]+)\/(.+)$/.exec(from ?? '');
      if (!source || to?.startsWith('s3://')) throw new Error(`aws s3 cp: only downloads are mapped (${argv.join(' ')})`);
      // `aws s3 cp` of one object: HeadObject then GetObject, both authorized as s3:GetObject.
      return { principal, service: 's3', api: 'GetObject', input: { Bucket: source[1], Key: source[2] } };
    }
    case 'ssm get-parameters-by-path':
      return { principal, service: 'ssm', api: 'GetParametersByPath', input: { Path: option(argv, '--path'), Recursive: argv.includes('--recursive') } };
    case 'ssm put-parameter':
      return { principal, service: 'ssm', api: 'PutParameter', input: { Name: option(argv, '--name'), Type: option(argv, '--type'), Overwrite: argv.includes('--overwrite') } };
    case 'secretsmanager get-secret-value':
      return { principal, service: 'secretsManager', api: 'GetSecretValue', input: { SecretId: option(argv, '--secret-id') } };
    default:
      throw new Error(`no API mapping for aws ${service} ${command} (test/support/iam/aws-cli.ts)`);
  }
}
