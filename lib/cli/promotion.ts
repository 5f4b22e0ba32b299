/**
 * Whether two environments can share a release image (`herd promote`). An image is found by
 * the deploy step in its own account and region (`DescribeImages`, owner self, tags
 * `herd:app` + `herd:release`, `lambda/deploy/bake.ts`) and boots only on instances of its
 * CPU architecture: environments of one app, one account and one region whose fleets share
 * an architecture share images. A region or account left unpinned in the configuration is the
 * operator's default, which cannot be told apart here: only pinned values that differ refuse
 * (an image then not found in the target is refused when it is looked up).
 */
import { architectureOf } from '../architecture';
import type { EnvironmentConfig } from '../config/types';

/** Why `from`'s image cannot serve `to` (empty when it can). */
export function imageSharingProblems(from: EnvironmentConfig, to: EnvironmentConfig): string[] {
  const problems: string[] = [];
  if (from.account !== undefined && to.account !== undefined && from.account !== to.account) {
    problems.push(`${from.name} is in account ${from.account} and ${to.name} in account ${to.account}`);
  }
  if (from.region !== undefined && to.region !== undefined && from.region !== to.region) {
    problems.push(`${from.name} is in region ${from.region} and ${to.name} in region ${to.region}`);
  }
  const [a, b] = [architectureOf(from.web.instanceType), architectureOf(to.web.instanceType)];
  if (a !== b) problems.push(`${from.name}'s fleets are ${a} (${from.web.instanceType}) and ${to.name}'s ${b} (${to.web.instanceType})`);
  return problems;
}

/** The refusal of a promotion between environments that cannot share an image, and what to do instead. */
export function cannotShareMessage(from: string, to: string, problems: readonly string[]): string {
  return (
    `cannot promote ${from} to ${to}: ${problems.join('; ')}; an image serves only environments of one app in one account and region with one CPU architecture: ` +
    `deploy the release on ${to} from its app directory or .tar.gz instead (\`herd deploy ${to} <path> --label <label>\`), which bakes an image there`
  );
}
