import ignore, { type Ignore } from "ignore";
import { TEMP_NAME_PREFIX } from "../config/names.js";

/**
 * Whether an entry key (a directory's ends in `/`) is left out of the sync, itself or through one of its
 * parent directories.
 */
export type IgnoreTest = (key: string) => boolean;

/**
 * Paths looked up before the matcher starts afresh: the `ignore` package remembers every path (and parent)
 * it was asked about, which on a large tree would grow without end.
 */
const REMEMBERED_PATHS = 10_000;

/**
 * The text with each UTF-8 byte as one character. git matches rules byte by byte, so `?` or `[...]` stands
 * for one byte of "é", not for the letter; the `ignore` package matches characters. Rules and paths are both
 * handed to it in this form, which makes its answers git's.
 */
function asBytes(text: string): string {
  // Pure ASCII, the common case, is its own byte string.
  return Buffer.byteLength(text, "utf8") === text.length
    ? text
    : Buffer.from(text, "utf8").toString("latin1");
}

function matcher(rules: readonly string[] | Ignore): Ignore {
  // git is case-sensitive on Linux (core.ignorecase is false); the package folds case by default.
  const options = { ignorecase: false, allowRelativePaths: true };
  return ignore(options).add(Array.isArray(rules) ? rules.map(asBytes) : rules);
}

/**
 * Compiles gitignore rules (gitignore(5), in order: the last rule that matches a path decides, and nothing
 * under an excluded directory can be included again). Keys are matched as paths from the set root, a
 * directory's with its trailing `/`, which is what rules ending in `/` need. fedsync's own temporary
 * names are always ignored, whatever the rules say.
 */
export function compileIgnore(rules: readonly string[]): IgnoreTest {
  const isTemp = (key: string) => key.startsWith(TEMP_NAME_PREFIX) || key.includes(`/${TEMP_NAME_PREFIX}`);
  if (rules.length === 0) return isTemp;
  const compiled = matcher(rules);
  let current = compiled;
  let asked = 0;
  return (key) => {
    if (isTemp(key)) return true;
    if (++asked > REMEMBERED_PATHS) {
      current = matcher(compiled);
      asked = 0;
    }
    return current.ignores(asBytes(key));
  };
}
