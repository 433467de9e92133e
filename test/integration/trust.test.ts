import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import {
  chmodSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { PassThrough, Transform, type Readable } from "node:stream";
import { loadConfig } from "../../src/config/index.js";
import { createMinioDatastore } from "../../src/datastore/index.js";
import type { Datastore } from "../../src/datastore/types.js";
import { Journal } from "../../src/journal/journal.js";
import { createLogger } from "../../src/log/index.js";
import { runPass } from "../../src/reconcile/pass.js";
import { startFederation, type Agent, type Federation } from "../helpers/federation.js";

const LIST_EVERY_PASS = "1ms";

const MiB = 1024 * 1024;

/** Everything under the federation's directory outside the agents' set roots and state dirs. */
function surroundings(fed: Federation): string[] {
  return readdirSync(fed.dir, { recursive: true })
    .map(String)
    .filter((rel) => !/^[a-z]\/(trees\/[a-z]+|state)(\/|$)/.test(rel))
    .sort();
}

async function put(fed: Federation, key: string, body: string | Buffer, metadata: Record<string, string>) {
  const data = Buffer.from(body);
  await fed.minio.client.putObject(fed.bucket, key, data, data.length, metadata);
}

const modeOf = (path: string) => statSync(path).mode & 0o7777;

/** A pass of `agent` in this process, over a datastore whose downloads run `during` after their first chunk. */
async function passWithSwap(agent: Agent, during: (agentRoot: string) => void) {
  const config = loadConfig(agent.configPath);
  const journal = Journal.open(config.stateDir);
  const real = createMinioDatastore(config.datastore);
  let swapped = false;
  const datastore = new Proxy(real, {
    get(target, property) {
      if (property === "get") {
        return async (key: string): Promise<Readable> => {
          let chunks = 0;
          // Pulled by the write: streams buffer at most a few chunks ahead of it, so by the eighth the temp
          // file exists and holds the first ones.
          const swapMidway = new Transform({
            transform(chunk: Buffer, _encoding, callback) {
              if (++chunks === 8 && !swapped) {
                during(config.sets[0]!.path);
                swapped = true;
              }
              callback(null, chunk);
            },
          });
          return (await target.get(key)).pipe(swapMidway);
        };
      }
      const value = Reflect.get(target, property) as unknown;
      return typeof value === "function" ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  }) as Datastore;
  try {
    const lines = new PassThrough();
    let log = "";
    lines.on("data", (chunk: Buffer) => (log += chunk.toString()));
    const result = await runPass({
      config,
      set: config.sets[0]!,
      journal,
      datastore,
      logger: createLogger({ level: "info", stream: lines }),
    });
    assert.ok(swapped, "the swap ran during a download");
    return { result, log };
  } finally {
    journal.close();
  }
}

describe("trust no peer: bucket writers and local users", () => {
  let fed: Federation;
  let a: Agent;
  let b: Agent;
  let outside: string;
  before(async () => {
    // What a bucket writer puts comes with no change-log record: a pass sees it when it lists the bucket,
    // which every pass here does (at least every full_listing_interval in production).
    fed = await startFederation(2, [{ name: "web", full_listing_interval: LIST_EVERY_PASS }]);
    [a, b] = fed.agents as [Agent, Agent];
    outside = join(fed.dir, "outside");
    mkdirSync(outside);
    mkdirSync(a.root(), { recursive: true });
    mkdirSync(b.root(), { recursive: true });
  });
  after(async () => {
    await fed?.close();
  });

  test("a crafted fedsync-origin names no path: the object is foreign, both versions are kept in the tree", async () => {
    writeFileSync(a.path("notes"), "agreed\n");
    await fed.sync(a);
    writeFileSync(a.path("notes"), "local edit on a, not yet synced\n");
    await put(fed, "web/notes", "written by a bucket writer\n", {
      "fedsync-type": "file",
      "fedsync-mtime": "1000",
      "fedsync-mode": "644",
      "fedsync-origin": "x/../../../outside/pwned",
    });
    const around = surroundings(fed);
    const result = await fed.sync(a);
    assert.deepEqual(surroundings(fed), around, "nothing was written outside the set root");
    assert.deepEqual(readdirSync(outside), []);
    const lines = result.stderr.split("\n").filter((line) => line.includes("invalid metadata on web/notes"));
    assert.equal(lines.length, 1, result.stderr);
    assert.match(lines[0]!, /fields=fedsync-origin/);
    const contents = readdirSync(a.root())
      .filter((name) => name.startsWith("notes"))
      .map((name) => readFileSync(a.path(name), "utf8"))
      .sort();
    assert.deepEqual(contents, ["local edit on a, not yet synced\n", "written by a bucket writer\n"]);
  });

  test("a file put back after its deletion was applied here is published, not deleted again", async () => {
    writeFileSync(a.path("report.pdf"), "quarterly figures");
    await fed.sync(a);
    await fed.sync(b);
    rmSync(a.path("report.pdf"));
    await fed.sync(a);
    await fed.sync(b);
    assert.throws(() => lstatSync(b.path("report.pdf")), "b applied the deletion");
    writeFileSync(b.path("report.pdf"), "quarterly figures");
    const again = await fed.sync(b);
    assert.equal(readFileSync(b.path("report.pdf"), "utf8"), "quarterly figures", again.stderr);
    await fed.sync(a);
    assert.equal(readFileSync(a.path("report.pdf"), "utf8"), "quarterly figures", "it came back everywhere");
    await fed.sync(b);
    assert.equal(readFileSync(b.path("report.pdf"), "utf8"), "quarterly figures");
  });

  test("a bucket writer picks no owner and loosens no mode", async () => {
    await put(fed, "web/owned.sh", "#!/bin/sh\n", {
      "fedsync-type": "file",
      "fedsync-mode": "4777",
      "fedsync-owner": "#1234",
      "fedsync-group": "#1234",
    });
    await put(fed, "web/shared/", "", {
      "fedsync-type": "dir",
      "fedsync-mode": "777",
      "fedsync-owner": "nobody",
    });
    await fed.sync(b);
    const root = statSync(b.root());
    const file = statSync(b.path("owned.sh"));
    assert.deepEqual([file.uid, file.gid], [root.uid, root.gid], "owned like the set root");
    assert.equal(file.mode & 0o7777, 0o775, "no setuid, no world-writable bit");
    const dir = statSync(b.path("shared"));
    assert.deepEqual([dir.uid, dir.gid], [root.uid, root.gid]);
    assert.equal(dir.mode & 0o7777, 0o775, "the directory is not world-writable");
  });

  test("with preserve_owner, names from the bucket apply, but never root's", async () => {
    b.writeConfig([
      { name: "web", preserve_owner: true, mode_mask: "0777", full_listing_interval: LIST_EVERY_PASS },
    ]);
    try {
      await put(fed, "web/kept-owner.txt", "x", {
        "fedsync-type": "file",
        "fedsync-mode": "666",
        "fedsync-owner": "nobody",
        "fedsync-group": "#4321",
      });
      await put(fed, "web/root-owner.txt", "y", {
        "fedsync-type": "file",
        "fedsync-mode": "644",
        "fedsync-owner": "root",
        "fedsync-group": "#0",
      });
      chmodSync(b.root(), 0o755);
      const { uid: rootUid } = statSync(b.root());
      await fed.sync(b);
      const kept = statSync(b.path("kept-owner.txt"));
      assert.equal(kept.uid, 65534, "nobody");
      assert.equal(kept.gid, 4321);
      assert.equal(kept.mode & 0o777, 0o666, "mode_mask 0777 lets the world-writable bit through");
      assert.equal(statSync(b.path("root-owner.txt")).uid, rootUid, "the set root's owner, not root by name");
    } finally {
      b.writeConfig([{ name: "web", full_listing_interval: LIST_EVERY_PASS }]);
    }
  });

  test("a chmod 600 on one machine survives a touch on another", async () => {
    writeFileSync(a.path("secret.env"), "TOKEN=1\n");
    chmodSync(a.path("secret.env"), 0o644);
    await fed.sync(a);
    await fed.sync(b);
    chmodSync(a.path("secret.env"), 0o600);
    const later = new Date(Date.now() + 60_000);
    utimesSync(b.path("secret.env"), later, later);
    await fed.sync(a);
    await fed.sync(b);
    await fed.sync(a);
    await fed.sync(b);
    assert.equal(modeOf(a.path("secret.env")), 0o600);
    assert.equal(modeOf(b.path("secret.env")), 0o600);
    assert.equal(
      Math.round(statSync(a.path("secret.env")).mtimeMs / 1000),
      Math.round(later.getTime() / 1000),
    );
    assert.equal(readFileSync(b.path("secret.env"), "utf8"), "TOKEN=1\n");
  });

  test("a temp file swapped for a symlink during a download changes nothing outside and syncs nothing false", async () => {
    const victim = join(outside, "victim.key");
    writeFileSync(victim, "private", { mode: 0o600 });
    writeFileSync(a.path("big.bin"), Buffer.alloc(3 * MiB, 7));
    await fed.sync(a);
    const { log } = await passWithSwap(b, (root) => {
      const temp = readdirSync(root).find((name) => name.startsWith(".fedsync-tmp-"));
      assert.ok(temp, "a temp file is being written");
      rmSync(join(root, temp));
      symlinkSync(victim, join(root, temp));
    });
    assert.equal(modeOf(victim), 0o600, "root did not chmod the file outside");
    assert.equal(readFileSync(victim, "utf8"), "private");
    assert.match(log, /the temp file was replaced while it was written; not synced/);
    const placed = lstatSync(b.path("big.bin"), { throwIfNoEntry: false });
    assert.ok(!placed?.isSymbolicLink(), "the synced name does not serve the outside file");
    await fed.sync(b);
    assert.deepEqual(readFileSync(b.path("big.bin")), Buffer.alloc(3 * MiB, 7), "the next pass completes it");
  });

  test("a parent directory swapped for a symlink during a download writes nothing outside", async () => {
    mkdirSync(a.path("sub"));
    writeFileSync(a.path("sub/big.bin"), Buffer.alloc(3 * MiB, 9));
    await fed.sync(a);
    mkdirSync(b.path("sub"));
    const before = readdirSync(outside).sort();
    const { log } = await passWithSwap(b, (root) => {
      renameSync(join(root, "sub"), join(root, "sub-moved"));
      symlinkSync(outside, join(root, "sub"));
    });
    assert.deepEqual(
      readdirSync(outside).sort(),
      before,
      `nothing appeared in the symlinked directory\n${log}`,
    );
    assert.deepEqual(
      readFileSync(b.path("sub-moved/big.bin")),
      Buffer.alloc(3 * MiB, 9),
      "it went where it was opened",
    );
  });
});
