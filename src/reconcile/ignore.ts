import picomatch from "picomatch";
import { keyToRelPath } from "../scan/entry.js";

/**
 * A predicate telling whether an entry key is ignored by the set's globs: the key itself or any of its parent
 * directories matches (an ignored directory hides its whole subtree, on every side of the join).
 */
export function createIgnoreMatcher(globs: string[]): (key: string) => boolean {
  if (globs.length === 0) return () => false;
  const matches = picomatch(globs, { dot: true });
  return (key) => {
    const parts = keyToRelPath(key).split("/");
    for (let i = 1; i <= parts.length; i++) {
      if (matches(parts.slice(0, i).join("/"))) return true;
    }
    return false;
  };
}
