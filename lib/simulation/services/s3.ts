/**
 * S3 in the fake cloud, as the deploy step uses it: HeadObject of a release's artifact in
 * the artifacts bucket (the pre-flight). Every artifact is there unless the world lists it in
 * `missingArtifacts`; a missing one answers 404 NotFound, as S3 does to a caller allowed
 * s3:ListBucket (without it S3 answers 403, which the stack's grant avoids).
 */
import * as s3 from '@aws-sdk/client-s3';
import type { FakeCloud } from '../fake-cloud';
import { fail } from './common';

export function registerS3(cloud: FakeCloud): void {
  cloud.on('s3', s3.HeadObjectCommand, (input) => {
    if (!input.Bucket || !input.Key) fail('InvalidRequest', 'HeadObject needs a Bucket and a Key');
    if (cloud.missingArtifacts.has(input.Key)) fail('NotFound', 'Not Found', 404);
    return { ContentLength: 1024, ContentType: 'application/gzip' };
  });
}
