import picomatch from "picomatch";
import { isDirKey, keyToRelPath } from "./entry.js";
import { TEMP_NAME_PREFIX } from "./keys.js";

/** Whether one path (relative, no trailing slash) is ignored; its ancestors are not consulted. */
export type IgnoreTest = (relPath: string, isDir: boolean) => boolean;

/**
 * Compiles a set's ignore globs (picomatch, dotfiles matched), gitignore-like: a glob without `/` matches
 * a name at any depth (`*.swp`), a glob with `/` matches the whole relative path (`cache/**`), a leading
 * `/` anchors a name at the root (`/build`), and a trailing `/` matches directories only (`tmp/`).
 * The agent's own temporary names are always ignored.
 */
export function compileIgnore(globs: readonly string[]): IgnoreTest {
  const byName: string[] = [];
  const byPath: string[] = [];
  const dirByName: string[] = [];
  const dirByPath: string[] = [];
  for (const glob of globs) {
    const dirOnly = glob.endsWith("/");
    let pattern = dirOnly ? glob.slice(0, -1) : glob;
    const anchored = pattern.includes("/");
    if (pattern.startsWith("/")) pattern = pattern.slice(1);
    if (pattern === "") continue;
    (dirOnly ? (anchored ? dirByPath : dirByName) : anchored ? byPath : byName).push(pattern);
  }
  const compile = (patterns: string[]) =>
    patterns.length > 0 ? picomatch(patterns, { dot: true }) : () => false;
  const [name, path, dirName, dirPath] = [byName, byPath, dirByName, dirByPath].map(compile) as [
    picomatch.Matcher,
    picomatch.Matcher,
    picomatch.Matcher,
    picomatch.Matcher,
  ];
  return (relPath, isDir) => {
    const base = relPath.slice(relPath.lastIndexOf("/") + 1);
    if (base.startsWith(TEMP_NAME_PREFIX) || name(base) || path(relPath)) return true;
    return isDir && (dirName(base) || dirPath(relPath));
  };
}

/** Whether an entry key is ignored, itself or through one of its parent directories. */
export function isIgnoredKey(test: IgnoreTest, key: string): boolean {
  const relPath = keyToRelPath(key);
  for (let slash = relPath.indexOf("/"); slash !== -1; slash = relPath.indexOf("/", slash + 1)) {
    if (test(relPath.slice(0, slash), true)) return true;
  }
  return test(relPath, isDirKey(key));
}
