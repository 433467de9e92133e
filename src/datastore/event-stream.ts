/**
 * MinIO's bucket notification stream (ListenBucketNotification): one JSON object per line,
 * `{"Records":[event, ...]}`. With `ping=N` the server writes `{"Records":null}` every N seconds as a
 * keep-alive; a server asked for no ping writes a lone space every 500 ms instead. The stream comes from the
 * server, so nothing in it is trusted: lines are bounded, and records not shaped like object events are
 * dropped.
 */
import { userMetadataFrom } from "./responses.js";
import type { BucketEvent } from "./types.js";

/** A line longer than this is not an event record: the stream is treated as broken. */
export const MAX_EVENT_LINE_BYTES = 1024 * 1024;

export class EventLineTooLongError extends Error {
  constructor(limit: number) {
    super(`a line of the notification stream is longer than ${limit} bytes`);
    this.name = "EventLineTooLongError";
  }
}

/**
 * Cuts a byte stream into lines. Lines are split on the newline byte before they are decoded, so a
 * character whose bytes arrive in two chunks is decoded whole.
 */
export class LineSplitter {
  private partial: Buffer[] = [];
  private partialBytes = 0;

  constructor(private readonly maxLineBytes: number = MAX_EVENT_LINE_BYTES) {}

  /** The lines this chunk completes, without their newline; the rest waits for the next chunk. */
  push(chunk: Buffer): string[] {
    const lines: string[] = [];
    let start = 0;
    for (let end = chunk.indexOf(0x0a); end !== -1; end = chunk.indexOf(0x0a, start)) {
      this.hold(chunk.subarray(start, end));
      lines.push(Buffer.concat(this.partial, this.partialBytes).toString("utf8"));
      this.partial = [];
      this.partialBytes = 0;
      start = end + 1;
    }
    if (start < chunk.length) this.hold(chunk.subarray(start));
    return lines;
  }

  private hold(piece: Buffer) {
    this.partialBytes += piece.length;
    if (this.partialBytes > this.maxLineBytes) throw new EventLineTooLongError(this.maxLineBytes);
    this.partial.push(piece);
  }
}

export type ParsedLine =
  | { kind: "events"; events: BucketEvent[] }
  /** A keep-alive: blank, or an event document without records. */
  | { kind: "keep-alive" }
  | { kind: "invalid"; reason: string };

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** One record as an object event of `bucket`, or undefined for anything else. */
function eventOf(record: unknown, bucket: string): BucketEvent | undefined {
  if (!isRecord(record) || typeof record.eventName !== "string" || !isRecord(record.s3)) return undefined;
  const removed = record.eventName.startsWith("s3:ObjectRemoved:");
  if (!removed && !record.eventName.startsWith("s3:ObjectCreated:")) return undefined;
  const { bucket: source, object } = record.s3;
  if (isRecord(source) && source.name !== undefined && source.name !== bucket) return undefined;
  if (!isRecord(object) || typeof object.key !== "string" || object.key === "") return undefined;
  const event: BucketEvent = { key: object.key, removed };
  if (removed) return event;
  if (typeof object.eTag === "string" && object.eTag !== "") event.etag = object.eTag.replace(/"/g, "");
  if (isRecord(object.userMetadata)) {
    event.metadata = userMetadataFrom(
      Object.entries(object.userMetadata).filter(
        (entry): entry is [string, string] => typeof entry[1] === "string",
      ),
    );
  }
  return event;
}

/** Reads one line of the stream: the object events of `bucket` it reports, a keep-alive, or why it is bad. */
export function parseEventLine(line: string, bucket: string): ParsedLine {
  const text = line.trim();
  if (text === "") return { kind: "keep-alive" };
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch {
    return { kind: "invalid", reason: "not JSON" };
  }
  if (!isRecord(document) || !("Records" in document))
    return { kind: "invalid", reason: "not an event document" };
  const records = document.Records;
  if (records === null) return { kind: "keep-alive" };
  if (!Array.isArray(records)) return { kind: "invalid", reason: "Records is not a list" };
  const events: BucketEvent[] = [];
  for (const record of records) {
    const event = eventOf(record, bucket);
    if (event) events.push(event);
  }
  return { kind: "events", events };
}

/**
 * The object keys an event's key may stand for. MinIO's listen API writes keys as they are (`a+b %41.txt`),
 * while S3 event records, and some older servers' streams, write them form-encoded (`a%2Bb+%2541.txt`); the
 * two cannot be told apart, so a key that decodes to something else yields both. Each is only a hint: the
 * caller validates it like a listed key, and a key that names nothing costs one lookup.
 */
export function eventKeyCandidates(key: string): string[] {
  if (!/[%+]/.test(key)) return [key];
  let decoded: string;
  try {
    decoded = decodeURIComponent(key.replace(/\+/g, " "));
  } catch {
    return [key];
  }
  return decoded === key ? [key] : [key, decoded];
}
