/**
 * An error an API of the fake cloud answers: its code (`name`), message and HTTP status. The
 * transport (`transport.ts`) sends it as the service's error response, from which the SDK
 * builds its own exception (a modeled class such as `ThrottlingException` when the service's
 * model has one); code under test never sees this class.
 */
export class FakeAwsError extends Error {
  readonly $metadata: { httpStatusCode: number };
  readonly $fault: 'client' | 'server';

  constructor(code: string, message: string, status = 400) {
    super(message);
    this.name = code;
    this.$metadata = { httpStatusCode: status };
    this.$fault = status >= 500 ? 'server' : 'client';
  }
}

/** The throttling error each service answers with. */
export const THROTTLE_CODES: Record<string, { code: string; status: number }> = {
  ec2: { code: 'RequestLimitExceeded', status: 503 },
  autoScaling: { code: 'Throttling', status: 400 },
  elbv2: { code: 'Throttling', status: 400 },
  ssm: { code: 'ThrottlingException', status: 400 },
  dynamodb: { code: 'ThrottlingException', status: 400 },
  rds: { code: 'Throttling', status: 400 },
  elastiCache: { code: 'Throttling', status: 400 },
  cloudFormation: { code: 'Throttling', status: 400 },
  cloudWatch: { code: 'Throttling', status: 400 },
  sns: { code: 'Throttling', status: 400 },
  eventBridge: { code: 'ThrottlingException', status: 400 },
  logs: { code: 'ThrottlingException', status: 400 },
  // S3 slows callers down with a 503 (and a HEAD answer has no body, so no code at all).
  s3: { code: 'SlowDown', status: 503 },
  sfn: { code: 'ThrottlingException', status: 400 },
  sts: { code: 'Throttling', status: 400 },
  secretsManager: { code: 'ThrottlingException', status: 400 },
  // Lambda's Invoke answers 429 when the function's or the account's concurrency is exhausted.
  lambda: { code: 'TooManyRequestsException', status: 429 },
};
