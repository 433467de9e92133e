import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, utimesSync, writeFileSync } from "node:fs";
import { existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { test } from "node:test";
import { parseConfigText } from "../../src/config/load.js";
import type { Config } from "../../src/config/types.js";
import { AuditTrail } from "../../src/history/audit.js";
import { pathFilter } from "../../src/history/path-filter.js";
import { pruneHistoryAndTrash } from "../../src/history/prune.js";
import { chooseVersion, RestoreError } from "../../src/reconcile/restore.js";
import { resolveTarget, TargetError } from "../../src/history/target.js";
import { parseTimeSpec } from "../../src/history/time.js";
import { trashedCopies, trashPath } from "../../src/history/trash.js";
import type { FileVersion } from "../../src/history/versions.js";
import type { NewHistoryRow } from "../../src/journal/history.js";
import { Journal } from "../../src/journal/journal.js";
import { createLogger } from "../../src/log/index.js";

function tempDir(t: { after(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), "fedsync-history-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function configFor(dir: string, extra = ""): Config {
  const text = `
machine: here
state_dir: ${join(dir, "state")}
datastore:
  endpoint: http://127.0.0.1:9000
  bucket: fleet
  access_key_id: fedsync
sets:
  - name: web
    path: ${join(dir, "web")}
    keep_deleted: true
  - name: conf
    path: ${join(dir, "conf")}
${extra}`;
  return parseConfigText(text, "test.yaml", { FEDSYNC_SECRET_ACCESS_KEY: "secret-for-tests" });
}

function historyRow(at: number, extra: Partial<NewHistoryRow> = {}): NewHistoryRow {
  return {
    at,
    set: "web",
    path: "index.html",
    action: "upload",
    origin: "here",
    sha256: "ab".repeat(32),
    size: 10,
    detail: null,
    trash: null,
    ...extra,
  };
}

test("history rows come back newest first, filtered by set, machine, time and path", (t) => {
  const journal = Journal.open(join(tempDir(t), "state"));
  t.after(() => journal.close());
  journal.addHistory(historyRow(1000, { path: "a.txt" }));
  journal.addHistory(historyRow(2000, { path: "css/site.css", origin: "other", action: "download" }));
  journal.addHistory(historyRow(2000, { path: "b.txt", set: "conf" }));
  journal.addHistory(historyRow(3000, { path: "css/old.css", action: "delete-local", origin: "other" }));
  const paths = (filter: Parameters<Journal["history"]>[0]) =>
    [...journal.history(filter)].map((r) => r.path);
  assert.deepEqual(paths({}), ["css/old.css", "b.txt", "css/site.css", "a.txt"]);
  assert.deepEqual(paths({ set: "conf" }), ["b.txt"]);
  assert.deepEqual(paths({ origin: "other" }), ["css/old.css", "css/site.css"]);
  assert.deepEqual(paths({ since: 2000 }), ["css/old.css", "b.txt", "css/site.css"]);
  assert.deepEqual(paths({ pathPrefix: "css/", since: 2500 }), ["css/old.css"]);
  assert.deepEqual(paths({ path: "a.txt", set: "web" }), ["a.txt"]);
  assert.equal(journal.countHistory(), 4);
});

test("pruning drops rows past the retention and the oldest beyond the row limit", (t) => {
  const journal = Journal.open(join(tempDir(t), "state"));
  t.after(() => journal.close());
  for (let i = 1; i <= 10; i++) journal.addHistory(historyRow(i * 1000, { path: `f${i}` }));
  assert.equal(journal.pruneHistory(3000, 100), 2);
  assert.equal(journal.pruneHistory(0, 5), 3);
  assert.deepEqual(
    [...journal.history()].map((r) => r.path),
    ["f10", "f9", "f8", "f7", "f6"],
  );
  assert.equal(journal.pruneHistory(0, 5), 0);
});

test("housekeeping prunes the history and the trash by their retentions", async (t) => {
  const dir = tempDir(t);
  const config = configFor(dir, "history_retention: 1h\ntrash_retention: 1d\n");
  const journal = Journal.open(config.stateDir);
  t.after(() => journal.close());
  const now = Date.UTC(2026, 2, 10, 12);
  journal.addHistory(historyRow(now - 2 * 3_600_000, { path: "old" }));
  journal.addHistory(historyRow(now - 60_000, { path: "new" }));
  const oldCopy = trashPath(config.stateDir, "web", now - 2 * 86_400_000, "a/old.txt");
  const newCopy = trashPath(config.stateDir, "web", now - 3_600_000, "a/new.txt");
  for (const file of [oldCopy, newCopy]) {
    mkdirSync(join(file, ".."), { recursive: true });
    writeFileSync(file, "kept");
  }
  const lines: string[] = [];
  const stream = new PassThrough();
  stream.on("data", (chunk: Buffer) => lines.push(chunk.toString()));
  const logger = createLogger({ stream, journald: false });
  await pruneHistoryAndTrash({ config, set: config.sets[0]!, journal, logger }, now);
  assert.deepEqual(
    [...journal.history()].map((r) => r.path),
    ["new"],
  );
  assert.equal(existsSync(oldCopy), false);
  assert.equal(existsSync(newCopy), true);
  assert.deepEqual(
    (await trashedCopies(config.stateDir, "web", "a/new.txt")).map((copy) => copy.trashedAt),
    [now - 3_600_000],
  );
  assert.match(lines.join(""), /history housekeeping .*historyRowsExpired=1 trashDirsExpired=1/);
});

test("each audited change is one log line with its fields and one history row", (t) => {
  const journal = Journal.open(join(tempDir(t), "state"));
  t.after(() => journal.close());
  const lines: string[] = [];
  const stream = new PassThrough();
  stream.on("data", (chunk: Buffer) => lines.push(...chunk.toString().split("\n").filter(Boolean)));
  const logger = createLogger({ stream, journald: false, level: "debug" });
  const audit = new AuditTrail(journal, logger, "web", () => 5000);
  audit.record({ path: "x.txt", action: "download", origin: "peer", sha256: "cd".repeat(32), size: 3 });
  audit.record(
    { path: "", action: "guard-trip", origin: "here", detail: "too many" },
    {
      level: "error",
      message: "too many",
    },
  );
  assert.equal(lines.length, 2);
  assert.match(
    lines[0]!,
    /debug \[web\] downloaded path=x\.txt action=download origin=peer sha256=(cd){6} size=3$/,
  );
  assert.match(lines[1]!, /error \[web\] too many action=guard-trip origin=here$/);
  const rows = [...journal.history()];
  assert.deepEqual(
    rows.map((r) => [r.at, r.action, r.path, r.origin, r.size, r.detail]),
    [
      [5000, "guard-trip", "", "here", null, "too many"],
      [5000, "download", "x.txt", "peer", 3, null],
    ],
  );
});

test("--path takes a glob or a path with everything under it", () => {
  const glob = pathFilter("css/**/*.css");
  assert.equal(glob.prefix, "css/");
  assert.equal(glob.matches("css/a/site.css"), true);
  assert.equal(glob.matches("js/site.css"), false);
  const anywhere = pathFilter("*.txt");
  assert.equal(anywhere.prefix, "");
  assert.equal(anywhere.matches(".hidden.txt"), true);
  const plain = pathFilter("uploads");
  assert.equal(plain.prefix, "uploads");
  assert.deepEqual(
    ["uploads", "uploads/", "uploads/a/b.png", "uploads2/x"].map((p) => plain.matches(p)),
    [true, true, true, false],
  );
});

test("times are durations ago or dates", () => {
  const now = Date.UTC(2026, 0, 2, 3, 4, 5);
  assert.equal(parseTimeSpec("2h", now), now - 7_200_000);
  assert.equal(parseTimeSpec("2026-01-01T00:00:00Z", now), Date.UTC(2026, 0, 1));
  assert.equal(parseTimeSpec("2026-01-01", now), Date.UTC(2026, 0, 1));
  for (const bad of ["yesterday", "2", "-3h", ""]) assert.equal(parseTimeSpec(bad, now), undefined);
});

test("a path names a set and key: set:relative, absolute or through a symlink, never outside a root", (t) => {
  const dir = tempDir(t);
  const config = configFor(dir);
  mkdirSync(join(dir, "web", "css"), { recursive: true });
  symlinkSync(join(dir, "web"), join(dir, "web-link"));
  const key = (path: string) => {
    const target = resolveTarget(config, path, dir);
    return `${target.set.name}:${target.key}`;
  };
  assert.equal(key("web:css/site.css"), "web:css/site.css");
  assert.equal(key(join(dir, "web", "css", "gone.css")), "web:css/gone.css");
  assert.equal(key("web/css/x.css"), "web:css/x.css");
  assert.equal(key(join(dir, "web-link", "css", "x.css")), "web:css/x.css");
  assert.equal(key(join(dir, "conf", "deep", "new", "app.ini")), "conf:deep/new/app.ini");
  for (const outside of [
    "/etc/passwd",
    join(dir, "web"),
    join(dir, "web", "..", "secret"),
    join(dir, "webroot", "x"),
    "web:../secret",
    "web:.fedsync/x",
    "nosuchset:x",
  ]) {
    assert.throws(() => resolveTarget(config, outside, dir), TargetError, outside);
  }
});

function version(time: number, extra: Partial<FileVersion> = {}): FileVersion {
  return {
    id: `v${time}`,
    source: "bucket",
    deleted: false,
    time,
    origin: "m",
    type: "file",
    size: 1,
    sha256: `sha${time}`,
    current: false,
    ...extra,
  };
}

test("restore picks a version by id, by time, or the newest that differs from the local file", () => {
  const versions = [
    version(400, { deleted: true, id: null, sha256: "sha300" }),
    version(300, { current: false }),
    version(200, { source: "trash", id: "trash:20260101T000000000Z" }),
    version(100),
  ];
  assert.equal(chooseVersion(versions, { id: "v100" }, null, "web:f").time, 100);
  assert.equal(chooseVersion(versions, { at: 250 }, null, "web:f").id, "trash:20260101T000000000Z");
  assert.equal(chooseVersion(versions, {}, null, "web:f").time, 300);
  assert.equal(chooseVersion(versions, {}, "sha300", "web:f").time, 200);
  assert.throws(() => chooseVersion(versions, { at: 450 }, null, "web:f"), /did not exist/);
  assert.throws(() => chooseVersion(versions, { at: 50 }, null, "web:f"), /no version .* before/);
  assert.throws(() => chooseVersion(versions, { id: "nope" }, null, "web:f"), RestoreError);
  assert.throws(
    () => chooseVersion([version(1, { type: "symlink" })], {}, null, "web:f"),
    /only files can be restored/,
  );
});

test("trash copies of a path are found under every timestamp, oldest first", async (t) => {
  const stateDir = join(tempDir(t), "state");
  const times = [Date.UTC(2026, 0, 2), Date.UTC(2026, 0, 1)];
  for (const at of times) {
    const file = trashPath(stateDir, "web", at, "dir/f.txt");
    mkdirSync(join(file, ".."), { recursive: true });
    writeFileSync(file, String(at));
    utimesSync(file, new Date(at), new Date(at));
  }
  mkdirSync(join(stateDir, "trash", "web", "not-a-timestamp"), { recursive: true });
  const copies = await trashedCopies(stateDir, "web", "dir/f.txt");
  assert.deepEqual(
    copies.map((copy) => copy.trashedAt),
    [...times].sort(),
  );
  assert.deepEqual(await trashedCopies(stateDir, "conf", "dir/f.txt"), []);
});

test("the history keeps only its newest rows past the row cap, however often it is pruned", (t) => {
  const dir = tempDir(t);
  const journal = Journal.open(join(dir, "state"));
  t.after(() => journal.close());
  const now = Date.UTC(2026, 2, 10, 12);
  for (let i = 0; i < 10; i++) journal.addHistory(historyRow(now + i, { path: `p${i}` }));
  assert.equal(journal.pruneHistory(0, 3), 7);
  assert.deepEqual(
    [...journal.history()].map((r) => r.path),
    ["p9", "p8", "p7"],
  );
  for (let i = 10; i < 12; i++) journal.addHistory(historyRow(now + i, { path: `p${i}` }));
  assert.equal(journal.pruneHistory(0, 3), 2);
  assert.equal(journal.pruneHistory(0, 3), 0);
  assert.deepEqual(
    [...journal.history()].map((r) => r.path),
    ["p11", "p10", "p9"],
  );
});
