import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { SetConfig } from "../../src/config/types.js";
import { IgnoreRulesInForce } from "../../src/reconcile/ignore-rules.js";
import { compileIgnore } from "../../src/scan/ignore.js";
import { MAX_IGNORE_FILE_BYTES, parseIgnoreFile, readIgnoreFile } from "../../src/scan/ignore-file.js";

function tempDir(t: { after(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), "fedsync-ignore-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** The keys of `keys` the rules ignore. */
function ignoredOf(rules: string[], keys: string[]): string[] {
  const ignored = compileIgnore(rules);
  return keys.filter((key) => ignored(key));
}

test("a negation brings a file back instead of ignoring everything else", () => {
  assert.deepEqual(
    ignoredOf(["*.log", "!keep.log"], ["a.log", "keep.log", "d/b.log", "d/keep.log", "notes.txt", "d/"]),
    ["a.log", "d/b.log"],
  );
  assert.deepEqual(ignoredOf(["!keep.txt"], ["keep.txt", "other.txt"]), []);
});

test("the last rule that matches decides, and nothing under an excluded directory comes back", () => {
  assert.deepEqual(ignoredOf(["!a.txt", "*.txt"], ["a.txt", "b.txt"]), ["a.txt", "b.txt"]);
  assert.deepEqual(ignoredOf(["logs/", "!logs/keep.log"], ["logs/", "logs/keep.log", "logs/x"]), [
    "logs/",
    "logs/keep.log",
    "logs/x",
  ]);
  // Ignoring the contents rather than the directory leaves room for a re-inclusion.
  assert.deepEqual(ignoredOf(["logs/*", "!logs/keep.log"], ["logs/", "logs/keep.log", "logs/x"]), ["logs/x"]);
});

test("a slash at the start or in the middle anchors a rule at the set root; without one it matches at any depth", () => {
  const keys = ["build/", "build/out", "src/build/", "src/build/out", "doc/frotz", "a/doc/frotz", "x/build"];
  assert.deepEqual(ignoredOf(["/build"], keys), ["build/", "build/out"]);
  assert.deepEqual(ignoredOf(["build"], keys), [
    "build/",
    "build/out",
    "src/build/",
    "src/build/out",
    "x/build",
  ]);
  assert.deepEqual(ignoredOf(["doc/frotz"], keys), ["doc/frotz"]);
  assert.deepEqual(ignoredOf(["**/frotz"], keys), ["doc/frotz", "a/doc/frotz"]);
});

test("a trailing slash matches directories only", () => {
  assert.deepEqual(ignoredOf(["tmp/"], ["tmp/", "tmp/x", "a/tmp/", "a/tmp/y", "tmp", "a/tmp"]), [
    "tmp/",
    "tmp/x",
    "a/tmp/",
    "a/tmp/y",
  ]);
});

test("** matches any number of directories; a/** what is inside a, not a itself", () => {
  const keys = ["a/", "a/x", "a/b/", "a/b/c", "x/a/b/", "a/m/n/b/", "b/"];
  assert.deepEqual(ignoredOf(["a/**"], keys), ["a/x", "a/b/", "a/b/c", "a/m/n/b/"]);
  assert.deepEqual(ignoredOf(["a/**/b/"], keys), ["a/b/", "a/b/c", "a/m/n/b/"]);
  assert.deepEqual(ignoredOf(["**/b/"], keys), ["a/b/", "a/b/c", "x/a/b/", "a/m/n/b/", "b/"]);
});

test("escapes: a literal leading ! or #, a kept trailing space; unescaped trailing spaces are dropped", () => {
  const keys = ["!important", "#notes", "name ", "name", "*star", "xstar"];
  assert.deepEqual(ignoredOf(["\\!important", "\\#notes"], keys), ["!important", "#notes"]);
  assert.deepEqual(ignoredOf(["name\\ "], keys), ["name "]);
  assert.deepEqual(ignoredOf(["name   "], keys), ["name"]);
  assert.deepEqual(ignoredOf(["\\*star"], keys), ["*star"]);
});

test("matching is case-sensitive, and ? and [...] stand for one byte as in git", () => {
  assert.deepEqual(ignoredOf(["Foo"], ["Foo", "foo", "FOO"]), ["Foo"]);
  assert.deepEqual(ignoredOf(["[[:upper:]]*"], ["Foo", "foo"]), ["Foo"]);
  assert.deepEqual(ignoredOf(["?.txt"], ["é.txt", "e.txt"]), ["e.txt"]);
  assert.deepEqual(ignoredOf(["??.txt"], ["é.txt", "e.txt"]), ["é.txt"]);
});

test("fedsync's temporary files are ignored whatever the rules say", () => {
  assert.deepEqual(ignoredOf(["!*"], [".fedsync-tmp-1", "d/.fedsync-tmp-x/inner", "plain"]), [
    ".fedsync-tmp-1",
    "d/.fedsync-tmp-x/inner",
  ]);
});

test("answers stay the same when the matcher starts afresh on a large tree", () => {
  const ignored = compileIgnore(["*.o", "!keep.o", "out/"]);
  let count = 0;
  for (let i = 0; i < 25_000; i++) {
    const dir = `d${i % 500}/`;
    if (ignored(`${dir}f${i}.o`)) count++;
    assert.equal(ignored(`${dir}keep.o`), false);
    assert.equal(ignored(`out/${dir}x`), true);
  }
  assert.equal(count, 25_000);
});

test("an ignore file is read as git reads a .gitignore: comments, blank lines, CRLF, a BOM", () => {
  const text = "\uFEFF# comment\n\n*.log\r\n!keep.log\n   \n\\#hash\ntmp/  \n";
  assert.deepEqual(parseIgnoreFile(Buffer.from(text, "utf8")), {
    rules: ["*.log", "!keep.log", "\\#hash", "tmp/  "],
    skipped: [],
  });
});

test("lines that can never match are skipped with their line number and why", () => {
  const bytes = Buffer.concat([
    Buffer.from("ok\n[ab\nfoo\\\n!\n[[:nope:]]x\n", "utf8"),
    Buffer.from([0x66, 0xff, 0x0a]),
    Buffer.from("last", "utf8"),
  ]);
  const parsed = parseIgnoreFile(bytes);
  assert.deepEqual(parsed.rules, ["ok", "last"]);
  assert.deepEqual(
    parsed.skipped.map(({ line, problem }) => [line, problem]),
    [
      [2, 'has a "[" without a closing "]" (write "\\[" for a literal "[")'],
      [3, 'ends in a lone "\\", which matches nothing'],
      [4, 'is a lone "!", which matches nothing'],
      [5, 'names an unknown character class "[:nope:]"'],
      [6, "is not UTF-8"],
    ],
  );
});

test("readIgnoreFile: a missing file has no rules; a symlink, a FIFO, a directory or an oversized file is refused", async (t) => {
  const root = tempDir(t);
  assert.deepEqual(await readIgnoreFile(root, ".fedsyncignore"), { rules: [], skipped: [] });

  writeFileSync(join(root, "rules"), "*.tmp\n");
  assert.deepEqual(await readIgnoreFile(root, "rules"), { rules: ["*.tmp"], skipped: [] });

  writeFileSync(join(root, "elsewhere"), "*\n");
  symlinkSync("elsewhere", join(root, "link"));
  assert.deepEqual(await readIgnoreFile(root, "link"), {
    error: `ignore file ${join(root, "link")} is a symlink (not followed)`,
  });

  // Opening a FIFO for reading would wait for a writer: it must be refused at once.
  execFileSync("mkfifo", [join(root, "fifo")]);
  assert.deepEqual(await readIgnoreFile(root, "fifo"), {
    error: `ignore file ${join(root, "fifo")} is not a regular file`,
  });
  mkdirSync(join(root, "dir"));
  assert.deepEqual(await readIgnoreFile(root, "dir"), {
    error: `ignore file ${join(root, "dir")} is not a regular file`,
  });

  writeFileSync(join(root, "big"), "x\n".repeat(MAX_IGNORE_FILE_BYTES / 2 + 1));
  assert.deepEqual(await readIgnoreFile(root, "big"), {
    error: `ignore file ${join(root, "big")} is larger than ${MAX_IGNORE_FILE_BYTES} bytes`,
  });
  writeFileSync(join(root, "limit"), "x\n".repeat(MAX_IGNORE_FILE_BYTES / 2));
  const limit = await readIgnoreFile(root, "limit");
  assert.ok("rules" in limit && limit.rules.length === MAX_IGNORE_FILE_BYTES / 2);
});

test("the rules in force say when a load changed them, or follows one that failed", () => {
  const loaded = (rules: string[]) => ({ rules, ignored: compileIgnore(rules) });
  const inForce = new IgnoreRulesInForce({ ignore: ["*.swp"] } as SetConfig);
  assert.equal(inForce.ignored("a.swp"), true);
  assert.equal(inForce.update(loaded(["*.swp"])), false, "the first load");
  assert.equal(inForce.update(loaded(["*.swp"])), false);
  assert.equal(inForce.update(loaded(["*.swp", "*.tmp"])), true);
  assert.equal(inForce.ignored("a.tmp"), true, "the watcher follows the new rules");
  assert.equal(inForce.update({ error: "ignore file is a symlink" }), false);
  assert.equal(inForce.ignored("a.tmp"), true, "a failed load keeps the rules in force");
  assert.equal(inForce.update(loaded(["*.swp", "*.tmp"])), true, "the load after a failure");
  assert.equal(inForce.update(loaded(["*.swp", "*.tmp"])), false);
});
