import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import {
  decodeEntryMeta,
  decodeMetaText,
  decodeTombstoneMeta,
  encodeEntryMeta,
  encodeMetaText,
  encodeTombstoneMeta,
  type EntryMeta,
} from "../../src/datastore/metadata.js";

const sha256 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

/** What an HTTP header value can carry verbatim: printable ASCII, no leading/trailing or inner space. */
const headerSafe = /^[\x21-\x7e]*$/;

test("file metadata round-trips with the documented keys and formats", () => {
  const meta: EntryMeta = {
    type: "file",
    sha256,
    mtimeMs: 1_700_000_000_123,
    mode: 0o644,
    owner: "www-data",
    group: "www-data",
    origin: "web1",
  };
  const record = encodeEntryMeta(meta);
  assert.deepEqual(record, {
    "fedsync-type": "file",
    "fedsync-sha256": sha256,
    "fedsync-mtime": "1700000000123",
    "fedsync-mode": "644",
    "fedsync-owner": "www-data",
    "fedsync-group": "www-data",
    "fedsync-origin": "web1",
  });
  assert.deepEqual(decodeEntryMeta(record), { meta, invalid: [] });
});

test("a unicode symlink target survives as header-safe text", () => {
  const meta: EntryMeta = {
    type: "symlink",
    target: "../données/ñandú 🦆/%20 literal/ spaced ",
    owner: "#1001",
    group: "www-data",
    origin: "web-1.example",
  };
  const record = encodeEntryMeta(meta);
  for (const value of Object.values(record)) assert.match(value, headerSafe);
  assert.equal(record["fedsync-owner"], "#1001");
  assert.deepEqual(decodeEntryMeta(record)?.meta, meta);
});

test("names outside their grammar make the object foreign: a path in an origin, spaces in an owner", () => {
  const foreign = (field: string, value: string) =>
    decodeEntryMeta({ "fedsync-type": "file", "fedsync-mode": "644", [field]: value });
  assert.deepEqual(foreign("fedsync-origin", "x/../../../outside/pwned"), { invalid: ["fedsync-origin"] });
  assert.deepEqual(foreign("fedsync-origin", "b%C3%BCro"), { invalid: ["fedsync-origin"] });
  assert.deepEqual(foreign("fedsync-owner", "j%C3%BCrgen%20smith"), { invalid: ["fedsync-owner"] });
  assert.deepEqual(foreign("fedsync-group", "root%0A"), { invalid: ["fedsync-group"] });
  assert.deepEqual(foreign("fedsync-target", "a%00b"), { invalid: ["fedsync-target"] });
  assert.equal(
    decodeTombstoneMeta({ "fedsync-deleted-by": "../x", "fedsync-deleted-at": "1700000000000" }),
    undefined,
  );
});

test("plain ASCII names stay readable in the bucket", () => {
  const record = encodeEntryMeta({ type: "symlink", target: "../shared/config.yaml" });
  assert.equal(record["fedsync-target"], "../shared/config.yaml");
});

test("modes keep setuid, setgid and sticky bits and accept a leading zero", () => {
  assert.equal(encodeEntryMeta({ type: "file", mode: 0o4755 })["fedsync-mode"], "4755");
  assert.equal(encodeEntryMeta({ type: "dir", mode: 0o1777 })["fedsync-mode"], "1777");
  assert.equal(decodeEntryMeta({ "fedsync-type": "file", "fedsync-mode": "0644" })?.meta?.mode, 0o644);
  assert.equal(decodeEntryMeta({ "fedsync-type": "dir", "fedsync-mode": "7777" })?.meta?.mode, 0o7777);
});

test("values a parser turned into numbers are read as their digits", () => {
  const decoded = decodeEntryMeta({
    "fedsync-type": "file",
    "fedsync-mode": 644,
    "fedsync-mtime": 1700000000000,
  });
  assert.deepEqual(decoded, { meta: { type: "file", mode: 0o644, mtimeMs: 1700000000000 }, invalid: [] });
});

test("invalid fields are named, and the object's metadata is ignored as a whole", () => {
  const decoded = decodeEntryMeta({
    "fedsync-type": "file",
    "fedsync-sha256": sha256.toUpperCase(),
    "fedsync-mtime": "1.5",
    "fedsync-mode": "10000",
    "fedsync-owner": "bad%zzescape",
    "fedsync-group": "staff",
  });
  assert.equal(decoded?.meta, undefined);
  assert.deepEqual(decoded?.invalid.sort(), [
    "fedsync-mode",
    "fedsync-mtime",
    "fedsync-owner",
    "fedsync-sha256",
  ]);
});

test("other invalid values: short hash, non-octal mode, unsafe mtime", () => {
  const decoded = decodeEntryMeta({
    "fedsync-type": "file",
    "fedsync-sha256": "abc",
    "fedsync-mode": "8",
    "fedsync-mtime": String(2 ** 60),
  });
  assert.equal(decoded?.meta, undefined);
  assert.equal(decoded?.invalid.length, 3);
});

test("without a valid type there is no metadata, and a bad type is reported", () => {
  assert.deepEqual(decodeEntryMeta({ "fedsync-type": "fifo", "fedsync-sha256": sha256 }), {
    invalid: ["fedsync-type"],
  });
  assert.deepEqual(decodeEntryMeta({ "content-type": "text/plain" }), { invalid: [] });
  assert.equal(decodeEntryMeta(undefined), undefined);
});

test("negative mtimes (before 1970) are integers too", () => {
  const record = encodeEntryMeta({ type: "file", mtimeMs: -86_400_000 });
  assert.equal(decodeEntryMeta(record)?.meta?.mtimeMs, -86_400_000);
});

test("tombstone metadata round-trips", () => {
  const tombstone = { deletedBy: "web-2", deletedAt: 1_700_000_000_000, sha256, type: "file" as const };
  const record = encodeTombstoneMeta(tombstone);
  assert.deepEqual(record, {
    "fedsync-deleted-by": "web-2",
    "fedsync-deleted-at": "1700000000000",
    "fedsync-sha256": sha256,
    "fedsync-type": "file",
  });
  assert.deepEqual(decodeTombstoneMeta(record), { ...tombstone, invalid: [] });
});

test("a tombstone without who or when is not a tombstone; a bad hash is dropped", () => {
  assert.equal(decodeTombstoneMeta({ "fedsync-deleted-by": "web1" }), undefined);
  assert.equal(
    decodeTombstoneMeta({ "fedsync-deleted-by": "web1", "fedsync-deleted-at": "yesterday" }),
    undefined,
  );
  assert.deepEqual(
    decodeTombstoneMeta({ "fedsync-deleted-by": "web1", "fedsync-deleted-at": "5", "fedsync-sha256": "x" }),
    { deletedBy: "web1", deletedAt: 5, invalid: ["fedsync-sha256"] },
  );
});

test("any well-formed text round-trips through the header-safe encoding", () => {
  fc.assert(
    fc.property(
      fc.string({ unit: "binary", maxLength: 64 }).filter((text) => !/\p{Cs}/u.test(text)),
      (text) => {
        const encoded = encodeMetaText(text);
        assert.match(encoded, headerSafe);
        assert.equal(decodeMetaText(encoded), text);
      },
    ),
  );
});
