/**
 * S3 for the CLI's artifacts, registered on the fake cloud over the deploy step's own S3
 * model: HeadObject, PutObject (at most 5 GiB), multipart uploads as S3 checks them, and
 * ListObjectsV2. UploadPart numbers 1–10000, each part at most 5 GiB;
 * CompleteMultipartUpload refuses an unknown upload (NoSuchUpload), parts not in ascending
 * order (InvalidPartOrder), a part never uploaded or whose ETag differs (InvalidPart), and a
 * part other than the last under 5 MiB (EntityTooSmall); the object is the listed parts in
 * order. The bucket holds only what was put in it: the deploy step's pre-flight sees the
 * same objects as the CLI.
 */
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { createHash, randomBytes } from 'node:crypto';
import { FakeAwsError } from '../simulation/errors';
import type { FakeCloud } from '../simulation/fake-cloud';

/** What S3 enforces on uploads (S3 User Guide, "Amazon S3 multipart upload limits"). */
export const S3_LIMITS = {
  /** Largest PutObject body: 5 GiB. */
  maxPutObjectBytes: 5 * 1024 ** 3,
  /** Smallest part of a multipart upload, except the last: 5 MiB. */
  minPartBytes: 5 * 1024 ** 2,
  /** Largest part: 5 GiB. */
  maxPartBytes: 5 * 1024 ** 3,
  maxParts: 10_000,
} as const;

/** A multipart upload in progress: parts by number, as UploadPart stored them. */
export interface SimulatedMultipartUpload {
  readonly bucket: string;
  readonly key: string;
  readonly contentType?: string;
  /** User-defined metadata given at CreateMultipartUpload (the object gets it when completed). */
  readonly metadata?: Record<string, string>;
  readonly parts: Map<number, { readonly etag: string; readonly body: Buffer }>;
}

/** What the bucket holds and who watches it. */
export interface ArtifactsStore {
  /** Objects by `<bucket>/<key>`. */
  readonly objects: Map<string, Buffer>;
  /** User-defined metadata of objects uploaded with some (`x-amz-meta-*`), by `<bucket>/<key>`. */
  readonly metadata: Map<string, Record<string, string>>;
  /** Multipart uploads created and neither completed nor aborted, by upload id. */
  readonly uploads: Map<string, SimulatedMultipartUpload>;
  /** Every S3 call, in order: the command's name without `Command` and the part number, if any. */
  readonly s3Calls: string[];
  /** Called with every S3 request (its API, and an UploadPart's part number) before it is answered: throwing a `FakeAwsError` fails it. */
  onS3: ((api: string, partNumber: number | undefined) => void) | undefined;
}

const md5 = (data: Buffer) => createHash('md5').update(data).digest();

/** Registers the artifacts bucket's APIs on `cloud`, answered from `store`. */
export function registerArtifactsBucket(cloud: FakeCloud, store: ArtifactsStore): void {
  const seen = (api: string, partNumber?: number) => {
    store.s3Calls.push(`${api}${partNumber !== undefined ? ` ${partNumber}` : ''}`);
    store.onS3?.(api, partNumber);
  };
  // S3 returns user-defined metadata keys in lower case (S3 user guide, "Working with object metadata").
  const setMetadata = (name: string, metadata: Record<string, string> | undefined) => {
    if (!metadata || Object.keys(metadata).length === 0) {
      store.metadata.delete(name);
      return;
    }
    const lower = Object.fromEntries(Object.entries(metadata).map(([k, v]) => [k.toLowerCase(), v]));
    store.metadata.set(name, lower);
    const release = /([^/]+)\.tar\.gz$/.exec(name)?.[1];
    const provision = lower['herd-provision'];
    if (release && provision) cloud.artifactProvisions.set(release, provision);
  };
  const noSuchUpload = () => new FakeAwsError('NoSuchUpload', 'The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.', 404);
  cloud.on('s3', HeadObjectCommand, (input) => {
    seen('HeadObject');
    const object = store.objects.get(`${input.Bucket}/${input.Key}`);
    if (!object) throw new FakeAwsError('NotFound', 'Not Found', 404);
    const metadata = store.metadata.get(`${input.Bucket}/${input.Key}`);
    return { ContentLength: object.length, ETag: `"${md5(object).toString('hex')}"`, ...(metadata ? { Metadata: metadata } : {}) };
  });
  cloud.on('s3', PutObjectCommand, (input) => {
    seen('PutObject');
    const body = Buffer.from((input.Body ?? new Uint8Array()) as Uint8Array);
    if (body.length > S3_LIMITS.maxPutObjectBytes) throw new FakeAwsError('EntityTooLarge', 'Your proposed upload exceeds the maximum allowed object size.', 400);
    store.objects.set(`${input.Bucket}/${input.Key}`, body);
    setMetadata(`${input.Bucket}/${input.Key}`, input.Metadata);
    return { ETag: `"${md5(body).toString('hex')}"` };
  });
  cloud.on('s3', CreateMultipartUploadCommand, (input) => {
    seen('CreateMultipartUpload');
    const uploadId = randomBytes(16).toString('hex');
    store.uploads.set(uploadId, {
      bucket: input.Bucket ?? '',
      key: input.Key ?? '',
      ...(input.ContentType ? { contentType: input.ContentType } : {}),
      ...(input.Metadata ? { metadata: { ...input.Metadata } } : {}),
      parts: new Map(),
    });
    return { Bucket: input.Bucket, Key: input.Key, UploadId: uploadId };
  });
  cloud.on('s3', UploadPartCommand, (input) => {
    seen('UploadPart', input.PartNumber);
    const upload = store.uploads.get(input.UploadId ?? '');
    if (!upload || upload.bucket !== input.Bucket || upload.key !== input.Key) throw noSuchUpload();
    const n = input.PartNumber ?? 0;
    if (!Number.isInteger(n) || n < 1 || n > S3_LIMITS.maxParts) throw new FakeAwsError('InvalidArgument', 'Part number must be an integer between 1 and 10000, inclusive', 400);
    const body = Buffer.from((input.Body ?? new Uint8Array()) as Uint8Array);
    if (body.length > S3_LIMITS.maxPartBytes) throw new FakeAwsError('EntityTooLarge', 'Your proposed upload exceeds the maximum allowed object size.', 400);
    const etag = `"${md5(body).toString('hex')}"`;
    upload.parts.set(n, { etag, body });
    return { ETag: etag };
  });
  cloud.on('s3', CompleteMultipartUploadCommand, (input) => {
    seen('CompleteMultipartUpload');
    const upload = store.uploads.get(input.UploadId ?? '');
    if (!upload || upload.bucket !== input.Bucket || upload.key !== input.Key) throw noSuchUpload();
    const listed = input.MultipartUpload?.Parts ?? [];
    if (listed.length === 0) throw new FakeAwsError('MalformedXML', 'The XML you provided was not well-formed or did not validate against our published schema.', 400);
    const bodies: Buffer[] = [];
    const digests: Buffer[] = [];
    for (const [i, p] of listed.entries()) {
      if (i > 0 && (p.PartNumber ?? 0) <= (listed[i - 1]?.PartNumber ?? 0)) {
        throw new FakeAwsError('InvalidPartOrder', 'The list of parts was not in ascending order. The parts list must be specified in order by part number.', 400);
      }
      const part = upload.parts.get(p.PartNumber ?? 0);
      if (!part || part.etag !== p.ETag) {
        throw new FakeAwsError('InvalidPart', 'One or more of the specified parts could not be found. The part may not have been uploaded, or the specified entity tag may not match the part\'s entity tag.', 400);
      }
      // Checked as each next part comes: every part but the last is at least 5 MiB.
      if ((bodies[i - 1]?.length ?? S3_LIMITS.minPartBytes) < S3_LIMITS.minPartBytes) {
        throw new FakeAwsError('EntityTooSmall', 'Your proposed upload is smaller than the minimum allowed object size.', 400);
      }
      bodies.push(part.body);
      digests.push(md5(part.body));
    }
    store.objects.set(`${upload.bucket}/${upload.key}`, Buffer.concat(bodies));
    setMetadata(`${upload.bucket}/${upload.key}`, upload.metadata);
    store.uploads.delete(input.UploadId ?? '');
    return { Bucket: upload.bucket, Key: upload.key, ETag: `"${md5(Buffer.concat(digests)).toString('hex')}-${listed.length}"` };
  });
  cloud.on('s3', ListMultipartUploadsCommand, (input) => {
    seen('ListMultipartUploads');
    const uploads = [...store.uploads.entries()].filter(([, u]) => u.bucket === input.Bucket && u.key.startsWith(input.Prefix ?? ''));
    return { Bucket: input.Bucket, Uploads: uploads.map(([UploadId, u]) => ({ Key: u.key, UploadId })) };
  });
  // One page of keys under the prefix, in key order (S3 lists at most 1,000 a page).
  cloud.on('s3', ListObjectsV2Command, (input) => {
    seen('ListObjectsV2');
    const prefix = `${input.Bucket}/${input.Prefix ?? ''}`;
    const keys = [...store.objects.keys()].filter((k) => k.startsWith(prefix)).sort();
    const start = input.ContinuationToken ? Number(input.ContinuationToken) : 0;
    const page = keys.slice(start, start + Math.min(1000, input.MaxKeys ?? 1000));
    const next = start + page.length < keys.length ? String(start + page.length) : undefined;
    return {
      Name: input.Bucket,
      Prefix: input.Prefix,
      KeyCount: page.length,
      IsTruncated: next !== undefined,
      ...(next ? { NextContinuationToken: next } : {}),
      Contents: page.map((k) => ({ Key: k.slice(`${input.Bucket}/`.length), Size: store.objects.get(k)?.length ?? 0, LastModified: new Date(cloud.now()) })),
    };
  });
  cloud.on('s3', AbortMultipartUploadCommand, (input) => {
    seen('AbortMultipartUpload');
    if (!store.uploads.delete(input.UploadId ?? '')) throw noSuchUpload();
    return {};
  });
}
