import { posix } from "node:path";
import { CONFLICT_MARK } from "../config/names.js";
import { MAX_SEGMENT_BYTES } from "../scan/keys.js";

/** How many names a conflict copy tries before giving up: the plain one, then `-2`, `-3`... */
const CONFLICT_NAME_TRIES = 20;

function stamp(at: number): string {
  const iso = new Date(at).toISOString();
  return `${iso.slice(0, 10).replace(/-/g, "")}-${iso.slice(11, 19).replace(/:/g, "")}`;
}

/** `text` cut to at most `bytes` bytes of UTF-8, never inside a character. */
function truncateUtf8(text: string, bytes: number): string {
  if (Buffer.byteLength(text, "utf8") <= bytes) return text;
  let out = "";
  let used = 0;
  for (const char of text) {
    const size = Buffer.byteLength(char, "utf8");
    if (used + size > bytes) break;
    out += char;
    used += size;
  }
  return out;
}

/**
 * The name of a conflict copy: `<name>.fedsync-conflict-<YYYYMMDD-HHMMSS>-<machine>[-<n>]<.ext>` beside the
 * original, e.g. `docs/report.fedsync-conflict-20261125-143000-web2.txt`; `n` counts from 2 when the plain name
 * is taken. A name starting with a dot and without another one (`.htaccess`) has no extension. A name that
 * would be longer than a file name may be has its stem shortened, so the copy can always be written.
 */
export function conflictCopyKey(key: string, machine: string, at: number, n = 1): string {
  const dir = posix.dirname(key);
  const base = posix.basename(key);
  const ext = posix.extname(base);
  const stem = ext ? base.slice(0, -ext.length) : base;
  const suffix = `${CONFLICT_MARK}${stamp(at)}-${machine}${n > 1 ? `-${n}` : ""}${ext}`;
  const room = MAX_SEGMENT_BYTES - Buffer.byteLength(suffix, "utf8");
  const name = `${truncateUtf8(stem, Math.max(room, 1))}${suffix}`;
  return dir === "." ? name : `${dir}/${name}`;
}

/** The names a conflict copy may take, in order of preference. */
export function conflictCopyKeys(key: string, machine: string, at: number): string[] {
  return Array.from({ length: CONFLICT_NAME_TRIES }, (_, i) => conflictCopyKey(key, machine, at, i + 1));
}

export function isConflictCopy(key: string): boolean {
  return posix.basename(key).includes(CONFLICT_MARK);
}

const MARK = CONFLICT_MARK.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
/** A copy's name with an extension (stem, machine, extension), or without one (stem, machine). */
const COPY_NAME = new RegExp(`^(.*)${MARK}\\d{8}-\\d{6}-(.+)(\\.[^.]*)$|^(.*)${MARK}\\d{8}-\\d{6}-(.+)$`);

/**
 * The copy's own parts: the original key it was made beside and the machine whose version it holds. A counter
 * (`-2`) reads as part of the machine's name, since names like `web-01` are the common case.
 */
export function parseConflictCopy(key: string): { original: string; machine: string } | undefined {
  const match = COPY_NAME.exec(posix.basename(key));
  if (!match) return undefined;
  const dir = posix.dirname(key);
  const name = match[1] !== undefined ? `${match[1]}${match[3]}` : match[4]!;
  const machine = match[2] ?? match[5]!;
  return { original: dir === "." ? name : `${dir}/${name}`, machine };
}
