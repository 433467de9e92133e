import assert from "node:assert/strict";
import { test } from "node:test";
import { compactTimestamp, logKey } from "../../src/datastore/layout.js";
import { lagBehind, newestChange, spanOf } from "../../src/reconcile/fleet.js";
import { MAX_AHEAD_MS, parseHeartbeat } from "../../src/reconcile/heartbeat.js";
import { formatSpan } from "../../src/cli/format.js";

const key = ".fedsync/web/machines/web2";
const now = Date.UTC(2026, 11, 2, 9, 0, 0);
const HOUR = 3600_000;
const DAY = 24 * HOUR;

function heartbeat(fields: Record<string, unknown>): string {
  return JSON.stringify({ machine: "web2", version: "0.1.0", lastGoodPass: now - 1000, files: 3, ...fields });
}

test("a heartbeat says how far its machine applied the change log; an older one without it still parses", () => {
  assert.equal(
    parseHeartbeat("web", key, heartbeat({ appliedThrough: now - 5000 }), now)?.appliedThrough,
    now - 5000,
  );
  const old = parseHeartbeat("web", key, heartbeat({ directories: 1 }), now);
  assert.ok(old);
  assert.equal(old.appliedThrough, undefined);
  assert.ok(!("appliedThrough" in old));
  // A clock somewhat ahead is a clock: accepted up to a day ahead of the reader's.
  assert.ok(parseHeartbeat("web", key, heartbeat({ appliedThrough: now + MAX_AHEAD_MS }), now));
});

test("a heartbeat with a hostile appliedThrough is refused whole", () => {
  const hostile: unknown[] = [
    -1,
    1.5,
    "1764665000000",
    null,
    true,
    [now],
    { at: now },
    Number.MAX_SAFE_INTEGER + 2,
    now + MAX_AHEAD_MS + 1,
  ];
  for (const value of hostile) {
    assert.equal(
      parseHeartbeat("web", key, heartbeat({ appliedThrough: value }), now),
      undefined,
      String(value),
    );
  }
  // JSON's 1e400 is Infinity once parsed.
  const infinite = heartbeat({}).replace(/}$/, ',"appliedThrough":1e400}');
  assert.equal(parseHeartbeat("web", key, infinite, now), undefined);
});

test("the other fields are still checked", () => {
  assert.equal(parseHeartbeat("web", ".fedsync/web/machines/web3", heartbeat({}), now), undefined);
  assert.equal(parseHeartbeat("web", key, heartbeat({ files: -1 }), now), undefined);
  assert.equal(parseHeartbeat("web", key, heartbeat({ version: "1 0" }), now), undefined);
  assert.equal(parseHeartbeat("web", key, "null", now), undefined);
  assert.equal(parseHeartbeat("web", key, "{", now), undefined);
});

test("a change-log listing gives the newest record of each writer; keys that are not records are passed over", () => {
  const span = spanOf("web", [
    logKey("web", now - 3 * HOUR, "web1", 1),
    logKey("web", now - 2 * HOUR, "web2", 1),
    logKey("web", now - HOUR, "web1", 2),
    `.fedsync/web/log/${compactTimestamp(now - 30 * 60_000)}-bad name!-000001`,
    ".fedsync/web/log/not-a-record",
  ]);
  assert.deepEqual(
    [...span.newestBy],
    [
      ["web1", now - HOUR],
      ["web2", now - 2 * HOUR],
      ["", now - 30 * 60_000],
    ],
  );
  assert.equal(span.oldest, now - 3 * HOUR);
  assert.equal(newestChange(span), now - 30 * 60_000);
  assert.equal(newestChange(spanOf("web", [logKey("web", now, "web1", 1)]), "web1"), undefined);
});

test("lag: how far a machine is behind the newest change another machine made", () => {
  const span = spanOf("web", [
    logKey("web", now - 2 * HOUR, "web2", 1),
    logKey("web", now - 10_000, "web1", 1),
    logKey("web", now - 5000, "web3", 1),
  ]);
  // web1 has applied up to a pass that began after web3's record: up to date.
  assert.equal(lagBehind(span, "web1", now - 4000, now, DAY), 0);
  // web2 last applied 20 s ago: web3's change 5 s ago is 15 s ahead of it.
  assert.equal(lagBehind(span, "web2", now - 20_000, now, DAY), 15_000);
  // web3's own record is not one it has to apply: web1's is the newest for it.
  assert.equal(lagBehind(span, "web3", now - 30_000, now, DAY), 20_000);
  assert.equal(lagBehind(span, "web3", now - 8000, now, DAY), 0);
  // An older fedsync does not say.
  assert.equal(lagBehind(span, "web2", undefined, now, DAY), undefined);
});

test("lag with nothing newer in the log: up to date, unless the records that would show it may have expired", () => {
  const empty = spanOf("web", []);
  assert.equal(lagBehind(empty, "web1", now - HOUR, now, DAY), 0);
  assert.equal(lagBehind(empty, "web1", now - 2 * DAY, now, DAY), undefined);
  // The log still holds a record older than what web1 applied: it is complete since then.
  const old = spanOf("web", [logKey("web", now - 3 * DAY, "web2", 1)]);
  assert.equal(lagBehind(old, "web1", now - 2 * DAY, now, DAY), 0);
  // A record newer than what web1 applied tells the lag even when the ones before it are gone.
  const recent = spanOf("web", [logKey("web", now - HOUR, "web2", 1)]);
  assert.equal(lagBehind(recent, "web1", now - 2 * DAY, now, DAY), 2 * DAY - HOUR);
});

test("spans are shown in their largest whole unit", () => {
  assert.deepEqual([0, 400, 42_000, 3 * 60_000 + 5000, 2 * HOUR, 9 * DAY, -5000].map(formatSpan), [
    "0s",
    "0s",
    "42s",
    "3m",
    "2h",
    "9d",
    "0s",
  ]);
});
