/** Baked release images (tagged `herd:app` + `herd:release`), base images (`herd:role=base`) and the release parameters. */
import { DescribeImagesCommand, type Image } from '@aws-sdk/client-ec2';
import { GetParameterCommand } from '@aws-sdk/client-ssm';
import { TAGS, parameterNames } from '../names';
import type { AwsClients } from './deps';

export function tagOf(image: Pick<Image, 'Tags'>, key: string): string | undefined {
  return image.Tags?.find((t) => t.Key === key)?.Value;
}

const isBase = (image: Pick<Image, 'Tags'>) => tagOf(image, TAGS.role) === 'base';

/** Available images of `app` (all of them, or the bases only), newest first. */
async function appImages(clients: Pick<AwsClients, 'ec2'>, app: string, filters: { Name: string; Values: string[] }[]): Promise<Image[]> {
  const res = await clients.ec2.send(
    new DescribeImagesCommand({ Owners: ['self'], Filters: [{ Name: `tag:${TAGS.app}`, Values: [app] }, ...filters, { Name: 'state', Values: ['available'] }] }),
  );
  return [...(res.Images ?? [])].sort((a, b) => (b.CreationDate ?? '').localeCompare(a.CreationDate ?? ''));
}

/** Available release images of `app` (optionally of one release), newest first; base images (layered bake) are not releases. */
export async function releaseImages(clients: Pick<AwsClients, 'ec2'>, app: string, release?: string): Promise<Image[]> {
  return (await appImages(clients, app, release ? [{ Name: `tag:${TAGS.release}`, Values: [release] }] : [])).filter((i) => !isBase(i));
}

/** Available base images of `app` (layered bake, lambda/deploy/base-image.ts), newest first. */
export async function baseImages(clients: Pick<AwsClients, 'ec2'>, app: string): Promise<Image[]> {
  return appImages(clients, app, [{ Name: `tag:${TAGS.role}`, Values: ['base'] }]);
}

/** A parameter's value, or undefined when it does not exist. */
export async function readParameter(clients: Pick<AwsClients, 'ssm'>, name: string): Promise<string | undefined> {
  try {
    const res = await clients.ssm.send(new GetParameterCommand({ Name: name }));
    return res.Parameter?.Value;
  } catch (err) {
    if (err instanceof Error && err.name === 'ParameterNotFound') return undefined;
    throw err;
  }
}

/** The release serving `env` (`none` before the first release; undefined when the parameter is missing). */
export async function currentRelease(clients: Pick<AwsClients, 'ssm'>, app: string, env: string): Promise<string | undefined> {
  return readParameter(clients, parameterNames(app, env).currentRelease);
}

