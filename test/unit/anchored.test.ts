import { test } from "node:test";
import assert from "node:assert/strict";
import {
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { syncBuiltinESMExports } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import fsPromises from "node:fs/promises";
import { conflictCopyKey, conflictCopyKeys, parseConflictCopy } from "../../src/reconcile/conflict-name.js";
import { writeFileAtomic } from "../../src/reconcile/atomic-write.js";
import { firstFreeKey, moveAside } from "../../src/reconcile/local-changes.js";
import { openParent, RefusedError } from "../../src/scan/anchored.js";
import { validateEntryKey } from "../../src/scan/keys.js";

function tempTree(t: { after(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), "fedsync-anchored-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const write = (root: string, key: string, text: string, expected?: null) =>
  writeFileAtomic(root, key, Readable.from([Buffer.from(text)]), {
    mode: 0o640,
    mtimeMs: 1_000_000,
    owner: {},
    expected,
  });

test("every key is validated where it is used: .., absolute, NUL and temp names are refused", async (t) => {
  const root = tempTree(t);
  for (const key of ["../escape", "a/../../escape", "/etc/passwd", "a\0b", ".fedsync-tmp-x", "a//b"]) {
    await assert.rejects(openParent(root, key, true), RefusedError, key);
    await assert.rejects(write(root, key, "x"), RefusedError, key);
  }
});

test("a symlink in the parent chain is refused, and nothing is written through it", async (t) => {
  const root = tempTree(t);
  const outside = tempTree(t);
  symlinkSync(outside, join(root, "link"));
  await assert.rejects(write(root, "link/file", "x"), /symlink; not going through it/);
  assert.deepEqual(readdirSync(outside), []);
});

test("a file written in place just before a download's rename is kept as a conflict copy", async (t) => {
  const root = tempTree(t);
  writeFileSync(join(root, "page.html"), "scanned");
  const scanned = statSync(join(root, "page.html"), { bigint: true });
  const expected = { inode: scanned.ino, mtimeNs: scanned.mtimeNs, size: Number(scanned.size) };
  const replace = (keepChangedAt: string[]) =>
    writeFileAtomic(root, "page.html", Readable.from([Buffer.from("remote")]), {
      mode: 0o640,
      mtimeMs: 1_000_000,
      owner: {},
      expected,
      keepChangedAt,
    });

  const copies = ["page.fedsync-conflict-1.html", "page.fedsync-conflict-2.html"];
  writeFileSync(join(root, copies[0]!), "an older copy");
  const originalLink = fsPromises.link;
  t.after(() => {
    fsPromises.link = originalLink;
    syncBuiltinESMExports();
  });
  // The local write lands after the last check of the scanned version, right before the rename.
  fsPromises.link = async (existing, created) => {
    fsPromises.link = originalLink;
    syncBuiltinESMExports();
    writeFileSync(join(root, "page.html"), "written here meanwhile");
    return originalLink(existing, created);
  };
  syncBuiltinESMExports();
  const written = await replace(copies);

  assert.equal(written.keptChangedAt, copies[1]);
  assert.equal(readFileSync(join(root, "page.html"), "utf8"), "remote");
  assert.equal(readFileSync(join(root, copies[1]!), "utf8"), "written here meanwhile");
  assert.equal(readFileSync(join(root, copies[0]!), "utf8"), "an older copy");
  assert.deepEqual(readdirSync(root).sort(), [
    "page.fedsync-conflict-1.html",
    "page.fedsync-conflict-2.html",
    "page.html",
  ]);

  const now = statSync(join(root, "page.html"), { bigint: true });
  const unchanged = await writeFileAtomic(root, "page.html", Readable.from([Buffer.from("again")]), {
    mode: 0o640,
    mtimeMs: 2_000_000,
    owner: {},
    expected: { inode: now.ino, mtimeNs: now.mtimeNs, size: Number(now.size) },
    keepChangedAt: copies,
  });
  assert.equal(unchanged.keptChangedAt, undefined);
  assert.equal(readFileSync(join(root, "page.html"), "utf8"), "again");
  assert.equal(readdirSync(root).length, 3, "the replaced version's second name is gone");
});

test("missing parents are created and the file gets its mode and mtime from the descriptor", async (t) => {
  const root = tempTree(t);
  await write(root, "a/b/c.txt", "hello");
  assert.equal(readFileSync(join(root, "a/b/c.txt"), "utf8"), "hello");
  const stats = statSync(join(root, "a/b/c.txt"));
  assert.equal(stats.mode & 0o7777, 0o640);
  assert.equal(stats.mtimeMs, 1_000_000);
});

test("a write that must create refuses to replace a file that appeared", async (t) => {
  const root = tempTree(t);
  writeFileSync(join(root, "taken.txt"), "someone else's");
  await assert.rejects(write(root, "taken.txt", "mine", null), /appeared since it was scanned/);
  assert.equal(readFileSync(join(root, "taken.txt"), "utf8"), "someone else's");
});

test("conflict copies never replace a file: a taken name gets a counter", async (t) => {
  const root = tempTree(t);
  mkdirSync(join(root, "d"));
  const candidates = conflictCopyKeys("d/r.txt", "web2", Date.UTC(2026, 10, 25, 14, 30));
  writeFileSync(join(root, candidates[0]!), "an earlier copy");
  writeFileSync(join(root, "d/r.txt"), "mine");
  assert.equal(await firstFreeKey(root, candidates), "d/r.fedsync-conflict-20261125-143000-web2-2.txt");
  const stats = statSync(join(root, "d/r.txt"), { bigint: true });
  const moved = await moveAside(root, "d/r.txt", candidates, {
    inode: stats.ino,
    mtimeNs: stats.mtimeNs,
    size: Number(stats.size),
  });
  assert.equal(moved, candidates[1]);
  assert.equal(readFileSync(join(root, candidates[0]!), "utf8"), "an earlier copy");
  assert.equal(readFileSync(join(root, moved), "utf8"), "mine");
});

test("a conflict copy of a long name is shortened to fit a file name, never inside a character", () => {
  const long = `dir/${"é".repeat(120)}.txt`;
  const copy = conflictCopyKey(long, "web2", 0, 3);
  const name = copy.slice(4);
  assert.ok(Buffer.byteLength(name) <= 255, `${Buffer.byteLength(name)} bytes`);
  assert.match(name, /^é+\.fedsync-conflict-19700101-000000-web2-3\.txt$/);
  assert.equal(validateEntryKey(copy), null);
});

test("a conflict copy's name gives back the original key and the machine whose version it holds", () => {
  const at = Date.UTC(2026, 10, 25, 14, 30, 0);
  for (const [key, machine] of [
    ["docs/report.txt", "web2"],
    ["docs/report.tar.gz", "web-02"],
    [".htaccess", "a"],
    ["Makefile", "machine-b"],
  ] as const) {
    const copy = conflictCopyKey(key, machine, at);
    assert.deepEqual(parseConflictCopy(copy), { original: key, machine }, copy);
  }
  assert.equal(parseConflictCopy("docs/report.txt"), undefined);
});
