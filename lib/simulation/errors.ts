/** Errors the fake cloud throws, shaped like SDK v3 service exceptions (`name`, `$metadata`). */
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
  cloudFormation: { code: 'Throttling', status: 400 },
};
