import * as fs from 'fs';
import * as path from 'path';
import { resolveConfig } from './validate';
import type { HerdConfig } from './types';

/** The configuration used when none is named: `herd.config.ts` at the project root. */
export const DEFAULT_CONFIG_PATH = path.join(__dirname, '..', '..', 'herd.config.ts');

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
