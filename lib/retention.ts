import * as logs from 'aws-cdk-lib/aws-logs';

/** Closest CloudWatch Logs retention at or above `days`. */
export function retentionOf(days: number): logs.RetentionDays {
  const allowed = Object.values(logs.RetentionDays).filter((v): v is logs.RetentionDays => typeof v === 'number' && v > 0).sort((a, b) => a - b);
  return allowed.find((d) => d >= days) ?? logs.RetentionDays.INFINITE;
}
