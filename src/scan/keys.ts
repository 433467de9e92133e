import { RESERVED_PREFIX, TEMP_NAME_PREFIX } from "../config/names.js";
export const MAX_SEGMENT_BYTES = 255;
export const MAX_PATH_BYTES = 4096;
/** S3's limit on an object key (the set's prefix and the entry key together), in UTF-8 bytes. */
export const MAX_OBJECT_KEY_BYTES = 1024;

const LONE_SURROGATE = /\p{Cs}/u;

/**
 * Why an entry key cannot be a path inside a set root, or null when it can. A trailing `/` (a directory)
 * is allowed once; everything else must be a plain relative path of ordinary names.
 */
export function validateEntryKey(key: string): string | null {
  if (key === "") return "empty path";
  if (key.startsWith("/")) return "absolute path";
  if (key.includes("\0")) return "contains a NUL byte";
  if (LONE_SURROGATE.test(key)) return "not valid Unicode";
  if (Buffer.byteLength(key, "utf8") > MAX_PATH_BYTES) return `longer than ${MAX_PATH_BYTES} bytes`;
  if (key.startsWith(RESERVED_PREFIX)) return `inside the reserved ${RESERVED_PREFIX} area`;
  const relPath = key.endsWith("/") ? key.slice(0, -1) : key;
  for (const segment of relPath.split("/")) {
    if (segment === "") return "empty path segment";
    if (segment === "." || segment === "..") return `"${segment}" path segment`;
    if (Buffer.byteLength(segment, "utf8") > MAX_SEGMENT_BYTES)
      return `a name longer than ${MAX_SEGMENT_BYTES} bytes`;
    if (segment.startsWith(TEMP_NAME_PREFIX)) return `a ${TEMP_NAME_PREFIX} temporary name`;
  }
  return null;
}

/** Why the object key of `key` under `prefix` is too long for the datastore, or null when it fits. */
export function objectKeyOverflow(prefix: string, key: string): string | null {
  const bytes = Buffer.byteLength(prefix + key, "utf8");
  if (bytes <= MAX_OBJECT_KEY_BYTES) return null;
  return `its object key would be ${bytes} bytes with the prefix ${prefix}, over the datastore's limit of ${MAX_OBJECT_KEY_BYTES}; not synced`;
}

/** The entry key of an object under a set's prefix, or why it has none. */
export function objectKeyToEntryKey(
  prefix: string,
  objectKey: string,
): { key: string } | { refused: string } {
  if (!objectKey.startsWith(prefix)) return { refused: `not under the prefix ${prefix}` };
  const key = objectKey.slice(prefix.length);
  const refused = validateEntryKey(key);
  return refused === null ? { key } : { refused };
}

/** The object key of an entry key; the key must be valid (see validateEntryKey). */
export function entryKeyToObjectKey(prefix: string, key: string): string {
  return prefix + key;
}
