/**
 * Service Quotas in the fake cloud: GetServiceQuota (the applied value) and
 * GetAWSDefaultServiceQuota (the default), as strict as the API reference:
 * - `ServiceCode` matches `[a-zA-Z][a-zA-Z0-9-]{1,63}` and `QuotaCode`
 *   `[a-zA-Z][a-zA-Z0-9-]{1,128}` (`IllegalArgumentException` otherwise);
 * - an unknown service or quota is `NoSuchResourceException`;
 * - "if the applied quota value is not available for a quota, the quota is not retrieved":
 *   GetServiceQuota of a quota without an applied value is `NoSuchResourceException`, while
 *   GetAWSDefaultServiceQuota still answers its default.
 * The account knows the quotas herd's doctor reads, at their documented defaults.
 */
import * as sq from '@aws-sdk/client-service-quotas';
import type { FakeCloud } from '../fake-cloud';
import { SIMULATED_ACCOUNT, SIMULATED_REGION } from '../world';
import { fail } from './common';

/** One quota as the fake holds it. */
export interface FakeQuota {
  readonly serviceCode: string;
  readonly quotaCode: string;
  readonly name: string;
  readonly defaultValue: number;
  /** The applied value (undefined: Service Quotas has none to give). */
  applied?: number;
}

/**
 * The quotas doctor reads, by `<service>/<quota>`, at AWS's defaults (applied = default): NAT
 * gateways per Availability Zone (Amazon VPC quotas; moto's VPC defaults carry the same code).
 * doctor reads the Elastic IP and manual DB snapshot quotas from EC2 and RDS themselves.
 */
export function defaultQuotas(): Map<string, FakeQuota> {
  const quotas: FakeQuota[] = [{ serviceCode: 'vpc', quotaCode: 'L-FE5A380F', name: 'NAT gateways per Availability Zone', defaultValue: 5, applied: 5 }];
  return new Map(quotas.map((q) => [`${q.serviceCode}/${q.quotaCode}`, q]));
}

function find(cloud: FakeCloud, input: { ServiceCode?: string; QuotaCode?: string }): FakeQuota {
  const service = input.ServiceCode ?? '';
  const code = input.QuotaCode ?? '';
  if (!/^[a-zA-Z][a-zA-Z0-9-]{1,63}$/.test(service)) fail('IllegalArgumentException', `Invalid ServiceCode: ${service}`);
  if (!/^[a-zA-Z][a-zA-Z0-9-]{1,128}$/.test(code)) fail('IllegalArgumentException', `Invalid QuotaCode: ${code}`);
  const quota = cloud.serviceQuotas.get(`${service}/${code}`);
  if (!quota) fail('NoSuchResourceException', `The request failed because the specified service or quota does not exist (${service}/${code}).`);
  return quota;
}

function shape(quota: FakeQuota, value: number) {
  return {
    ServiceCode: quota.serviceCode,
    QuotaCode: quota.quotaCode,
    QuotaName: quota.name,
    QuotaArn: `arn:aws:servicequotas:${SIMULATED_REGION}:${SIMULATED_ACCOUNT}:${quota.serviceCode}/${quota.quotaCode}`,
    Value: value,
    Adjustable: true,
    GlobalQuota: false,
    Unit: 'None',
  };
}

/** Registers the Service Quotas handlers on `cloud`. */
export function registerServiceQuotas(cloud: FakeCloud): void {
  cloud.on('serviceQuotas', sq.GetServiceQuotaCommand, (input) => {
    const quota = find(cloud, input);
    if (quota.applied === undefined) fail('NoSuchResourceException', `The applied value of ${quota.serviceCode}/${quota.quotaCode} is not available.`);
    return { Quota: shape(quota, quota.applied) };
  });
  cloud.on('serviceQuotas', sq.GetAWSDefaultServiceQuotaCommand, (input) => {
    const quota = find(cloud, input);
    return { Quota: shape(quota, quota.defaultValue) };
  });
}
