import { posix } from "node:path";

function stamp(at: number): string {
  const iso = new Date(at).toISOString();
  return `${iso.slice(0, 10).replace(/-/g, "")}-${iso.slice(11, 19).replace(/:/g, "")}`;
}

/**
 * The name of a conflict copy: `<name>.fedsync-conflict-<YYYYMMDD-HHMMSS>-<machine><.ext>` beside the
 * original, e.g. `docs/report.fedsync-conflict-20261125-143000-web2.txt`. A name starting with a dot and
 * without another one (`.htaccess`) has no extension.
 */
export function conflictCopyKey(key: string, machine: string, at: number): string {
  const dir = posix.dirname(key);
  const base = posix.basename(key);
  const ext = posix.extname(base);
  const stem = ext ? base.slice(0, -ext.length) : base;
  const name = `${stem}.fedsync-conflict-${stamp(at)}-${machine}${ext}`;
  return dir === "." ? name : `${dir}/${name}`;
}

export function isConflictCopy(key: string): boolean {
  return posix.basename(key).includes(".fedsync-conflict-");
}
