import * as fs from 'fs';
import * as path from 'path';
import { resolveConfig } from './validate';
import type { HerdConfig } from './types';

/** herd's own example configuration (app `mootube`), at the project root. */
export const DEFAULT_CONFIG_PATH = path.join(__dirname, '..', '..', 'herd.config.ts');

/** The names herd looks for, in this order, in each directory from the working one up. */
export const CONFIG_FILE_NAMES = ['herd.config.ts', 'herd.config.js', 'herd.config.json'] as const;

/**
 * The configuration file a command uses: `HERD_CONFIG` (relative to `cwd`) when set, else the
 * nearest `herd.config.ts` / `.js` / `.json` in `cwd` or a parent directory (as git finds its
 * repository), so `herd` run anywhere in an app's repository uses that app's configuration.
 * @throws Error saying where it looked and how to name one.
 */
export function findConfigFile(cwd: string = process.cwd(), env: NodeJS.ProcessEnv = process.env): string {
  const named = env.HERD_CONFIG;
  if (named !== undefined && named.trim() !== '') return path.resolve(cwd, named);
  for (let dir = path.resolve(cwd); ; dir = path.dirname(dir)) {
    for (const name of CONFIG_FILE_NAMES) {
      const file = path.join(dir, name);
      if (fs.existsSync(file)) return file;
    }
    if (path.dirname(dir) === dir) break;
  }
  throw new Error(
    `no herd configuration: no ${CONFIG_FILE_NAMES.join(', ')} in ${path.resolve(cwd)} or a parent directory, and HERD_CONFIG is not set. ` +
      'Run herd in your app\'s repository (where its herd.config.ts is), or set HERD_CONFIG=path/to/herd.config.ts (README: "Using herd with your own app")',
  );
}

/**
 * Loads and validates a configuration file: a `.json` file, or a `.ts`/`.js` module whose
 * default export is the settings object.
 * @throws ConfigError listing every problem; Error when the file cannot be read.
 */
export function loadConfig(file: string = DEFAULT_CONFIG_PATH): HerdConfig {
  const absolute = path.resolve(file);
  if (!fs.existsSync(absolute)) {
    throw new Error(`herd configuration file not found: ${absolute}. Pass an existing .ts, .js or .json file.`);
  }
  let settings: unknown;
  if (absolute.endsWith('.json')) {
    try {
      settings = JSON.parse(fs.readFileSync(absolute, 'utf8'));
    } catch (e) {
      throw new Error(`herd configuration ${absolute} is not valid JSON: ${(e as Error).message}`);
    }
  } else {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const mod: unknown = require(absolute);
    settings = typeof mod === 'object' && mod !== null && 'default' in mod ? (mod as { default: unknown }).default : mod;
  }
  return resolveConfig(settings);
}
