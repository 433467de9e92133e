/** Rendering of one log event as exactly one line (no trailing newline). */

import { redactText, sanitizeRecord } from "./redact.js";

export type LogLevel = "error" | "warn" | "info" | "debug";
export type LogFormat = "plain" | "json";
export type LogFields = Record<string, unknown>;

export const LEVEL_SEVERITY: Record<LogLevel, number> = { error: 0, warn: 1, info: 2, debug: 3 };

/** Hex digits of a SHA-256 that text meant for people shows; JSON output keeps all 64. */
export const SHORT_HASH_LENGTH = 12;

/** The first SHORT_HASH_LENGTH hex digits of a SHA-256; anything else unchanged. */
export function shortHash<T>(value: T): T | string {
  return typeof value === "string" && /^[0-9a-f]{64}$/.test(value)
    ? value.slice(0, SHORT_HASH_LENGTH)
    : value;
}

/** syslog priorities, understood by journald as a `<N>` prefix on each line of stdout/stderr. */
const SYSLOG_PRIORITY: Record<LogLevel, number> = { error: 3, warn: 4, info: 6, debug: 7 };

/**
 * The figures of an event (counts, sizes, durations), written once: as words after the message in a plain line
 * (`pass complete: 3 up, 0.04 s`), as fields of a json line (`"msg":"pass complete","uploaded":3,...`).
 */
export interface Figures {
  text: string;
  values: LogFields;
}

export interface LogEvent {
  time: Date;
  level: LogLevel;
  message: string;
  fields: LogFields;
  figures?: Figures;
}

export interface LineStyle {
  format: LogFormat;
  /** Prefix each line with its syslog priority and leave the timestamp to journald. */
  journald: boolean;
}

export function formatLine(event: LogEvent, style: LineStyle): string {
  const body = style.format === "json" ? jsonBody(event, style.journald) : plainBody(event, style.journald);
  return style.journald ? `<${SYSLOG_PRIORITY[event.level]}>${body}` : body;
}

const JSON_RESERVED = new Set(["time", "level", "msg"]);

function jsonBody(event: LogEvent, journald: boolean): string {
  const record: Record<string, unknown> = {};
  if (!journald) record.time = event.time.toISOString();
  record.level = event.level;
  record.msg = redactText(event.message);
  for (const [key, value] of Object.entries(sanitizeRecord({ ...event.figures?.values, ...event.fields }))) {
    record[JSON_RESERVED.has(key) ? `_${key}` : key] = value;
  }
  // JSON.stringify escapes every control character, so the record stays on one line; U+2028/2029 are
  // escaped too because some line-oriented readers treat them as line breaks.
  return escapeLineSeparators(JSON.stringify(record));
}

function plainBody(event: LogEvent, journald: boolean): string {
  const parts: string[] = [];
  if (!journald) parts.push(event.time.toISOString());
  parts.push(event.level);
  const { set, ...rest } = event.fields;
  if (typeof set === "string") parts.push(`[${escapeControls(redactText(set))}]`);
  else if (set !== undefined) rest.set = set;
  const text = event.figures ? `${event.message}: ${event.figures.text}` : event.message;
  parts.push(escapeControls(redactText(text)));
  for (const [key, value] of Object.entries(sanitizeRecord(rest))) {
    const original = rest[key];
    const text =
      original instanceof Error
        ? errorText(value as SanitizedError)
        : plainValue(key === "sha256" ? shortHash(value) : value);
    parts.push(`${escapeControls(key)}=${text}`);
  }
  return parts.join(" ");
}

interface SanitizedError {
  name: string;
  message: string;
  stack?: string;
  code?: string | number;
  cause?: unknown;
}

function errorText(error: SanitizedError): string {
  let text = error.stack ?? `${error.name}: ${error.message}`;
  if (error.code !== undefined && !text.includes(String(error.code))) text = `[${error.code}] ${text}`;
  let cause = error.cause;
  while (cause !== undefined) {
    if (cause !== null && typeof cause === "object" && "message" in cause) {
      const nested = cause as SanitizedError;
      text += `\nCaused by: ${nested.stack ?? `${nested.name}: ${nested.message}`}`;
      cause = nested.cause;
    } else {
      text += `\nCaused by: ${typeof cause === "string" ? cause : JSON.stringify(cause)}`;
      cause = undefined;
    }
  }
  return quote(text);
}

const BARE_VALUE = /^[^\s"=\\\p{C}\u2028\u2029]+$/u;

function plainValue(value: unknown): string {
  if (typeof value === "string") return BARE_VALUE.test(value) ? value : quote(value);
  if (typeof value === "number" || typeof value === "boolean" || value === null) return String(value);
  return escapeLineSeparators(JSON.stringify(value));
}

function quote(text: string): string {
  return escapeLineSeparators(JSON.stringify(text));
}

function escapeLineSeparators(text: string): string {
  return text.replace(/[\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16)}`);
}

/** Escapes control characters (newlines above all) the way JSON would, so free text cannot start a new line. */
function escapeControls(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\u0000-\u001f\u007f\u2028\u2029]/g, (c) => {
    switch (c) {
      case "\n":
        return "\\n";
      case "\r":
        return "\\r";
      case "\t":
        return "\\t";
      default:
        return `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`;
    }
  });
}
