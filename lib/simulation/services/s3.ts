/**
 * S3 in the fake cloud, as the deploy step uses it: HeadObject of a release's artifact in
 * the artifacts bucket (the pre-flight). Every artifact is there unless the world lists it in
 * `missingArtifacts`, with its `herd-provision` metadata (`provisionHash`) unless its behaviour
 * says it was uploaded without; a missing one answers 404 NotFound, as S3 does to a caller allowed
 * s3:ListBucket (without it S3 answers 403, which the stack's grant avoids).
 */
import * as s3 from '@aws-sdk/client-s3';
import type { FakeCloud } from '../fake-cloud';
import { provisionHash } from '../provision';
import { fail } from './common';

export function registerS3(cloud: FakeCloud): void {
  cloud.on('s3', s3.HeadObjectCommand, (input) => {
    if (!input.Bucket || !input.Key) fail('InvalidRequest', 'HeadObject needs a Bucket and a Key');
    if (cloud.missingArtifacts.has(input.Key)) fail('NotFound', 'Not Found', 404);
    // herd uploads an artifact with its herd/provision's SHA-256 as user-defined metadata (keys come back in lower case).
    const release = /([^/]+)\.tar\.gz$/.exec(input.Key)?.[1];
    const behaviour = cloud.behaviour(release);
    return {
      ContentLength: 1024,
      ContentType: 'application/gzip',
      ...(behaviour.noProvisionMetadata ? {} : { Metadata: { 'herd-provision': provisionHash(behaviour) } }),
    };
  });
}
