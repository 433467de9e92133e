import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { DatastoreError } from "../../src/datastore/errors.js";
import {
  EventLineTooLongError,
  eventKeyCandidates,
  LineSplitter,
  parseEventLine,
} from "../../src/datastore/event-stream.js";
import { StreamNotAnsweredError } from "../../src/datastore/listen.js";
import type { BucketEvent, Datastore, ListenHandlers } from "../../src/datastore/types.js";
import {
  NotificationFollower,
  reconnectDelay,
  type NotificationHealth,
} from "../../src/watch/notifications.js";

const BUCKET = "fleet";

/** One line as MinIO writes it: `{"Records":[...]}` with the event fields fedsync reads and some it ignores. */
function record(eventName: string, key: string, extra: Record<string, unknown> = {}): unknown {
  return {
    eventVersion: "2.0",
    eventSource: "minio:s3",
    eventName,
    s3: {
      s3SchemaVersion: "1.0",
      bucket: { name: BUCKET, arn: `arn:aws:s3:::${BUCKET}` },
      object: { key, sequencer: "1", ...extra },
    },
    source: { host: "127.0.0.1", userAgent: "MinIO (linux; amd64) minio-go/v7" },
  };
}

function line(...records: unknown[]): string {
  return `${JSON.stringify({ Records: records })}\n`;
}

const PING = `${JSON.stringify({ Records: null })}\n`;

/** Splits `bytes` at the given offsets (sorted, deduplicated, inside the buffer). */
function chunked(bytes: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((cut) => cut % (bytes.length + 1)))].sort((a, b) => a - b);
  const chunks: Buffer[] = [];
  let start = 0;
  for (const point of [...points, bytes.length]) {
    chunks.push(bytes.subarray(start, point));
    start = point;
  }
  return chunks;
}

function readAll(chunks: Buffer[]): BucketEvent[] {
  const splitter = new LineSplitter();
  const events: BucketEvent[] = [];
  for (const chunk of chunks) {
    for (const text of splitter.push(chunk)) {
      const parsed = parseEventLine(text, BUCKET);
      assert.notEqual(parsed.kind, "invalid", `line ${JSON.stringify(text)}`);
      if (parsed.kind === "events") events.push(...parsed.events);
    }
  }
  return events;
}

const STREAM = Buffer.from(
  PING +
    line(
      record("s3:ObjectCreated:Put", "conf/é ü.txt", {
        eTag: '"9dd4e461268c8034f5c8564e155c67a6"',
        userMetadata: { "X-Amz-Meta-Fedsync-Origin": "web2", "content-type": "text/plain" },
      }),
    ) +
    "   " + // the keep-alive of a server asked for no ping: spaces, no newline
    line(
      record("s3:ObjectRemoved:Delete", "conf/a+b %41.txt"),
      record("s3:ObjectCreated:CompleteMultipartUpload", "conf/big.bin", { eTag: "0b3f-2" }),
    ) +
    "\n" +
    PING,
);

const EXPECTED: BucketEvent[] = [
  {
    key: "conf/é ü.txt",
    removed: false,
    etag: "9dd4e461268c8034f5c8564e155c67a6",
    metadata: { "fedsync-origin": "web2" },
  },
  { key: "conf/a+b %41.txt", removed: true },
  { key: "conf/big.bin", removed: false, etag: "0b3f-2" },
];

test("a notification stream read whole: keep-alives skipped, every event once, in order", () => {
  assert.deepEqual(readAll([STREAM]), EXPECTED);
});

test("a notification stream cut anywhere, even inside a character, yields the same events", () => {
  // One byte at a time: every line and the two-byte characters of "é ü" arrive split.
  assert.deepEqual(readAll([...STREAM].map((byte) => Buffer.from([byte]))), EXPECTED);
  fc.assert(
    fc.property(fc.array(fc.nat(), { maxLength: 40 }), (cuts) => {
      assert.deepEqual(readAll(chunked(STREAM, cuts)), EXPECTED);
    }),
    { numRuns: 300 },
  );
});

test("a line split over chunks is held until its newline comes", () => {
  const splitter = new LineSplitter();
  const whole = line(record("s3:ObjectCreated:Put", "conf/x", { eTag: "e1" }));
  assert.deepEqual(splitter.push(Buffer.from(whole.slice(0, 20))), []);
  assert.deepEqual(splitter.push(Buffer.from(whole.slice(20, -1))), []);
  assert.deepEqual(splitter.push(Buffer.from(`\n${PING}{"Rec`)), [whole.slice(0, -1), PING.slice(0, -1)]);
  assert.deepEqual(splitter.push(Buffer.from(`ords":null}\n`)), ['{"Records":null}']);
});

test("a line longer than the limit breaks the stream instead of growing memory", () => {
  const splitter = new LineSplitter(64);
  splitter.push(Buffer.alloc(40, 0x61));
  assert.throws(() => splitter.push(Buffer.alloc(40, 0x61)), EventLineTooLongError);
});

test("lines that are not event documents are reported; foreign records are dropped", () => {
  assert.deepEqual(parseEventLine("", BUCKET), { kind: "keep-alive" });
  assert.deepEqual(parseEventLine("  \r", BUCKET), { kind: "keep-alive" });
  assert.deepEqual(parseEventLine('{"Records":null}', BUCKET), { kind: "keep-alive" });
  assert.equal(parseEventLine("<Error><Code>AccessDenied</Code></Error>", BUCKET).kind, "invalid");
  assert.equal(parseEventLine("[1,2]", BUCKET).kind, "invalid");
  assert.equal(parseEventLine('{"Records":"x"}', BUCKET).kind, "invalid");
  const foreign = parseEventLine(
    line(
      record("s3:ObjectAccessed:Get", "conf/read"),
      {
        ...(record("s3:ObjectCreated:Put", "conf/elsewhere") as object),
        s3: { bucket: { name: "other" }, object: { key: "conf/elsewhere" } },
      },
      record("s3:ObjectCreated:Put", ""),
      record("s3:ObjectCreated:Put", "conf/kept", { eTag: 7 }),
      "not a record",
    ),
    BUCKET,
  );
  assert.deepEqual(foreign, { kind: "events", events: [{ key: "conf/kept", removed: false }] });
});

test("event keys: as written, plus their form-decoded reading when that differs", () => {
  assert.deepEqual(eventKeyCandidates("conf/plain.txt"), ["conf/plain.txt"]);
  assert.deepEqual(eventKeyCandidates("conf/a+b %41.txt"), ["conf/a+b %41.txt", "conf/a b A.txt"]);
  assert.deepEqual(eventKeyCandidates("conf/x%2F..%2Fy"), ["conf/x%2F..%2Fy", "conf/x/../y"]);
  assert.deepEqual(eventKeyCandidates("conf/100%"), ["conf/100%"]);
});

test("reconnect delays double from 0.5 s to a 30 s cap, jittered over the upper half", () => {
  assert.equal(
    reconnectDelay(0, () => 0),
    250,
  );
  assert.equal(
    reconnectDelay(0, () => 1),
    500,
  );
  assert.equal(
    reconnectDelay(3, () => 0),
    2000,
  );
  assert.equal(
    reconnectDelay(3, () => 1),
    4000,
  );
  assert.equal(
    reconnectDelay(10, () => 1),
    30_000,
  );
  assert.equal(
    reconnectDelay(1000, () => 0),
    15_000,
  );
});

/** A datastore whose listen() only records its calls, so the follower's decisions can be driven by hand. */
function scriptedListen() {
  const streams: { handlers: ListenHandlers; closed: boolean }[] = [];
  const datastore = {
    listen(_prefix: string, handlers: ListenHandlers) {
      const stream = { handlers, closed: false };
      streams.push(stream);
      return { close: () => (stream.closed = true) };
    },
  } as unknown as Datastore;
  return { datastore, streams };
}

function followerUnderTest() {
  const { datastore, streams } = scriptedListen();
  const health: NotificationHealth[] = [];
  const events: BucketEvent[] = [];
  const follower = new NotificationFollower(
    datastore,
    "conf/",
    { onEvents: (batch) => events.push(...batch), onHealth: (state) => health.push(state) },
    () => 1,
  );
  return { follower, streams, health, events };
}

const broken = () => new DatastoreError("unreachable", "the server closed the stream");

test("the follower: healthy once open, reconnecting with growing delays after breaks, events passed on", (t) => {
  t.mock.timers.enable({ apis: ["setTimeout", "Date"] });
  const { follower, streams, health, events } = followerUnderTest();
  follower.start();
  assert.equal(follower.health, "reconnecting");
  streams[0]!.handlers.onOpen();
  streams[0]!.handlers.onEvents([{ key: "conf/a", removed: false, etag: "e" }]);
  assert.deepEqual(events, [{ key: "conf/a", removed: false, etag: "e" }]);
  streams[0]!.handlers.onClose(broken());
  assert.deepEqual(health, ["healthy", "reconnecting"]);
  t.mock.timers.tick(499);
  assert.equal(streams.length, 1);
  t.mock.timers.tick(1);
  assert.equal(streams.length, 2, "first reconnect after 0.5 s");
  streams[1]!.handlers.onClose(broken());
  t.mock.timers.tick(999);
  assert.equal(streams.length, 2);
  t.mock.timers.tick(1);
  assert.equal(streams.length, 3, "second reconnect after 1 s");
  streams[2]!.handlers.onOpen();
  t.mock.timers.tick(30_000);
  streams[2]!.handlers.onClose(broken());
  t.mock.timers.tick(500);
  assert.equal(streams.length, 4, "a stream open for 30 s resets the backoff");
  assert.deepEqual(health, ["healthy", "reconnecting", "healthy", "reconnecting"]);
  follower.stop();
  assert.ok(streams[3]!.closed);
  t.mock.timers.tick(3_600_000);
  assert.equal(streams.length, 4, "nothing reconnects after stop");
});

test("the follower: a server without the API, or one that never answers three times, is unsupported", (t) => {
  t.mock.timers.enable({ apis: ["setTimeout", "Date"] });
  const { follower, streams, health } = followerUnderTest();
  follower.start();
  streams[0]!.handlers.onClose(new DatastoreError("unsupported", "NotImplemented"));
  assert.deepEqual(health, ["unsupported"]);
  t.mock.timers.tick(3_599_999);
  assert.equal(streams.length, 1, "asked again only after an hour");
  t.mock.timers.tick(1);
  assert.equal(streams.length, 2);
  const unanswered = () =>
    new DatastoreError("unreachable", "no answer", { cause: new StreamNotAnsweredError(10_000) });
  streams[1]!.handlers.onClose(unanswered());
  assert.equal(follower.health, "reconnecting");
  t.mock.timers.tick(500);
  streams[2]!.handlers.onClose(unanswered());
  assert.equal(follower.health, "reconnecting");
  t.mock.timers.tick(1000);
  streams[3]!.handlers.onClose(unanswered());
  assert.equal(follower.health, "unsupported");
  follower.stop();
});
