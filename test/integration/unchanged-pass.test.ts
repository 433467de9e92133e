import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { stringify } from "yaml";
import { parseConfigText, SECRET_ENV, type Config } from "../../src/config/index.js";
import { createMinioDatastore } from "../../src/datastore/index.js";
import type { Datastore } from "../../src/datastore/types.js";
import { Journal } from "../../src/journal/journal.js";
import { createLogger, type Logger } from "../../src/log/index.js";
import { runPass, type PassResult } from "../../src/reconcile/pass.js";
import { ageTree } from "../helpers/checks.js";
import { startMinio, type MinioServer } from "../helpers/minio.js";

const FILES_PER_DIR = 100;

interface Bench {
  config: Config;
  journal: Journal;
  datastore: Datastore;
  logger: Logger;
  log: string[];
  root: string;
  pass(fullListing?: boolean): Promise<{ result: PassResult; requests: Record<string, number> }>;
  close(): void;
}

/** Requests made between two snapshots of `requestCounts()`, by operation, zeros left out. */
function requestsSince(before: Record<string, number>, now: Record<string, number>): Record<string, number> {
  const made: Record<string, number> = {};
  for (const [operation, count] of Object.entries(now)) {
    const delta = count - (before[operation] ?? 0);
    if (delta > 0) made[operation] = delta;
  }
  return made;
}

/** A set root with `files` small files in directories of 100, all last modified an hour ago. */
function createTree(root: string, files: number): void {
  for (let i = 0; i < files; i++) {
    const dir = join(root, `dir-${String(Math.floor(i / FILES_PER_DIR)).padStart(4, "0")}`);
    if (i % FILES_PER_DIR === 0) mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, `file-${i}.html`), `<p>page ${i}</p>\n`);
  }
  ageTree(root, new Date(Date.now() - 3600_000));
}

async function openBench(minio: MinioServer, files: number): Promise<Bench> {
  const home = mkdtempSync(join(tmpdir(), "fedsync-unchanged-"));
  const root = join(home, "web");
  createTree(root, files);
  const bucket = await minio.createBucket();
  const yaml = stringify({
    machine: "bench",
    state_dir: join(home, "state"),
    datastore: { endpoint: minio.endpoint, bucket, access_key_id: minio.accessKey },
    sets: [{ name: "web", path: root, method: "heavyweight" }],
  });
  const config = parseConfigText(yaml, "test", { [SECRET_ENV]: minio.secretKey });
  const journal = Journal.open(config.stateDir);
  const datastore = createMinioDatastore(config.datastore);
  const log: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      log.push(chunk.toString());
      done();
    },
  });
  const logger = createLogger({ stream, journald: false });
  const set = config.sets[0]!;
  return {
    config,
    journal,
    datastore,
    logger,
    log,
    root,
    async pass(fullListing = false) {
      const before = datastore.requestCounts();
      const result = await runPass({ config, set, journal, datastore, logger }, { fullListing });
      return { result, requests: requestsSince(before, datastore.requestCounts()) };
    },
    close() {
      journal.close();
      rmSync(home, { recursive: true, force: true });
    },
  };
}

/**
 * What a listing pass with nothing changed may ask the bucket: the change-log check, the listing pages, the
 * tombstone listing, the log listing of housekeeping, the heartbeat.
 */
function expectedListingRequests(objects: number): Record<string, number> {
  return { ListObjectsV2: Math.ceil(objects / 1000) + 3, PutObject: 1 };
}

/** A pass that need not list the bucket (no other writer since the last listing): the log check, the heartbeat. */
const JOURNAL_VIEW_REQUESTS = { ListObjectsV2: 1, PutObject: 1 };

async function measureUnchangedPass(minio: MinioServer, files: number): Promise<Bench> {
  const bench = await openBench(minio, files);
  const dirs = Math.ceil(files / FILES_PER_DIR);
  const first = await bench.pass();
  assert.equal(first.result.ok, true, bench.log.join(""));
  assert.equal(first.result.counts.uploaded, files + dirs);
  assert.equal(first.result.hashed, files);
  console.log(
    `initial upload of ${files} files: ${(first.result.durationMs / 1000).toFixed(2)} s (${Math.round((files / first.result.durationMs) * 1000)} files/s)`,
  );

  // No other writer since the upload: the bucket is taken from the journal, also right after the upload.
  // Then a listing (as every full_listing_interval, or --full-listing) still makes no per-file request.
  for (const which of ["first", "second", "listing"]) {
    const { result, requests } = await bench.pass(which === "listing");
    assert.equal(result.ok, true, bench.log.join(""));
    assert.equal(result.hashed, 0, "an unchanged pass reads no file");
    const { uploaded, downloaded, deletedLocal, deletedRemote, conflicts, recorded, failed } = result.counts;
    assert.deepEqual(
      [uploaded, downloaded, deletedLocal, deletedRemote, conflicts, recorded, failed],
      [0, 0, 0, 0, 0, 0, 0],
    );
    assert.equal(result.bucket, which === "listing" ? "listing" : "journal");
    const expected = which === "listing" ? expectedListingRequests(files + dirs) : JOURNAL_VIEW_REQUESTS;
    assert.deepEqual(requests, expected, "no per-file request");
    console.log(`${which} unchanged pass over ${files} files: ${(result.durationMs / 1000).toFixed(2)} s`);
  }
  return bench;
}

describe("a heavyweight pass with nothing changed", () => {
  let minio: MinioServer;
  before(async () => {
    minio = await startMinio();
  });
  after(async () => {
    await minio?.stop();
  });

  test("over 10,000 files: no per-file request, no file read; then 10 edits make exactly 10 reads and uploads", async () => {
    const bench = await measureUnchangedPass(minio, 10_000);
    try {
      const edited = [3, 150, 999, 1000, 4242, 5000, 7001, 8888, 9998, 9999];
      for (const i of edited) {
        const dir = `dir-${String(Math.floor(i / FILES_PER_DIR)).padStart(4, "0")}`;
        writeFileSync(join(bench.root, dir, `file-${i}.html`), `<p>page ${i}, edited</p>\n`);
      }
      const { result, requests } = await bench.pass();
      assert.equal(result.ok, true, bench.log.join(""));
      assert.equal(result.hashed, 10);
      assert.equal(result.counts.uploaded, 10);
      assert.equal(result.counts.downloaded, 0);
      // The log check, 10 uploads, the change-log record and the heartbeat; no per-file HEAD or GET.
      assert.equal(result.bucket, "journal");
      assert.deepEqual(requests, { ListObjectsV2: 1, PutObject: 12 });
      console.log(`pass with 10 of 10,000 files edited: ${(result.durationMs / 1000).toFixed(2)} s`);
    } finally {
      bench.close();
    }
  });

  if (process.env.FEDSYNC_LONG_TESTS === "1") {
    test("over 100,000 files (FEDSYNC_LONG_TESTS=1)", async () => {
      const bench = await measureUnchangedPass(minio, 100_000);
      bench.close();
    });
  }
});
