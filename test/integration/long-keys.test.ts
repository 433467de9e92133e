import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { startFederation, writeTree, type Agent, type Federation } from "../helpers/federation.js";
import { AgentProcess } from "../helpers/agent-process.js";
import { passSummary } from "../helpers/checks.js";

async function objectKeys(fed: Federation, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  for await (const item of fed.minio.client.listObjectsV2(fed.bucket, prefix, true)) {
    if (item.name) keys.push(item.name);
  }
  return keys;
}

describe("a path whose object key the datastore cannot hold", () => {
  let fed: Federation;
  let a: Agent;
  // Five directories of 200 bytes: "web/" and the 1,005 bytes of their key leave 15 bytes for a name. (MinIO
  // cannot hold a directory object whose name passes 246 bytes: it stores it under the name and a suffix.)
  const deep = Array.from({ length: 5 }, (_, i) => String(i).repeat(200)).join("/");
  const tooLong = `${deep}/page-with-a-long-name.html`;
  const fits = `${deep}/fits-exactl.txt`;
  before(async () => {
    fed = await startFederation(1, [{ name: "web", interval: "1h" }]);
    [a] = fed.agents as [Agent];
    writeTree(a.root(), { [tooLong]: "never uploaded", [fits]: "uploaded", "index.html": "home" });
  });
  after(async () => {
    await fed?.close();
  });

  test("is refused at the scan with one line per pass, never attempted, and shown by fedsync status", async () => {
    const refusal = `skipping ${tooLong}: its object key would be 1035 bytes with the prefix web/, over the datastore's limit of 1024; not synced`;
    for (let pass = 0; pass < 2; pass++) {
      const result = await fed.sync(a);
      const lines = result.stderr.split("\n").filter((line) => line.includes(tooLong));
      assert.equal(lines.length, 1, result.stderr);
      assert.ok(lines[0]!.includes(refusal), lines[0]);
      const summary = passSummary(result.stderr);
      assert.equal(summary.failed, 0);
      assert.equal(summary.up, pass === 0 ? 7 : 0, "the five directories, the file that fits, index.html");
    }
    const keys = await objectKeys(fed, "web/");
    assert.ok(keys.includes(`web/${fits}`));
    assert.ok(!keys.some((key) => key.endsWith("page-with-a-long-name.html")));

    const agent = new AgentProcess(fed.spawnAgent(a));
    try {
      await agent.waitForLog(/ready/);
      // The start-up pass changed nothing, so it logs no line at info; its problems show in the status.
      let line = "";
      const deadline = Date.now() + 30_000;
      while (!line.includes("1 not synced") && Date.now() < deadline) {
        line = (await fed.run(a, ["status"])).stdout;
      }
      assert.ok(line.includes(`1 not synced (last: ${tooLong}: its object key would be 1035 bytes`), line);
      const json = JSON.parse((await fed.run(a, ["status", "--json"])).stdout) as {
        sets: { problems: number; lastProblem: string }[];
      };
      assert.equal(json.sets[0]!.problems, 1);
      assert.ok(json.sets[0]!.lastProblem.startsWith(`${tooLong}: its object key would be 1035 bytes`));
    } finally {
      assert.equal(await agent.stop(), 0);
    }
  });
});
