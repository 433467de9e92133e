import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { once } from "node:events";
import {
  chmodSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  unlinkSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { test } from "node:test";
import { Journal } from "../../src/journal/journal.js";
import type { FileRow } from "../../src/journal/types.js";
import {
  compareKeys,
  problemCovers,
  type LocalEntry,
  type ScanItem,
  type ScanProblem,
} from "../../src/scan/entry.js";
import { hashTreeFile, sha256File, NotRegularFileError } from "../../src/scan/hash.js";
import { RefusedError } from "../../src/scan/anchored.js";
import { compileIgnore } from "../../src/scan/ignore.js";
import { unchangedSinceBase } from "../../src/reconcile/unchanged.js";
import { scanSubtree, scanTree, ScanRootError, statEntry } from "../../src/scan/walk.js";

const repoRoot = resolve(import.meta.dirname, "../..");

function tempDir(t: { after(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), "fedsync-scan-"));
  t.after(() => {
    execFileSync("chmod", ["-R", "u+rwx", dir]);
    rmSync(dir, { recursive: true, force: true });
  });
  return dir;
}

/** Creates files (content = their path) and directories (keys ending in `/`) under root. */
function makeTree(root: string, keys: string[]): void {
  for (const key of keys) {
    const path = join(root, key);
    if (key.endsWith("/")) mkdirSync(path, { recursive: true });
    else {
      mkdirSync(dirname(path), { recursive: true });
      writeFileSync(path, key);
    }
  }
}

async function collect(items: AsyncIterable<ScanItem>): Promise<ScanItem[]> {
  const all: ScanItem[] = [];
  for await (const item of items) all.push(item);
  return all;
}

function entries(items: ScanItem[]): LocalEntry[] {
  return items.flatMap((item) => (item.kind === "entry" ? [item.entry] : []));
}

function problems(items: ScanItem[]): ScanProblem[] {
  return items.flatMap((item) => (item.kind === "problem" ? [item.problem] : []));
}

function rowFromEntry(set: string, entry: LocalEntry, syncedAt: number, sha256: string | null): FileRow {
  return {
    set,
    path: entry.key,
    type: entry.type,
    size: entry.size,
    mtimeMs: entry.mtimeMs,
    mtimeNs: entry.mtimeNs,
    ctimeNs: entry.ctimeNs,
    inode: entry.inode,
    mode: entry.mode,
    owner: null,
    group: null,
    sha256,
    target: entry.target ?? null,
    remoteEtag: null,
    remoteLastModified: null,
    syncedAt,
  };
}

test("the walk comes out in UTF-8 byte order of entry keys, directories as name + '/'", async (t) => {
  const root = tempDir(t);
  makeTree(root, [
    "a/b",
    "a/b.txt",
    "a/c/x",
    "a-b",
    "a.b",
    "a0",
    "é",
    "😀.txt",
    "\uff01",
    "Z",
    ".hidden",
    "e/",
  ]);
  symlinkSync("a/b", join(root, "link"));
  const items = await collect(scanTree(root, { ignored: compileIgnore([]) }));
  assert.deepEqual(problems(items), []);
  const keys = entries(items).map((e) => e.key);
  assert.deepEqual(keys, [
    ".hidden",
    "Z",
    "a-b",
    "a.b",
    "a/",
    "a/b",
    "a/b.txt",
    "a/c/",
    "a/c/x",
    "a0",
    "e/",
    "link",
    "é",
    "\uff01",
    "😀.txt",
  ]);
  const bytewise = [...keys].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)));
  assert.deepEqual(keys, bytewise);
  assert.deepEqual([...keys].sort(compareKeys), keys);

  const byKey = new Map(entries(items).map((e) => [e.key, e]));
  const file = byKey.get("a/b.txt")!;
  const stats = statSync(join(root, "a/b.txt"), { bigint: true });
  assert.equal(file.type, "file");
  assert.equal(file.size, "a/b.txt".length);
  assert.equal(file.mtimeNs, stats.mtimeNs);
  assert.equal(file.ctimeNs, stats.ctimeNs);
  assert.equal(file.inode, stats.ino);
  assert.equal(file.mtimeMs, Number(stats.mtimeMs));
  assert.equal(file.mode, Number(stats.mode) & 0o7777);
  assert.deepEqual(
    [byKey.get("link")!.type, byKey.get("link")!.target, byKey.get("link")!.size],
    ["symlink", "a/b", 0],
  );
  assert.deepEqual([byKey.get("e/")!.type, byKey.get("e/")!.size], ["dir", 0]);
});

test("the walk skips ignored paths and never reads an ignored directory, and skips temporary files", async (t) => {
  const root = tempDir(t);
  makeTree(root, [
    "cache/x",
    "cache/y/z",
    "sub/cache/kept",
    "a.swp",
    "sub/b.swp",
    "build/out",
    "sub/build/kept",
    "tmp/inner",
    "tmp/keep.txt",
    "sub/tmp",
    "keep.txt",
    "app.log",
    "logs/keep.log",
    ".fedsync-tmp-0a1b2c",
    "sub/.fedsync-tmp-x/inner",
  ]);
  // `cache/**` (gitignore) ignores what is inside the root's cache, not the directory itself; nothing
  // under the ignored tmp/ comes back, not even keep.txt, which a later rule re-includes.
  const ignore = ["cache/**", "*.swp", "/build", "tmp/", "*.log", "!keep.*"];
  const items = await collect(scanTree(root, { ignored: compileIgnore(ignore) }));
  assert.deepEqual(problems(items), []);
  assert.deepEqual(
    entries(items).map((e) => e.key),
    [
      "cache/",
      "keep.txt",
      "logs/",
      "logs/keep.log",
      "sub/",
      "sub/build/",
      "sub/build/kept",
      "sub/cache/",
      "sub/cache/kept",
      "sub/tmp",
    ],
  );
});

test("FIFOs and sockets are reported as special files, in order, and the rest is still scanned", async (t) => {
  const root = tempDir(t);
  makeTree(root, ["a", "z"]);
  execFileSync("mkfifo", [join(root, "fifo")]);
  const server = createServer();
  server.listen(join(root, "sock"));
  await once(server, "listening");
  t.after(() => server.close());

  const items = await collect(scanTree(root, { ignored: compileIgnore([]) }));
  assert.deepEqual(
    items.map((item) =>
      item.kind === "entry" ? item.entry.key : `${item.problem.reason}:${item.problem.key}`,
    ),
    ["a", "special-file:fifo", "special-file:sock", "z"],
  );
  assert.match(problems(items)[0]!.detail, /FIFO/);
  assert.match(problems(items)[1]!.detail, /socket/);
  assert.equal(((await statEntry(root, "fifo")) as ScanProblem).reason, "special-file");
});

test("an unreadable directory is a problem covering its subtree, never an empty directory", async (t) => {
  const root = tempDir(t);
  makeTree(root, ["ok/file", "locked/secret", "locked/deeper/more", "noexec/f", "zz"]);
  chmodSync(join(root, "locked"), 0o000);
  chmodSync(join(root, "noexec"), 0o644); // listable, but its entries cannot be stat'ed
  // Root reads anything, so as root the scan runs in a child without the capabilities that bypass
  // permission checks: the kernel then refuses it exactly as it refuses an ordinary user.
  const code = `
    const { scanTree, statEntry } = await import("./src/scan/walk.ts");
    const items = [];
    for await (const item of scanTree(process.env.ROOT, { ignored: () => false })) {
      items.push(item.kind === "entry" ? item.entry.key : item.problem.reason + ":" + item.problem.key);
    }
    const single = await statEntry(process.env.ROOT, "locked/secret");
    process.stdout.write(JSON.stringify({ items, single }));
  `;
  const node = [process.execPath, "--import", "tsx", "--input-type=module", "-e", code];
  const dropped = "-dac_override,-dac_read_search";
  const command =
    process.getuid!() === 0
      ? ["setpriv", `--bounding-set=${dropped}`, `--inh-caps=${dropped}`, "--", ...node]
      : node;
  const child = spawn(command[0]!, command.slice(1), { cwd: repoRoot, env: { ...process.env, ROOT: root } });
  let output = "";
  child.stdout.setEncoding("utf8").on("data", (chunk: string) => (output += chunk));
  child.stderr.pipe(process.stderr);
  const [exitCode] = await once(child, "exit");
  assert.equal(exitCode, 0);
  const { items, single } = JSON.parse(output) as { items: string[]; single: ScanProblem };
  assert.deepEqual(items, ["unreadable:locked/", "noexec/", "unreadable:noexec/f", "ok/", "ok/file", "zz"]);
  assert.equal(single.reason, "unreadable");
  assert.match(single.detail, /EACCES/);
  for (const journalPath of ["locked/", "locked/secret", "locked/deeper/more"]) {
    assert.ok(problemCovers("locked/", journalPath), journalPath);
  }
  assert.ok(problemCovers("noexec/f", "noexec/f"));
  assert.ok(!problemCovers("locked/", "locked-not/x"));
  assert.ok(!problemCovers("locked/", "lockedx"));
});

test("names that are not UTF-8 are reported, and nothing below them is scanned", async (t) => {
  const root = tempDir(t);
  makeTree(root, ["good"]);
  const rootBytes = Buffer.from(`${root}/`);
  writeFileSync(Buffer.concat([rootBytes, Buffer.from([0x66, 0xff, 0x66])]), "x");
  const badDir = Buffer.concat([rootBytes, Buffer.from([0x64, 0xc3])]);
  mkdirSync(badDir);
  writeFileSync(Buffer.concat([badDir, Buffer.from("/inside")]), "x");
  symlinkSync(Buffer.from([0x74, 0xfe]), join(root, "badlink"));

  const items = await collect(scanTree(root, { ignored: compileIgnore([]) }));
  assert.deepEqual(
    entries(items).map((e) => e.key),
    ["good"],
  );
  const found = problems(items);
  assert.deepEqual(
    found.map((p) => p.reason),
    ["invalid-name", "invalid-name", "invalid-name"],
  );
  assert.ok(found.some((p) => p.key === "badlink" && /74fe/.test(p.detail)));
  assert.ok(found.some((p) => /66ff66/.test(p.detail)));
  assert.ok(found.some((p) => /64c3/.test(p.detail)));
});

test("a path whose object key would pass the datastore's 1,024 bytes is one problem, not scanned below", async (t) => {
  const root = tempDir(t);
  const long = "d".repeat(250);
  // Four levels of 251 bytes make a key of 1,004 bytes; "web/" and a 16-byte name fill the 1,024 exactly.
  const deep = `${long}/${long}/${long}/${long}`;
  makeTree(root, [
    `${deep}/${"e".repeat(20)}/x.txt`,
    `${deep}/${"f".repeat(12)}.txt`,
    `${deep}/${"g".repeat(13)}.txt`,
    "short",
  ]);
  const scans = [
    scanTree(root, { ignored: compileIgnore([]), prefix: "web/" }),
    scanSubtree(root, `${long}/`, { ignored: compileIgnore([]), prefix: "web/" }),
  ];
  for (const scan of scans) {
    const items = await collect(scan);
    const found = problems(items);
    assert.deepEqual(
      found.map((p) => [p.key.length, p.reason]),
      [
        [1025, "too-long"],
        [1021, "too-long"],
      ],
    );
    assert.equal(
      found[0]!.detail,
      "its object key would be 1029 bytes with the prefix web/, over the datastore's limit of 1024; not synced",
    );
    assert.ok(entries(items).some((e) => e.key === `${deep}/${"f".repeat(12)}.txt`));
    assert.ok(!entries(items).some((e) => e.key.endsWith("x.txt")));
  }
  // Without a prefix (rebuild-journal, history) nothing is refused.
  assert.equal(problems(await collect(scanTree(root, { ignored: compileIgnore([]) }))).length, 0);
});

test("entries deleted after their directory was listed are skipped without error", async (t) => {
  const root = tempDir(t);
  const names = Array.from({ length: 300 }, (_, i) => `f${String(i).padStart(3, "0")}`);
  makeTree(root, names);
  const seen: string[] = [];
  for await (const item of scanTree(root, { ignored: compileIgnore([]) })) {
    assert.equal(item.kind, "entry");
    if (item.kind === "entry") seen.push(item.entry.key);
    if (seen.length === 1) names.slice(200).forEach((name) => unlinkSync(join(root, name)));
  }
  assert.deepEqual(seen, names.slice(0, 200));
});

test("a missing or non-directory set root is an error, not an empty tree", async (t) => {
  const root = tempDir(t);
  makeTree(root, ["file"]);
  await assert.rejects(collect(scanTree(join(root, "missing"), { ignored: compileIgnore([]) })), {
    name: "ScanRootError",
    message: /is missing/,
  });
  await assert.rejects(collect(scanTree(join(root, "file"), { ignored: compileIgnore([]) })), ScanRootError);
});

test("scanSubtree and statEntry look at one place, never through a symlink", async (t) => {
  const root = tempDir(t);
  makeTree(root, ["d/x", "d/y/z", "d-e", "dx", "skip/me"]);
  symlinkSync("d", join(root, "link"));
  symlinkSync("/etc", join(root, "etc"));
  const keys = async (dirKey: string) =>
    (await collect(scanSubtree(root, dirKey, { ignored: compileIgnore(["skip"]) }))).map((item) =>
      item.kind === "entry" ? item.entry.key : item.problem.key,
    );
  assert.deepEqual(await keys("d/"), ["d/x", "d/y/", "d/y/z"]);
  assert.deepEqual(await keys("d/y/"), ["d/y/z"]);
  assert.deepEqual(await keys("link/"), []);
  assert.deepEqual(await keys("etc/"), []);
  assert.deepEqual(await keys("missing/"), []);
  assert.deepEqual(await keys("skip/"), []);
  assert.deepEqual(await keys(""), ["d-e", "d/", "d/x", "d/y/", "d/y/z", "dx", "etc", "link"]);

  assert.equal(((await statEntry(root, "d/x")) as LocalEntry).size, 3);
  assert.equal(((await statEntry(root, "d")) as LocalEntry).key, "d/");
  assert.equal(((await statEntry(root, "dx/")) as LocalEntry).key, "dx");
  assert.equal(((await statEntry(root, "link")) as LocalEntry).target, "d");
  assert.equal(await statEntry(root, "link/x"), null);
  assert.equal(await statEntry(root, "etc/passwd"), null);
  assert.equal(await statEntry(root, "nothing"), null);
  assert.equal(await statEntry(root, "dx/below"), null);
  assert.equal(((await statEntry(root, "../escape")) as ScanProblem).reason, "invalid-name");
});

test("sha256File streams the bytes of a regular file and refuses anything else", async (t) => {
  const root = tempDir(t);
  const big = Buffer.alloc(3 * 1024 * 1024 + 17, 7);
  writeFileSync(join(root, "big"), big);
  writeFileSync(join(root, "empty"), "");
  symlinkSync("big", join(root, "link"));
  execFileSync("mkfifo", [join(root, "fifo")]);
  assert.equal(await sha256File(join(root, "big")), createHash("sha256").update(big).digest("hex"));
  assert.equal(
    await sha256File(join(root, "empty")),
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
  );
  await assert.rejects(sha256File(join(root, "link")), NotRegularFileError);
  await assert.rejects(sha256File(join(root, "fifo")), NotRegularFileError);
  await assert.rejects(sha256File(join(root, "absent")), { code: "ENOENT" });
});

test("the racy rule: a stat is trusted only for files older than the agreement by 2 s", async (t) => {
  const root = tempDir(t);
  makeTree(root, ["f"]);
  symlinkSync("f", join(root, "l"));
  const entry = (await statEntry(root, "f")) as LocalEntry;
  const now = Date.now();
  assert.ok(
    !unchangedSinceBase(entry, rowFromEntry("s", entry, now, null)),
    "just written: must be re-hashed",
  );
  const base = rowFromEntry("s", entry, entry.mtimeMs + 2000, null);
  assert.ok(unchangedSinceBase(entry, base));
  assert.ok(!unchangedSinceBase(entry, { ...base, size: base.size + 1 }));
  assert.ok(!unchangedSinceBase(entry, { ...base, inode: base.inode + 1n }));
  assert.ok(!unchangedSinceBase(entry, { ...base, mtimeNs: base.mtimeNs + 1n }));
  assert.ok(!unchangedSinceBase(entry, { ...base, ctimeNs: base.ctimeNs + 1n }));
  assert.ok(!unchangedSinceBase(entry, { ...base, type: "symlink" }));
  const link = (await statEntry(root, "l")) as LocalEntry;
  const linkBase = rowFromEntry("s", link, link.mtimeMs + 5000, null);
  assert.ok(unchangedSinceBase(link, linkBase));
  assert.ok(!unchangedSinceBase(link, { ...linkBase, target: "g" }));
});

test("over 10,000 unchanged files a second scan trusts every stat, and exactly a modified file is not", async (t) => {
  const root = tempDir(t);
  const journal = Journal.open(join(root, ".state"));
  t.after(() => journal.close());
  const tree = join(root, "tree");
  const past = new Date(Date.now() - 10_000);
  for (let d = 0; d < 100; d++) {
    const dir = join(tree, `dir${String(d).padStart(2, "0")}`);
    mkdirSync(dir, { recursive: true });
    for (let f = 0; f < 100; f++) {
      const path = join(dir, `file${String(f).padStart(2, "0")}.txt`);
      writeFileSync(path, `content ${d} ${f}\n`);
      utimesSync(path, past, past);
    }
  }

  let hashed = 0;
  const firstPass: FileRow[] = [];
  for await (const item of scanTree(tree, { ignored: compileIgnore([]) })) {
    assert.equal(item.kind, "entry");
    if (item.kind !== "entry") continue;
    const sha256 = item.entry.type === "file" ? await sha256File(join(tree, item.entry.key)) : null;
    if (sha256 !== null) hashed++;
    firstPass.push(rowFromEntry("web", item.entry, 0, sha256));
  }
  assert.equal(hashed, 10_000);
  const syncedAt = Date.now();
  journal.transaction(() => firstPass.forEach((row) => journal.putFile({ ...row, syncedAt })));

  /** Merge-joins a fresh scan with the journal, both in key order, and lists the files needing a read. */
  async function filesToHash(): Promise<{ toHash: string[]; files: number }> {
    const rows = journal.filesInOrder("web");
    const toHash: string[] = [];
    let files = 0;
    for await (const item of scanTree(tree, { ignored: compileIgnore([]) })) {
      assert.equal(item.kind, "entry");
      if (item.kind !== "entry") continue;
      const base = rows.next();
      assert.ok(!base.done);
      assert.equal(base.value.path, item.entry.key);
      if (item.entry.type !== "file") continue;
      files++;
      if (!unchangedSinceBase(item.entry, base.value)) toHash.push(item.entry.key);
    }
    assert.ok(rows.next().done);
    return { toHash, files };
  }

  assert.deepEqual(await filesToHash(), { toHash: [], files: 10_000 });

  // Same size, and the old mtime put back: only the ctime tells.
  const modified = join(tree, "dir42/file17.txt");
  const original = readFileSync(modified, "utf8");
  writeFileSync(modified, original.toUpperCase());
  utimesSync(modified, past, past);
  assert.deepEqual(await filesToHash(), { toHash: ["dir42/file17.txt"], files: 10_000 });
});

test("a file written between its scan and its hashing is refused, not hashed as whatever the read caught", async (t) => {
  const root = tempDir(t);
  writeFileSync(join(root, "a.txt"), "a web 91\n");
  const scanned = (await statEntry(root, "a.txt")) as LocalEntry;
  assert.equal((await hashTreeFile(root, "a.txt", scanned, 1024)).content?.toString(), "a web 91\n");
  // Written in place (same inode): a read bounded by the scanned size would give "a web 121", never written.
  writeFileSync(join(root, "a.txt"), "a web 121\n");
  await assert.rejects(hashTreeFile(root, "a.txt", scanned, 1024), RefusedError);
  await assert.rejects(hashTreeFile(root, "a.txt", scanned), RefusedError);
  // Same size, new mtime: the bytes no longer go with the scanned metadata either.
  const resized = (await statEntry(root, "a.txt")) as LocalEntry;
  writeFileSync(join(root, "a.txt"), "b web 121\n");
  utimesSync(join(root, "a.txt"), new Date(1_000_000), new Date(1_000_000));
  await assert.rejects(hashTreeFile(root, "a.txt", resized, 1024), RefusedError);
});
