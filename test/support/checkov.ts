import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { parse } from 'yaml';

const ROOT = path.join(__dirname, '..', '..');
/** checkov's own virtual environment (scripts/setup.sh; requirements-checkov.txt). */
export const CHECKOV = path.join(ROOT, '.venv', 'checkov', 'bin', 'checkov');
/** The checked-in list of checkov checks herd's templates fail on purpose, each with its reason. */
export const CHECKOV_SKIPS_FILE = path.join(ROOT, 'security', 'checkov-skips.yaml');

/** One failed checkov check on one resource. */
export interface CheckovFailure {
  readonly checkId: string;
  readonly checkName: string;
  /** `<template file>:<Type>.<LogicalId>`, e.g. `herd-testing.template.json:AWS::S3::Bucket.ArtifactsBucket88671897`. */
  readonly resource: string;
}

/** One entry of security/checkov-skips.yaml. */
export interface CheckovSkip {
  readonly id: string;
  readonly reason: string;
  /** Globs over `CheckovFailure.resource` (`*` matches anything); the skip covers only these. */
  readonly resources: string[];
}

/**
 * Runs checkov over `templates` (CloudFormation only, failed checks only, JSON, no download
 * of Prisma Cloud guidelines: the scan needs no network) and returns every failed check.
 */
export function runCheckov(templates: string[]): CheckovFailure[] {
  if (!fs.existsSync(CHECKOV)) {
    throw new Error(`checkov not found at ${CHECKOV}: run scripts/setup.sh (the README's test command does) to create .venv/checkov`);
  }
  const run = spawnSync(CHECKOV, [
    '--framework', 'cloudformation', '--compact', '--quiet', '--skip-download', '--output', 'json',
    ...templates.flatMap((t) => ['--file', t]),
  ], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  // checkov exits 1 when a check failed, which is what this function reports; anything else is a crash.
  if (run.status !== 0 && run.status !== 1) {
    throw new Error(`checkov exited with ${run.status ?? run.signal}: ${run.stderr}`);
  }
  const parsed: unknown = JSON.parse(run.stdout);
  // One report per framework: an object for one, a list for several.
  const reports = (Array.isArray(parsed) ? parsed : [parsed]) as { results?: { failed_checks?: unknown[] } }[];
  return reports.flatMap((report) => (report.results?.failed_checks ?? []).map((f) => {
    const check = f as { check_id: string; check_name: string; file_path: string; resource: string };
    return { checkId: check.check_id, checkName: check.check_name, resource: `${path.basename(check.file_path)}:${check.resource}` };
  }));
}

/** Reads security/checkov-skips.yaml, refusing an entry without an id, a reason or resources. */
export function loadCheckovSkips(file = CHECKOV_SKIPS_FILE): CheckovSkip[] {
  const doc: unknown = parse(fs.readFileSync(file, 'utf8'));
  const skips = (doc as { skips?: unknown } | null)?.skips;
  if (!Array.isArray(skips)) throw new Error(`${file}: expected a top-level "skips:" list, got ${JSON.stringify(doc)}`);
  return skips.map((entry: unknown, i) => {
    const e = entry as Partial<Record<keyof CheckovSkip, unknown>>;
    const ok = typeof e.id === 'string' && /^CKV2?_AWS_\d+$/.test(e.id) && typeof e.reason === 'string' && e.reason.trim() !== ''
      && Array.isArray(e.resources) && e.resources.length > 0 && e.resources.every((r) => typeof r === 'string');
    if (!ok) throw new Error(`${file}: skip #${i + 1} needs an id (CKV_AWS_<n>), a reason and a list of resources, got ${JSON.stringify(entry)}`);
    return { id: e.id as string, reason: (e.reason as string).trim(), resources: e.resources as string[] };
  });
}

function globMatches(glob: string, value: string): boolean {
  const pattern = glob.split('*').map((part) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*');
  return new RegExp(`^${pattern}$`).test(value);
}

/** Whether `skip` covers `failure`. */
export function skipCovers(skip: CheckovSkip, failure: CheckovFailure): boolean {
  return skip.id === failure.checkId && skip.resources.some((r) => globMatches(r, failure.resource));
}

/** The failures no skip covers, as `<check id> <resource> (<check name>)` lines. */
export function unskipped(failures: CheckovFailure[], skips: CheckovSkip[]): string[] {
  return failures.filter((f) => !skips.some((s) => skipCovers(s, f))).map((f) => `${f.checkId} ${f.resource} (${f.checkName})`).sort();
}
