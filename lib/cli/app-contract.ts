/**
 * The app contract, checked on the operator's machine before anything is uploaded: the
 * same checks, in the same order and with the same messages, as `instance/bake.sh` runs
 * on the builder (its step 1), so an artifact the builder would refuse never leaves the
 * machine. `test/cli/app-contract.test.ts` holds each message against bake.sh's text.
 */
import { lstatSync, readFileSync, type Stats } from 'node:fs';
import * as path from 'node:path';

/** The hooks bake.sh runs when present: they must be executable regular files. */
export const HOOKS = ['herd/build', 'herd/provision'] as const;

/** bake.sh's refusals, word for word (its `refuse "…"` lines). */
export const CONTRACT_MESSAGES = {
  procfileNotRegular: () => 'Procfile: must be a regular file',
  procfileMissing: () => "Procfile: not found at the artifact's root",
  malformed: (lineNo: number) => `Procfile line ${lineNo}: malformed, expected '<process>: <command>'`,
  invalidName: (lineNo: number, name: string) => `Procfile line ${lineNo}: process name '${name}' is invalid (must match [a-z][a-z0-9_-]*)`,
  reservedBoot: (lineNo: number) => `Procfile line ${lineNo}: process name 'boot' is reserved (herd-boot logs to /var/log/herd/<app>/boot.log)`,
  emptyCommand: (lineNo: number, name: string) => `Procfile line ${lineNo}: process '${name}' has an empty command`,
  definedTwice: (lineNo: number, name: string) => `Procfile line ${lineNo}: process '${name}' is defined twice`,
  noWeb: () => "Procfile: no web process (a 'web:' line is required)",
  hookNotRegular: (hook: string) => `${hook}: must be a regular file`,
  hookNotExecutable: (hook: string) => `${hook}: present but not executable (chmod +x ${hook})`,
} as const;

function lstatOrUndefined(file: string): Stats | undefined {
  try {
    return lstatSync(file);
  } catch {
    return undefined;
  }
}

/**
 * The first contract violation of the app tree `dir`, as bake.sh words it, or undefined
 * when the builder would accept it. `packed` says whether a path (relative, `a/b`) is in
 * the artifact: a Procfile or hook the ignore rules leave out is as good as absent.
 */
export function contractViolation(dir: string, packed: (relative: string) => boolean = () => true): string | undefined {
  const at = (relative: string) => (packed(relative) ? lstatOrUndefined(path.join(dir, relative)) : undefined);
  const procfile = at('Procfile');
  if (procfile && !procfile.isFile()) return CONTRACT_MESSAGES.procfileNotRegular();
  if (!procfile) return CONTRACT_MESSAGES.procfileMissing();
  const seen = new Set<string>();
  const lines = readFileSync(path.join(dir, 'Procfile'), 'utf8').split('\n');
  if (lines[lines.length - 1] === '') lines.pop(); // bash's `read` sees no line after the last newline
  for (const [index, raw] of lines.entries()) {
    const lineNo = index + 1;
    const line = raw.replace(/\r$/, '');
    if (/^\s*(#.*)?$/.test(line)) continue;
    const match = /^([^:\s]+):\s*(.*)$/.exec(line);
    if (!match) return CONTRACT_MESSAGES.malformed(lineNo);
    const name = match[1]!;
    const command = match[2]!.replace(/\s+$/, '');
    if (!/^[a-z][a-z0-9_-]*$/.test(name)) return CONTRACT_MESSAGES.invalidName(lineNo, name);
    if (name === 'boot') return CONTRACT_MESSAGES.reservedBoot(lineNo);
    if (command === '') return CONTRACT_MESSAGES.emptyCommand(lineNo, name);
    if (seen.has(name)) return CONTRACT_MESSAGES.definedTwice(lineNo, name);
    seen.add(name);
  }
  if (!seen.has('web')) return CONTRACT_MESSAGES.noWeb();
  for (const hook of HOOKS) {
    const stat = at(hook);
    if (!stat) continue;
    if (!stat.isFile()) return CONTRACT_MESSAGES.hookNotRegular(hook);
    // bake.sh tests `-x` as root: any execute bit will do.
    if ((stat.mode & 0o111) === 0) return CONTRACT_MESSAGES.hookNotExecutable(hook);
  }
  return undefined;
}
