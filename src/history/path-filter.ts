import picomatch from "picomatch";

export interface PathFilter {
  /** Every matching path starts with this (empty when the pattern has no literal start). */
  prefix: string;
  matches(path: string): boolean;
}

/**
 * `--path` of `fedsync log`: a glob over set-relative paths (picomatch syntax), or a plain
 * path, which matches itself and everything under it.
 */
export function pathFilter(pattern: string): PathFilter {
  const scan = picomatch.scan(pattern);
  if (!scan.isGlob) {
    const dir = pattern.endsWith("/") ? pattern : `${pattern}/`;
    return {
      prefix: pattern,
      matches: (path) => path === pattern || path.startsWith(dir),
    };
  }
  const matcher = picomatch(pattern, { dot: true });
  return {
    prefix: scan.negated || scan.base === "" ? "" : `${scan.base}/`,
    matches: (path) => matcher(path),
  };
}
