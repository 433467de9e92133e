import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { test } from "node:test";
import Database from "better-sqlite3";
import { JournalError } from "../../src/journal/errors.js";
import { Journal } from "../../src/journal/journal.js";
import { totalEntries } from "../../src/journal/types.js";
import { acquireStateLock, LOCK_FILE } from "../../src/journal/lock.js";
import { loadMigrations } from "../../src/journal/migrations.js";
import type { FileRow } from "../../src/journal/types.js";
import { compareKeys } from "../../src/scan/entry.js";

const repoRoot = resolve(import.meta.dirname, "../..");
const newestSchema = loadMigrations().at(-1)!.version;

function tempDir(t: { after(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), "fedsync-journal-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function row(set: string, path: string, extra: Partial<FileRow> = {}): FileRow {
  return {
    set,
    path,
    type: path.endsWith("/") ? "dir" : "file",
    size: 10,
    mtimeMs: 1_700_000_000_123,
    mtimeNs: 1_700_000_000_123_456_789n,
    ctimeNs: 1_700_000_000_223_456_789n,
    inode: 42n,
    mode: 0o644,
    owner: "www-data",
    group: "www-data",
    sha256: "ab".repeat(32),
    target: null,
    remoteEtag: '"etag"',
    remoteLastModified: 1_700_000_001_000,
    syncedAt: 1_700_000_002_000,
    ...extra,
  };
}

/** Starts a node child running `code` (ESM, TypeScript imports allowed) and waits until it prints "ready". */
async function startChild(code: string, env: Record<string, string>): Promise<ChildProcess> {
  const child = spawn(process.execPath, ["--import", "tsx", "--input-type=module", "-e", code], {
    cwd: repoRoot,
    env: { ...process.env, ...env },
    stdio: ["pipe", "pipe", "inherit"],
  });
  let output = "";
  child.stdout!.setEncoding("utf8");
  await new Promise<void>((resolveReady, reject) => {
    child.stdout!.on("data", (chunk: string) => {
      output += chunk;
      if (output.includes("ready")) resolveReady();
    });
    child.once("exit", (codeOrNull) => reject(new Error(`child exited with ${codeOrNull} before ready`)));
  });
  return child;
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, "exit");
  child.kill("SIGKILL");
  await exited;
}

test("a fresh journal is created with its schema and keeps its data across reopening", (t) => {
  const stateDir = join(tempDir(t), "state");
  const journal = Journal.open(stateDir);
  assert.equal(statSync(stateDir).mode & 0o777, 0o700);
  journal.putFile(row("web", "index.html"));
  journal.updateSetState("web", { lastFullPass: 5, lastLogKey: "2026-log-1" });
  journal.close();

  const raw = new Database(join(stateDir, "journal.db"), { readonly: true });
  assert.equal(raw.pragma("journal_mode", { simple: true }), "wal");
  const versions = raw.prepare("SELECT version, applied_at FROM schema_version ORDER BY version").all() as {
    version: number;
    applied_at: number;
  }[];
  raw.close();
  assert.deepEqual(
    versions.map((v) => v.version),
    Array.from({ length: newestSchema }, (_, i) => i + 1),
  );

  const reopened = Journal.open(stateDir);
  t.after(() => reopened.close());
  assert.deepEqual(reopened.getFile("web", "index.html"), row("web", "index.html"));
  assert.equal(reopened.getSetState("web").lastLogKey, "2026-log-1");
  const again = new Database(join(stateDir, "journal.db"), { readonly: true });
  assert.deepEqual(
    again.prepare("SELECT version, applied_at FROM schema_version ORDER BY version").all(),
    versions,
  );
  again.close();
});

test("a journal from a newer fedsync is refused with a clear message", (t) => {
  const stateDir = tempDir(t);
  Journal.open(stateDir).close();
  const raw = new Database(join(stateDir, "journal.db"));
  raw.prepare("INSERT INTO schema_version (version, applied_at) VALUES (999, 0)").run();
  raw.close();
  const expected = `journal schema 999 is newer than this fedsync knows (${newestSchema}); upgrade fedsync`;
  assert.throws(
    () => Journal.open(stateDir),
    (error) => error instanceof JournalError && error.message === expected,
  );
  assert.throws(() => Journal.open(stateDir, { readonly: true }), {
    name: "JournalError",
    message: expected,
  });
});

test("a corrupt journal file is refused with the way out", (t) => {
  const stateDir = tempDir(t);
  writeFileSync(join(stateDir, "journal.db"), "this is not a database\n".repeat(200));
  assert.throws(
    () => Journal.open(stateDir),
    (error) =>
      error instanceof JournalError &&
      /^journal .*journal\.db is corrupt: .+; run `fedsync rebuild-journal`$/.test(error.message),
  );
});

test("stat numbers round-trip exactly as bigint, including unsigned 64-bit inodes", (t) => {
  const journal = Journal.open(tempDir(t));
  t.after(() => journal.close());
  const extremes = row("web", "big", {
    mtimeNs: 9_007_199_254_740_993_123n,
    ctimeNs: 1_700_000_000_999_999_999n,
    inode: 2n ** 64n - 3n,
    size: 2 ** 40 + 7,
    mode: 0o4755,
  });
  journal.putFile(extremes);
  journal.putFile(row("web", "small", { inode: 2n ** 63n - 1n, mtimeNs: -5n }));
  assert.deepEqual(journal.getFile("web", "big"), extremes);
  assert.equal(journal.getFile("web", "small")!.inode, 2n ** 63n - 1n);
  assert.equal(journal.getFile("web", "small")!.mtimeNs, -5n);
  const symlink = row("web", "link", { type: "symlink", size: 0, sha256: null, target: "../x", owner: null });
  journal.putFile(symlink);
  assert.deepEqual(journal.getFile("web", "link"), symlink);
  assert.equal(journal.getFile("web", "missing"), undefined);
});

test("filesInOrder pages in byte order and tolerates writes between rows", (t) => {
  const journal = Journal.open(tempDir(t));
  t.after(() => journal.close());
  const paths = Array.from({ length: 10 }, (_, i) => `p0${i}`);
  journal.transaction(() => paths.forEach((p) => journal.putFile(row("web", p))));
  journal.putFile(row("other", "p035"));

  const seen: string[] = [];
  for (const file of journal.filesInOrder("web", "", 3)) {
    seen.push(file.path);
    journal.putFile({ ...file, syncedAt: 1 }); // the usual write: the row just handled
    if (file.path === "p00") journal.putFile(row("web", "p045")); // ahead, in a later page
    if (file.path === "p01") journal.deleteFile("web", "p07"); // ahead: must not come out
    if (file.path === "p02") journal.putFile(row("web", "p001")); // behind: must not come out
    if (file.path === "p03") journal.deleteFile("web", "p03");
  }
  assert.deepEqual(seen, ["p00", "p01", "p02", "p03", "p04", "p045", "p05", "p06", "p08", "p09"]);
  assert.deepEqual(
    [...journal.filesInOrder("web", "p05", 2)].map((f) => f.path),
    ["p06", "p08", "p09"],
  );
  assert.equal(journal.getFile("web", "p09")!.syncedAt, 1);
  assert.equal(totalEntries(journal.countByType("web")), 10);
  assert.equal(totalEntries(journal.countByType("other")), 1);
});

test("a set's entries are counted by type from the type index, without reading the rows", (t) => {
  const dir = tempDir(t);
  const journal = Journal.open(dir);
  t.after(() => journal.close());
  journal.transaction(() => {
    for (let i = 0; i < 20; i++) journal.putFile(row("web", `f${i}`));
    journal.putFile({ ...row("web", "d/"), type: "dir" });
    journal.putFile({ ...row("web", "l"), type: "symlink", target: "f1" });
    journal.putFile(row("other", "x"));
  });
  assert.deepEqual(journal.countByType("web"), { files: 20, directories: 1, symlinks: 1 });
  const raw = new Database(join(dir, "journal.db"), { readonly: true });
  t.after(() => raw.close());
  const plan = raw
    .prepare("EXPLAIN QUERY PLAN SELECT type, count(*) AS n FROM files WHERE set_name = ? GROUP BY type")
    .all("web") as { detail: string }[];
  assert.match(plan.map((step) => step.detail).join("; "), /USING COVERING INDEX files_by_type/);
});

test("paths sort in UTF-8 byte order, the order of compareKeys", (t) => {
  const journal = Journal.open(tempDir(t));
  t.after(() => journal.close());
  const paths = ["b", "a/", "a/x", "a-b", "a.b", "a", "é", "😀", "\uff01", "Z", "a0", "a/y/", "a/y/z"];
  journal.transaction(() => paths.forEach((p) => journal.putFile(row("web", p))));
  const expected = [...paths].sort(compareKeys);
  assert.deepEqual(
    [...journal.filesInOrder("web", "", 4)].map((f) => f.path),
    expected,
  );
  assert.deepEqual(
    [...journal.filesUnder("web", "a/", 2)].map((f) => f.path),
    ["a/", "a/x", "a/y/", "a/y/z"],
  );
  assert.deepEqual(
    [...journal.filesUnder("web", "a/y/")].map((f) => f.path),
    ["a/y/", "a/y/z"],
  );
  assert.equal([...journal.filesUnder("web", "")].length, paths.length);
});

test("pending paths coalesce, keep their first sighting, and survive a re-mark while handled", (t) => {
  const journal = Journal.open(tempDir(t));
  t.after(() => journal.close());
  journal.addPending("web", "b", "modify", 1000);
  journal.addPending("web", "a/", "create", 1001);
  journal.addPending("web", "b", "modify", 1002);
  journal.addPending("web", "b", "delete", 1003);
  journal.addPending("cfg", "x", "modify", 1004);
  assert.equal(journal.countPending("web"), 2);
  assert.deepEqual(journal.pendingPaths("web", 10), [
    { set: "web", path: "a/", reason: "create", firstSeen: 1001 },
    { set: "web", path: "b", reason: "modify,delete", firstSeen: 1000 },
  ]);
  assert.deepEqual(
    journal.pendingPaths("web", 1).map((p) => p.path),
    ["a/"],
  );

  const readAt = 2000;
  journal.addPending("web", "b", "modify", 2500); // arrives while "a/" and "b" are being handled
  journal.removePending("web", ["a/", "b"], readAt);
  assert.deepEqual(
    journal.pendingPaths("web", 10).map((p) => p.path),
    ["b"],
  );
  journal.removePending("web", ["b"]);
  assert.equal(journal.countPending("web"), 0);
  assert.equal(journal.countPending("cfg"), 1);
});

test("set state, conflicts, applied log records and forgetting a set", (t) => {
  const journal = Journal.open(tempDir(t));
  t.after(() => journal.close());
  assert.deepEqual(journal.getSetState("web"), {
    name: "web",
    lastFullPass: null,
    lastLogKey: null,
    lastGoodSync: null,
    lastError: null,
    lastPassMs: null,
    rootDev: null,
    rootIno: null,
    mounts: null,
    lastFullPassStarted: null,
    listedIgnoreRules: null,
    appliedThrough: null,
  });
  journal.updateSetState("web", { lastFullPass: 100, lastError: "bucket unreachable", lastPassMs: 12 });
  journal.updateSetState("web", { lastGoodSync: 200, lastError: null });
  assert.deepEqual(journal.getSetState("web"), {
    name: "web",
    lastFullPass: 100,
    lastLogKey: null,
    lastGoodSync: 200,
    lastError: null,
    lastPassMs: 12,
    rootDev: null,
    rootIno: null,
    mounts: null,
    lastFullPassStarted: null,
    listedIgnoreRules: null,
    appliedThrough: null,
  });

  const first = journal.addConflict({
    set: "web",
    path: "a.txt",
    copyPath: "a.fedsync-conflict-x.txt",
    winner: "web1",
    loser: "web2",
    at: 5,
  });
  journal.addConflict({
    set: "cfg",
    path: "b",
    copyPath: "b.fedsync-conflict-y",
    winner: "web2",
    loser: "web1",
    at: 3,
  });
  assert.deepEqual(
    journal.listConflicts().map((c) => c.path),
    ["b", "a.txt"],
  );
  assert.deepEqual(journal.listConflicts("web"), [
    {
      id: first,
      set: "web",
      path: "a.txt",
      copyPath: "a.fedsync-conflict-x.txt",
      winner: "web1",
      loser: "web2",
      at: 5,
    },
  ]);

  journal.markLogApplied("web", "20260101T000001Z-web2-1");
  journal.markLogApplied("web", "20260101T000001Z-web2-1");
  journal.markLogApplied("web", "20260101T000009Z-web2-2");
  assert.ok(journal.isLogApplied("web", "20260101T000001Z-web2-1"));
  assert.ok(!journal.isLogApplied("cfg", "20260101T000001Z-web2-1"));
  assert.equal(journal.pruneAppliedLog("web", "20260101T000005Z"), 1);
  assert.ok(!journal.isLogApplied("web", "20260101T000001Z-web2-1"));
  assert.ok(journal.isLogApplied("web", "20260101T000009Z-web2-2"));

  journal.putFile(row("web", "a.txt"));
  journal.addPending("web", "a.txt", "modify");
  journal.putFile(row("cfg", "b"));
  journal.deleteSet("web");
  assert.equal(totalEntries(journal.countByType("web")), 0);
  assert.equal(journal.countPending("web"), 0);
  assert.equal(journal.getSetState("web").lastFullPass, null);
  assert.deepEqual(journal.listConflicts("web"), []);
  assert.ok(!journal.isLogApplied("web", "20260101T000009Z-web2-2"));
  assert.equal(totalEntries(journal.countByType("cfg")), 1);
  assert.equal(journal.listConflicts().length, 1);
});

test("outgoing change records wait in the outbox until published, and a dead process's are adopted", (t) => {
  const dir = tempDir(t);
  let journal = Journal.open(dir);
  const written = journal.noteChange("web", { path: "a.txt", op: "put", sha256: "ab".repeat(32) });
  const inFlight = journal.noteChange("web", { path: "b.txt", op: "delete" });
  journal.noteChange("cfg", { path: "c.conf", op: "put" });
  journal.changeWritten(written, '"etag-a"');
  assert.deepEqual(journal.readyChanges("web", 10), [
    { id: written, path: "a.txt", op: "put", sha256: "ab".repeat(32), etag: '"etag-a"' },
  ]);
  journal.changesPublished([written]);
  assert.deepEqual(journal.readyChanges("web", 10), [], "published records leave the outbox");

  // The process dies with b.txt's deletion in flight: the next one to take the lock publishes its record.
  journal.close();
  journal = Journal.open(dir);
  t.after(() => journal.close());
  assert.deepEqual(journal.readyChanges("web", 10), []);
  assert.equal(journal.adoptUnfinishedChanges(), 2);
  assert.deepEqual(journal.readyChanges("web", 10), [{ id: inFlight, path: "b.txt", op: "delete" }]);
  assert.equal(journal.readyChanges("cfg", 10).length, 1);
  journal.deleteSet("cfg");
  assert.deepEqual(journal.readyChanges("cfg", 10), [], "forgetting a set forgets its records");
});

test("a transaction rolls back when its function throws", (t) => {
  const journal = Journal.open(tempDir(t));
  t.after(() => journal.close());
  assert.throws(() =>
    journal.transaction(() => {
      journal.putFile(row("web", "a"));
      throw new Error("boom");
    }),
  );
  assert.equal(totalEntries(journal.countByType("web")), 0);
  assert.equal(
    journal.transaction(() => {
      journal.putFile(row("web", "a"));
      return totalEntries(journal.countByType("web"));
    }),
    1,
  );
});

test("a read-only journal reads while another process writes, and never writes or migrates", async (t) => {
  const stateDir = tempDir(t);
  const writer = await startChild(
    `
    const fs = await import("node:fs");
    const { Journal } = await import("./src/journal/journal.ts");
    const journal = Journal.open(process.env.STATE_DIR);
    const row = (path) => ({ set: "web", path, type: "file", size: 1, mtimeMs: 1, mtimeNs: 2n, ctimeNs: 3n,
      inode: 4n, mode: 420, owner: null, group: null, sha256: null, target: null, remoteEtag: null,
      remoteLastModified: null, syncedAt: 5 });
    journal.transaction(() => {
      for (let i = 0; i < 100; i++) journal.putFile(row("f" + String(i).padStart(3, "0")));
    });
    // Hold the write lock, with a row not yet committed, while the reader reads.
    journal.transaction(() => {
      journal.putFile(row("uncommitted"));
      process.stdout.write("ready\\n");
      const until = Date.now() + 60_000;
      while (Date.now() < until && !fs.existsSync(process.env.STATE_DIR + "/stop")) {}
    });
    journal.close();
    `,
    { STATE_DIR: stateDir },
  );
  t.after(() => stopChild(writer));

  const reader = Journal.open(stateDir, { readonly: true });
  assert.equal(totalEntries(reader.countByType("web")), 100);
  assert.equal(reader.getFile("web", "uncommitted"), undefined);
  assert.equal(reader.getFile("web", "f042")!.inode, 4n);
  assert.throws(() => reader.putFile(row("web", "x")), /readonly/i);
  reader.close();

  writeFileSync(join(stateDir, "stop"), "");
  await once(writer, "exit");
  const afterWriter = Journal.open(stateDir, { readonly: true });
  assert.equal(totalEntries(afterWriter.countByType("web")), 101);
  afterWriter.close();
});

test("a read-only open of an old or missing journal fails without touching it", (t) => {
  const stateDir = tempDir(t);
  assert.throws(() => Journal.open(join(stateDir, "none"), { readonly: true }), /no journal at/);
  assert.ok(!existsSync(join(stateDir, "none")));

  const file = join(stateDir, "journal.db");
  const old = new Database(file);
  old.exec("CREATE TABLE schema_version (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)");
  old.close();
  const before = readFileSync(file);
  assert.throws(
    () => Journal.open(stateDir, { readonly: true }),
    new JournalError(
      `journal schema 0 is older than this fedsync (${newestSchema}); start the agent once to upgrade it`,
    ),
  );
  assert.deepEqual(readFileSync(file), before);
});

test("a second agent on a state dir is refused while the first lives, and a dead one's lock is taken over", async (t) => {
  const stateDir = tempDir(t);
  const holder = await startChild(
    `
    const { acquireStateLock } = await import("./src/journal/lock.ts");
    acquireStateLock(process.env.STATE_DIR);
    process.stdout.write("ready\\n");
    setInterval(() => {}, 1000);
    `,
    { STATE_DIR: stateDir },
  );
  t.after(() => stopChild(holder));
  assert.throws(() => acquireStateLock(stateDir), {
    name: "JournalError",
    message: `state dir ${stateDir} is in use by pid ${holder.pid}`,
  });

  await stopChild(holder); // SIGKILL: the lock file stays behind, naming a dead pid
  assert.ok(existsSync(join(stateDir, LOCK_FILE)));
  const lock = acquireStateLock(stateDir);
  assert.equal(readFileSync(join(stateDir, LOCK_FILE), "utf8").split(/\s/)[0], String(process.pid));
  lock.release();
  assert.ok(!existsSync(join(stateDir, LOCK_FILE)));
});

test("a lock naming a live pid that was reused by another process is taken over", async (t) => {
  const stateDir = tempDir(t);
  const other = spawn("sleep", ["30"]);
  t.after(() => stopChild(other));
  await once(other, "spawn");
  writeFileSync(join(stateDir, LOCK_FILE), `${other.pid}\n`);
  assert.throws(() => acquireStateLock(stateDir), /in use by pid/);
  // Same pid, but started at another time: the process that wrote the lock is gone.
  writeFileSync(join(stateDir, LOCK_FILE), `${other.pid} 1\n`);
  const lock = acquireStateLock(stateDir);
  lock.release();
  writeFileSync(join(stateDir, LOCK_FILE), "garbage");
  acquireStateLock(stateDir).release();
});

test("an object found gone is remembered from its first sighting until a full pass no longer finds it gone", (t) => {
  const journal = Journal.open(join(tempDir(t), "state"));
  t.after(() => journal.close());
  assert.equal(journal.noteMissing("web", "a.txt", 1000), 1000);
  assert.equal(journal.noteMissing("web", "a.txt", 5000), 1000, "the first sighting is kept");
  assert.equal(journal.noteMissing("conf", "a.txt", 6000), 6000, "each set on its own");
  assert.equal(journal.pruneMissing("web", 5000), 0, "seen again by the pass that began at 5000");
  assert.equal(journal.pruneMissing("web", 7000), 1, "not seen by the pass that began at 7000");
  assert.equal(journal.noteMissing("web", "a.txt", 8000), 8000, "found gone again: a new first sighting");
  journal.forgetMissing("web", "a.txt");
  assert.equal(journal.noteMissing("web", "a.txt", 9000), 9000);
});

test("a recorded change the bucket does not show is awaited from its first sighting; another change of the path starts anew", (t) => {
  const journal = Journal.open(join(tempDir(t), "state"));
  t.after(() => journal.close());
  journal.awaitChange("web", { path: "a.txt", op: "put", etag: "e1" }, 1000);
  journal.awaitChange("web", { path: "a.txt", op: "put", etag: "e1" }, 5000);
  journal.awaitChange("conf", { path: "a.txt", op: "delete" }, 6000);
  assert.deepEqual(journal.awaitedChanges("web"), [
    { path: "a.txt", op: "put", etag: "e1", firstSeen: 1000 },
  ]);
  assert.deepEqual(journal.awaitedChanges("conf"), [{ path: "a.txt", op: "delete", firstSeen: 6000 }]);
  journal.awaitChange("web", { path: "a.txt", op: "put", etag: "e2" }, 7000);
  assert.deepEqual(journal.awaitedChanges("web"), [
    { path: "a.txt", op: "put", etag: "e2", firstSeen: 7000 },
  ]);
  journal.awaitChange("web", { path: "a.txt", op: "delete" }, 8000);
  assert.deepEqual(journal.awaitedChanges("web"), [{ path: "a.txt", op: "delete", firstSeen: 8000 }]);
  assert.equal(journal.countAwaited("web"), 1);
  journal.forgetAwaited("web", "a.txt");
  assert.deepEqual(journal.awaitedChanges("web"), []);
  assert.equal(journal.countAwaited("web"), 0);
  assert.equal(journal.countAwaited("conf"), 1);
});

test("a write made without its condition is noted per path until forgotten", (t) => {
  const journal = Journal.open(join(tempDir(t), "state"));
  t.after(() => journal.close());
  assert.equal(journal.unconfirmedWrite("web", "a.txt"), undefined);
  journal.noteUnconfirmed("web", "a.txt", { etag: "e1", writtenAt: 1000 });
  journal.noteUnconfirmed("web", "a.txt", { etag: "e2", writtenAt: 2000 });
  assert.deepEqual(journal.unconfirmedWrite("web", "a.txt"), { etag: "e2", writtenAt: 2000 });
  assert.equal(journal.unconfirmedWrite("conf", "a.txt"), undefined);
  journal.forgetUnconfirmed("web", "a.txt");
  assert.equal(journal.unconfirmedWrite("web", "a.txt"), undefined);
});
