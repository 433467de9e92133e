import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { after, before, describe, test } from "node:test";
import { snapshot, startFederation, type Agent, type Federation } from "../helpers/federation.js";
import {
  inOwnNetworkNamespace,
  NETNS_ENV,
  startMinioCluster,
  type MinioCluster,
} from "../helpers/minio-cluster.js";

/** This environment without the test runner's mark, which would make the inner run report to this one. */
function runnerlessEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.NODE_TEST_CONTEXT;
  return env;
}

if (!inOwnNetworkNamespace()) {
  // The cluster needs an address of its own (see minio-cluster.ts): this file runs again in a new network
  // namespace, where it may use one, and its tests pass or fail there.
  test("agents on a four-node distributed MinIO (run in a network namespace of its own)", () => {
    const result = spawnSync(
      "unshare",
      [
        "--net",
        process.execPath,
        "--import",
        "tsx",
        "--test",
        "--test-reporter=spec",
        fileURLToPath(import.meta.url),
      ],
      { env: { ...runnerlessEnv(), [NETNS_ENV]: "1" }, encoding: "utf8", timeout: 900_000 },
    );
    process.stdout.write(result.stdout);
    assert.equal(result.status, 0, `${result.stdout}\n${result.stderr}`);
  });
} else {
  describe("agents on a four-node distributed MinIO, each talking to its own node", () => {
    let cluster: MinioCluster;
    let fed: Federation;
    let agents: Agent[];
    before(async () => {
      cluster = await startMinioCluster(4);
      fed = await startFederation(4, [{ name: "web" }], {}, cluster);
      agents = fed.agents;
    });
    after(async () => {
      await fed?.close();
    });

    const syncAll = async (rounds: number, which = agents) => {
      for (let round = 0; round < rounds; round++) for (const agent of which) await fed.sync(agent);
    };
    const assertConverged = () => {
      const first = snapshot(agents[0]!.root());
      for (const agent of agents.slice(1)) assert.deepEqual(snapshot(agent.root()), first, agent.name);
      return first;
    };

    test("each machine's files, written through different nodes, reach every machine", async () => {
      assert.deepEqual(
        agents.map((agent) => readFileSync(agent.configPath, "utf8").match(/endpoint: (\S+)/)![1]),
        cluster.endpoints,
      );
      for (const agent of agents) {
        for (let i = 0; i < 5; i++)
          writeFileSync(agent.path(`own-${agent.name}-${i}.txt`), `${agent.name} ${i}\n`);
      }
      writeFileSync(agents[0]!.path("shared.txt"), "first\n");
      await syncAll(2);
      const tree = assertConverged();
      assert.equal([...tree.keys()].filter((key) => key.startsWith("own-")).length, 20);
    });

    test("the same file edited through two nodes keeps both versions everywhere", async () => {
      const [a, , c] = agents as [Agent, Agent, Agent];
      writeFileSync(a.path("shared.txt"), "edited on a\n");
      writeFileSync(c.path("shared.txt"), "edited on c\n");
      await fed.sync(a);
      await fed.sync(c);
      await syncAll(2);
      assertConverged();
      const names = readdirSync(a.root()).filter((name) => name.startsWith("shared"));
      assert.equal(names.length, 2, names.join(", "));
      const contents = names.map((name) => readFileSync(a.path(name), "utf8")).sort();
      assert.deepEqual(contents, ["edited on a\n", "edited on c\n"]);
    });
  });
}
