import assert from "node:assert/strict";
import { test } from "node:test";
import { entryKeyToObjectKey, objectKeyToEntryKey, validateEntryKey } from "../../src/scan/keys.js";

const prefix = "webroot/";

function refusal(objectKey: string): string | undefined {
  const mapped = objectKeyToEntryKey(prefix, objectKey);
  return "refused" in mapped ? mapped.refused : undefined;
}

test("hostile object keys map to no path", () => {
  const hostile: [string, RegExp][] = [
    ["webroot/", /empty path/],
    ["webroot/../x", /"\.\." path segment/],
    ["webroot/a/../../etc/passwd", /"\.\." path segment/],
    ["webroot/..", /"\.\." path segment/],
    ["webroot//abs", /absolute/],
    ["webroot/a//b", /empty path segment/],
    ["webroot/a//", /empty path segment/],
    ["webroot/a/./b", /"\." path segment/],
    ["webroot/a/.", /"\." path segment/],
    ["webroot/a/./", /"\." path segment/],
    ["webroot/.", /"\." path segment/],
    ["webroot/.fedsync/x", /reserved/],
    ["webroot/.fedsync/", /reserved/],
    ["webroot/a\0b", /NUL/],
    [`webroot/${"x".repeat(300)}`, /longer than 255 bytes/],
    [`webroot/d/${"é".repeat(128)}`, /longer than 255 bytes/],
    [`webroot/${Array.from({ length: 50 }, () => "y".repeat(99)).join("/")}`, /longer than 4096 bytes/],
    [`webroot/${"z/".repeat(2500)}f`, /longer than 4096 bytes/],
    ["webroot/dir/.fedsync-tmp-123abc", /temporary/],
    ["webroot/.fedsync-tmp-x/inside", /temporary/],
    ["webroot/bad\ud800surrogate", /Unicode/],
    ["other/x", /not under the prefix/],
  ];
  for (const [objectKey, reason] of hostile) {
    const refused = refusal(objectKey);
    assert.ok(refused !== undefined, `${JSON.stringify(objectKey.slice(0, 40))} must be refused`);
    assert.match(refused, reason, JSON.stringify(objectKey.slice(0, 40)));
  }
});

test("ordinary names, unicode and URL-special characters map to themselves", () => {
  const good = [
    "index.html",
    "docs/",
    "docs/read me.txt",
    "a#b?c%d+e&f=g;h",
    "über/naïve café.md",
    "日本語/ファイル",
    "emoji/😀.png",
    ".htaccess",
    ".fedsync",
    "x/.fedsync/inner",
    "a.fedsync-tmp-not-a-prefix",
    "..hidden",
    "...",
    "0123",
    `${"x".repeat(255)}`,
    `${"é".repeat(127)}x`,
    `${"d/".repeat(2047)}f`,
    "name with\nnewline",
  ];
  for (const key of good) {
    assert.equal(validateEntryKey(key), null, JSON.stringify(key.slice(0, 40)));
    const objectKey = entryKeyToObjectKey(prefix, key);
    assert.equal(objectKey, prefix + key);
    assert.deepEqual(objectKeyToEntryKey(prefix, objectKey), { key });
  }
});

test("an empty prefix maps object keys one to one", () => {
  assert.deepEqual(objectKeyToEntryKey("", "a/b"), { key: "a/b" });
  assert.ok("refused" in objectKeyToEntryKey("", ".fedsync/webroot/log/x"));
});
