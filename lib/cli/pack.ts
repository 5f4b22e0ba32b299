/**
 * What of an app directory goes into its artifact. The rules, with gitignore semantics
 * (the `ignore` package, as git and eslint read them):
 *
 * 1. Never packed unless the app's `.herdignore` re-includes them with a `!pattern`:
 *    {@link BUILT_IN_EXCLUDES} (`.git`, `.env`, `.env.*`, `*.pem`, `*.key`, `venv/`,
 *    `.venv/`, `node_modules/`, `__pycache__/`, `.herd/`…) and any directory that holds a
 *    `pyvenv.cfg` (a Python virtual environment, whatever its name).
 * 2. What the app's `.gitignore` files leave out (the root one and nested ones, each
 *    relative to its directory, the deepest deciding first).
 * 3. What `.herdignore` (at the app's root only) leaves out; it is read last, so it
 *    overrides both (`!node_modules/` packs node_modules, `!.env.example` packs that file).
 *
 * As in git, a file inside an excluded directory cannot be re-included without
 * re-including the directory. The selection is sorted by bytes, so packing is
 * deterministic and the release id is that of the packed files only.
 */
import ignore, { type Ignore } from 'ignore';
import { existsSync, lstatSync, readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';

/** Left out of every artifact unless `.herdignore` re-includes them (gitignore patterns). */
export const BUILT_IN_EXCLUDES = [
  '.git', // a directory, or a file in a worktree or submodule
  '.hg/',
  '.svn/',
  '.env',
  '.env.*',
  '*.pem',
  '*.key',
  'venv/',
  '.venv/',
  'node_modules/',
  '__pycache__/',
  '.herd/',
] as const;

/** The app's own ignore file, read after everything else. */
export const HERDIGNORE = '.herdignore';

/** A packed file and its size. */
export interface PackedFile {
  /** Relative path, `a/b`. */
  readonly path: string;
  readonly bytes: number;
  /** A regular file (hashed in the release id); otherwise a symlink (packed, not hashed). */
  readonly regular: boolean;
}

/** A directory's selection. */
export interface PackSelection {
  /** Regular files and symlinks to pack, sorted by bytes. */
  readonly files: readonly PackedFile[];
  /** Total bytes of the selected files. */
  readonly bytes: number;
  /** Whether a path (`a/b`) is packed: a selected file, or a directory holding one. */
  has(relative: string): boolean;
}

interface Scope {
  /** Directory of the `.gitignore`, `''` for the root, else `a/b/`. */
  readonly prefix: string;
  readonly rules: Ignore;
}

function readRules(file: string): string | undefined {
  return existsSync(file) ? readFileSync(file, 'utf8') : undefined;
}

/**
 * The files of `dir` to pack (see the module's comment). Directories left out are not
 * walked: a large `node_modules` costs nothing.
 */
export function selectFiles(dir: string): PackSelection {
  const herdRules = readRules(path.join(dir, HERDIGNORE)) ?? '';
  // Built-ins, then .herdignore: its `!pattern` re-includes what a built-in leaves out.
  const builtIn = ignore().add([...BUILT_IN_EXCLUDES]).add(herdRules);
  const herd = ignore().add(herdRules);
  const files: PackedFile[] = [];

  /** Whether `relative` (`a/b`, `a/b/` for a directory) is left out. */
  const excluded = (relative: string, scopes: readonly Scope[]): boolean => {
    if (builtIn.ignores(relative)) return true;
    const own = herd.test(relative);
    if (own.ignored) return true;
    if (own.unignored) return false;
    for (let i = scopes.length - 1; i >= 0; i--) {
      const scope = scopes[i]!;
      const result = scope.rules.test(relative.slice(scope.prefix.length));
      if (result.ignored) return true;
      if (result.unignored) return false;
    }
    return false;
  };

  const walk = (relative: string, scopes: readonly Scope[]): void => {
    const absolute = path.join(dir, relative);
    const gitignore = readRules(path.join(absolute, '.gitignore'));
    const here = gitignore === undefined ? scopes : [...scopes, { prefix: relative, rules: ignore().add(gitignore) }];
    for (const entry of readdirSync(absolute, { withFileTypes: true })) {
      const child = `${relative}${entry.name}`;
      if (entry.isDirectory()) {
        if (excluded(`${child}/`, here)) continue;
        // A virtual environment under any name, unless .herdignore re-includes it.
        if (existsSync(path.join(dir, child, 'pyvenv.cfg')) && !herd.test(`${child}/`).unignored) continue;
        walk(`${child}/`, here);
      } else if ((entry.isFile() || entry.isSymbolicLink()) && !excluded(child, here)) {
        files.push({ path: child, bytes: lstatSync(path.join(dir, child)).size, regular: entry.isFile() });
      }
    }
  };
  walk('', []);

  files.sort((a, b) => Buffer.compare(Buffer.from(a.path), Buffer.from(b.path)));
  const paths = new Set<string>();
  for (const f of files) {
    for (let end = f.path.indexOf('/'); end > 0; end = f.path.indexOf('/', end + 1)) paths.add(f.path.slice(0, end));
    paths.add(f.path);
  }
  return { files, bytes: files.reduce((sum, f) => sum + f.bytes, 0), has: (relative) => paths.has(relative) };
}

/** The `count` largest files and top-level directories of a selection, largest first: what to exclude. */
export function largestEntries(selection: PackSelection, count = 5): { path: string; bytes: number }[] {
  const sizes = new Map<string, number>();
  for (const file of selection.files) {
    sizes.set(file.path, file.bytes);
    const slash = file.path.indexOf('/');
    if (slash > 0) {
      const top = file.path.slice(0, slash + 1);
      sizes.set(top, (sizes.get(top) ?? 0) + file.bytes);
    }
  }
  return [...sizes.entries()]
    .map(([p, bytes]) => ({ path: p, bytes }))
    .sort((a, b) => b.bytes - a.bytes || (a.path < b.path ? -1 : 1))
    .slice(0, count);
}
