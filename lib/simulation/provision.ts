/** The simulated releases' `herd/provision` and the artifact metadata herd derives from it (lambda/deploy/base-image.ts). */
import { createHash } from 'node:crypto';
import type { ReleaseBehaviour } from './fake-cloud';

/** The `herd/provision` every simulated release has unless its behaviour says otherwise. */
export const DEFAULT_PROVISION = '#!/bin/sh\ndnf install -y -q postgresql16\n';

/** The `herd-provision` metadata of a release's artifact: the SHA-256 of its `herd/provision`. */
export function provisionHash(behaviour: ReleaseBehaviour): string {
  return createHash('sha256').update(behaviour.provision ?? DEFAULT_PROVISION).digest('hex');
}
