/**
 * herd's templates for a configuration, synthesized once per source tree: the first test
 * process that needs them synthesizes (a few seconds) and stores them under
 * `node_modules/.cache/herd-iam/`, keyed by the configuration and a hash of every source file
 * that shapes a template; other processes and later runs read them back.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { HerdSettings } from '../../../lib/config/types';
import { buildApp } from '../app';
import type { TemplateJson } from './template-policies';

const ROOT = join(__dirname, '..', '..', '..');
const CACHE = join(ROOT, 'node_modules', '.cache', 'herd-iam');

export interface EnvironmentTemplates {
  /** `herd-<env>`. */
  readonly environment: TemplateJson;
  /** `herd-<env>-release-state`. */
  readonly releaseState: TemplateJson;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).sort().flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? sourceFiles(path) : [path];
  });
}

let sourceHash: string | undefined;
/**
 * Hash of what a synthesized template depends on: lib/, lambda/, instance/, the lockfile and
 * ../app.ts (buildApp: the app's context and options).
 */
function sourcesHash(): string {
  if (sourceHash) return sourceHash;
  const hash = createHash('sha256');
  const files = [...['lib', 'lambda', 'instance'].flatMap((d) => sourceFiles(join(ROOT, d))), join(ROOT, 'package-lock.json'), join(ROOT, 'test', 'support', 'app.ts')];
  for (const file of files) {
    hash.update(file.slice(ROOT.length)).update(readFileSync(file));
  }
  sourceHash = hash.digest('hex');
  return sourceHash;
}

const memory = new Map<string, Record<string, EnvironmentTemplates>>();

/** Every environment's templates for `settings`. */
export function synthesizedTemplates(settings: HerdSettings): Record<string, EnvironmentTemplates> {
  const key = createHash('sha256').update(sourcesHash()).update(JSON.stringify(settings)).digest('hex').slice(0, 32);
  const cached = memory.get(key);
  if (cached) return cached;
  const file = join(CACHE, `${key}.json`);
  if (existsSync(file)) {
    const read = JSON.parse(readFileSync(file, 'utf8')) as Record<string, EnvironmentTemplates>;
    memory.set(key, read);
    return read;
  }
  const app = buildApp(settings);
  const out: Record<string, EnvironmentTemplates> = {};
  for (const env of Object.keys(app.stacks)) {
    out[env] = { environment: app.template(env).toJSON() as TemplateJson, releaseState: app.releaseStateTemplate(env).toJSON() as TemplateJson };
  }
  mkdirSync(CACHE, { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(out));
  renameSync(tmp, file);
  memory.set(key, out);
  return out;
}
