/**
 * Redaction of secrets from everything that reaches a log line. Values are redacted before they are
 * serialized, so a secret is caught whether it appears in a message, a field, an error message or a stack.
 */

export const REDACTED = "[redacted]";

/** Secrets shorter than this are not registered: replacing them would garble every line. */
const MIN_SECRET_LENGTH = 4;

const secrets = new Set<string>();
let secretsByLength: string[] = [];

/** Registers a value (and its URL-encoded form) to be replaced by `[redacted]` in every log line. */
export function registerSecret(value: string): void {
  if (value.trim().length < MIN_SECRET_LENGTH) return;
  secrets.add(value);
  secrets.add(encodeURIComponent(value));
  // Longest first, so a secret that contains another one is replaced whole.
  secretsByLength = [...secrets].sort((a, b) => b.length - a.length);
}

/** Field names whose values are always redacted, compared lower-cased without `_` and `-`. */
const SENSITIVE_KEYS = new Set([
  "secretaccesskey",
  "secretkey",
  "password",
  "passwd",
  "authorization",
  "xamzsecuritytoken",
  "sessiontoken",
]);

export function isSensitiveKey(key: string): boolean {
  return SENSITIVE_KEYS.has(key.toLowerCase().replace(/[-_]/g, ""));
}

const TEXT_PATTERNS: Array<[RegExp, string]> = [
  // Presigned URL query parameters and the parts of an AWS SigV4 Authorization header.
  [/(\b(?:X-Amz-)?(?:Credential|Signature|Security-Token)=)[^&\s,"']+/gi, `$1${REDACTED}`],
  // `password=...`, `secret_access_key: ...` and the like inside free text.
  [
    /(\b(?:password|passwd|secret_?access_?key|secret_?key)["']?\s*[:=]\s*["']?)[^\s"',&}]+/gi,
    `$1${REDACTED}`,
  ],
  // Credentials inside a URL: scheme://user:password@host
  [/(\/\/[^/\s:@]+:)[^@\s/]+@/g, `$1${REDACTED}@`],
];

export function redactText(text: string): string {
  let result = text;
  for (const secret of secretsByLength) {
    if (result.includes(secret)) result = result.split(secret).join(REDACTED);
  }
  for (const [pattern, replacement] of TEXT_PATTERNS) result = result.replace(pattern, replacement);
  return result;
}

const MAX_DEPTH = 6;

/**
 * Turns any value into a JSON-safe value with every string redacted and every sensitive field replaced.
 * Errors become `{ name, message, stack, code?, cause? }`; cycles and deep nesting are cut off.
 */
export function sanitize(value: unknown, depth = 0, seen = new WeakSet<object>()): unknown {
  if (typeof value === "string") return redactText(value);
  if (value === null || typeof value === "number" || typeof value === "boolean") return value;
  if (value === undefined) return undefined;
  if (typeof value === "bigint") return value.toString();
  if (typeof value === "symbol" || typeof value === "function") return redactText(String(value));
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? "Invalid Date" : value.toISOString();
  if (value instanceof Uint8Array) return `<${value.byteLength} bytes>`;
  if (seen.has(value)) return "[circular]";
  if (depth >= MAX_DEPTH) return "[nested too deep]";
  seen.add(value);
  try {
    if (value instanceof Error) return sanitizeError(value, depth, seen);
    if (Array.isArray(value)) return value.map((item) => sanitize(item, depth + 1, seen) ?? null);
    return sanitizeRecord(value as Record<string, unknown>, depth, seen);
  } finally {
    seen.delete(value);
  }
}

export function sanitizeRecord(
  record: Record<string, unknown>,
  depth = 0,
  seen = new WeakSet<object>(),
): Record<string, unknown> {
  const result: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(record)) {
    if (item === undefined) continue;
    result[key] =
      isSensitiveKey(key) && item !== null && item !== "" ? REDACTED : sanitize(item, depth + 1, seen);
  }
  return result;
}

function sanitizeError(error: Error, depth: number, seen: WeakSet<object>): Record<string, unknown> {
  const result: Record<string, unknown> = {
    name: redactText(error.name),
    message: redactText(error.message),
  };
  if (error.stack) result.stack = redactText(error.stack);
  const { code } = error as { code?: unknown };
  if (typeof code === "string" || typeof code === "number") result.code = code;
  if (error.cause !== undefined) result.cause = sanitize(error.cause, depth + 1, seen);
  return result;
}
