/** STS in the fake cloud: GetCallerIdentity answers one fixed caller. */
import { GetCallerIdentityCommand } from '@aws-sdk/client-sts';
import type { FakeCloud } from '../simulation/fake-cloud';
import { SIMULATED_ACCOUNT } from '../simulation/world';

/** Who STS says the caller is, in every simulated run (tests' operator, the sandbox's). */
export const SIMULATED_CALLER_ARN = `arn:aws:iam::${SIMULATED_ACCOUNT}:user/alice`;

/** Registers STS on `cloud`: every caller is `callerArn`. */
export function registerSts(cloud: FakeCloud, callerArn: string = SIMULATED_CALLER_ARN): void {
  cloud.on('sts', GetCallerIdentityCommand, () => ({ UserId: 'AIDAEXAMPLEALICE0001', Account: SIMULATED_ACCOUNT, Arn: callerArn }));
}
