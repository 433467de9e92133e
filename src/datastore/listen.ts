/**
 * Following MinIO's bucket notification stream over one signed GET: the answer is read line by line as it
 * arrives (each event is handed over as soon as the server flushes it), and the server's keep-alive proves
 * the connection alive, so a stream that dies without a word is noticed too.
 */
import type http from "node:http";
import { DatastoreError, type DatastoreErrorKind } from "./errors.js";
import { LineSplitter, parseEventLine } from "./event-stream.js";
import { s3ErrorCode } from "./failures.js";
import type { BucketEvent, ListenHandlers } from "./types.js";

/** The keep-alive the server is asked for, in seconds (the `ping` parameter). */
export const LISTEN_PING_SECONDS = 2;
/** A stream silent this long (five keep-alives missed) is dead, even if its connection looks open. */
export const LISTEN_SILENCE_MS = 10_000;

/** Answers of servers without the listen API (plain S3 and most S3-compatible stores). */
const UNSUPPORTED_CODES = new Set([
  "NotImplemented",
  "MethodNotAllowed",
  "InvalidArgument",
  "InvalidRequest",
  "XNotImplemented",
]);

/**
 * No answer at all, not even the headers, within the silence limit. A MinIO build that does not flush
 * streaming answers (minio/minio#21651 and later) holds every notification back like this.
 */
export class StreamNotAnsweredError extends Error {
  constructor(limitMs: number) {
    super(`no answer within ${limitMs / 1000} s (the server holds its notification stream back)`);
    this.name = "StreamNotAnsweredError";
  }
}

export interface EventStreamOptions {
  bucket: string;
  /** Turns any failure into a DatastoreError naming the endpoint and the bucket. */
  fail: (error: unknown) => DatastoreError;
  silenceLimitMs?: number;
}

/** The query of a ListenBucketNotification request for object creations and removals under `prefix`. */
export function listenQueryParams(prefix: string): [string, string][] {
  return [
    ["events", "s3:ObjectCreated:*"],
    ["events", "s3:ObjectRemoved:*"],
    ["ping", String(LISTEN_PING_SECONDS)],
    ["prefix", prefix],
  ];
}

/**
 * Reads the notification stream `answer` resolves to, until it ends, breaks, stays silent past the limit or
 * is closed. `onClose` is called once (not after close()).
 */
export function followEventStream(
  answer: Promise<http.IncomingMessage>,
  handlers: ListenHandlers,
  options: EventStreamOptions,
): { close(): void } {
  const silenceLimitMs = options.silenceLimitMs ?? LISTEN_SILENCE_MS;
  let over = false;
  let response: http.IncomingMessage | undefined;
  let silence: NodeJS.Timeout | undefined;
  const end = () => {
    over = true;
    clearTimeout(silence);
    response?.destroy();
  };
  const finish = (error: unknown, kind?: DatastoreErrorKind) => {
    if (over) return;
    end();
    handlers.onClose(classify(error, kind, options.fail));
  };
  const watchSilence = (error: () => Error) => {
    clearTimeout(silence);
    silence = setTimeout(() => finish(error(), "unreachable"), silenceLimitMs);
  };
  watchSilence(() => new StreamNotAnsweredError(silenceLimitMs));

  answer.then(
    (stream) => {
      response = stream;
      if (over) {
        stream.destroy();
        return;
      }
      clearTimeout(silence);
      const type = String(stream.headers["content-type"] ?? "");
      if (!type.startsWith("text/event-stream")) {
        const answered = type ? `answered ${type}` : "answered without a content type";
        finish(new Error(`the server ${answered}, not an event stream`), "unsupported");
        return;
      }
      const lines = new LineSplitter();
      const noKeepAlive = () => new Error(`no keep-alive for ${silenceLimitMs / 1000} s`);
      watchSilence(noKeepAlive);
      handlers.onOpen();
      stream.on("data", (chunk: Buffer) => {
        if (over) return;
        watchSilence(noKeepAlive);
        const events: BucketEvent[] = [];
        try {
          for (const line of lines.push(chunk)) {
            const parsed = parseEventLine(line, options.bucket);
            if (parsed.kind === "invalid")
              throw new Error(`unexpected line in the stream (${parsed.reason})`);
            if (parsed.kind === "events") events.push(...parsed.events);
          }
        } catch (error) {
          finish(error);
          return;
        }
        if (events.length > 0) handlers.onEvents(events);
      });
      stream.on("error", finish);
      stream.on("close", () => finish(new Error("the server closed the stream"), "unreachable"));
    },
    (error: unknown) => finish(error),
  );
  return { close: end };
}

function classify(
  error: unknown,
  kind: DatastoreErrorKind | undefined,
  fail: (error: unknown) => DatastoreError,
): DatastoreError {
  const failure = fail(error);
  const code = s3ErrorCode(error);
  const actual = kind ?? (code && UNSUPPORTED_CODES.has(code) ? "unsupported" : failure.kind);
  return actual === failure.kind ? failure : new DatastoreError(actual, failure.message, { cause: error });
}
