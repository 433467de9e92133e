import { exactDuration } from "./duration.js";
import type { Config } from "./types.js";

/** Fields never shown: the secret, the CA certificate's text (its file is shown), where the file came from. */
const HIDDEN = new Set(["secretAccessKey", "ca", "source"]);

function fileName(field: string): string {
  return field.replace(/[A-Z]/g, (letter) => `_${letter.toLowerCase()}`);
}

function resolve(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(resolve);
  if (value === null || typeof value !== "object") return value;
  const out: Record<string, unknown> = {};
  for (const [field, inner] of Object.entries(value)) {
    if (HIDDEN.has(field) || inner === undefined) continue;
    // Durations are held in milliseconds under a name ending in Ms (`intervalMs` is `interval`).
    if (field.endsWith("Ms") && typeof inner === "number")
      out[fileName(field.slice(0, -2))] = exactDuration(inner);
    // Permission bits are written in octal, in quotes, as the file takes them.
    else if (field === "modeMask" && typeof inner === "number")
      out.mode_mask = inner.toString(8).padStart(4, "0");
    else out[fileName(field)] = resolve(inner);
  }
  return out;
}

/**
 * The config as fedsync uses it, every default filled in, in the file's own names and formats (it reads back
 * as the same config), without the secret key.
 */
export function resolvedConfig(config: Config): Record<string, unknown> {
  return resolve(config) as Record<string, unknown>;
}
