import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { PassThrough } from "node:stream";
import { loadConfig } from "../../src/config/index.js";
import { createMinioDatastore } from "../../src/datastore/index.js";
import { Journal } from "../../src/journal/journal.js";
import { createLogger } from "../../src/log/index.js";
import { runPass, type PassScope } from "../../src/reconcile/pass.js";
import { startFederation, writeTree, type Federation } from "../helpers/federation.js";

describe("scoped passes (the lightweight path's building blocks)", () => {
  let fed: Federation;
  before(async () => {
    fed = await startFederation(1, [{ name: "conf" }]);
  });
  after(async () => {
    await fed.close();
  });

  async function pass(scope: PassScope) {
    const agent = fed.agents[0]!;
    const config = loadConfig(agent.configPath);
    const journal = Journal.open(config.stateDir);
    try {
      return await runPass(
        {
          config,
          set: config.sets[0]!,
          journal,
          datastore: createMinioDatastore(config.datastore),
          logger: createLogger({ level: "error", stream: new PassThrough() }),
        },
        { scope },
      );
    } finally {
      journal.close();
    }
  }

  test("a subtree pass syncs what is under the directory and leaves the directory's own object alone", async () => {
    const agent = fed.agents[0]!;
    writeTree(agent.root("conf"), { "dir/a.conf": "a", "other.conf": "o" });
    await fed.sync(agent);
    writeFileSync(agent.path("dir/b.conf", "conf"), "b");
    const result = await pass({ kind: "subtree", dirKey: "dir/" });
    assert.equal(result.counts.uploaded, 1);
    assert.equal(result.counts.deletedRemote, 0);
    assert.equal(result.counts.deletedLocal, 0);
    const keys: string[] = [];
    for await (const item of fed.minio.client.listObjectsV2(fed.bucket, "conf/", true))
      keys.push(String(item.name));
    assert.deepEqual(keys.sort(), ["conf/dir/", "conf/dir/a.conf", "conf/dir/b.conf", "conf/other.conf"]);
  });

  test("a keys pass touches only the keys it is given", async () => {
    const agent = fed.agents[0]!;
    writeFileSync(agent.path("other.conf", "conf"), "changed");
    writeFileSync(agent.path("dir/a.conf", "conf"), "changed too");
    const result = await pass({ kind: "keys", keys: ["other.conf"] });
    assert.equal(result.counts.uploaded, 1);
    const stat = await fed.minio.client.statObject(fed.bucket, "conf/dir/a.conf");
    assert.equal(stat.size, 1, "dir/a.conf was uploaded although it was not asked for");
  });
});
