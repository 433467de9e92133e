import assert from "node:assert/strict";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { after, before, describe, test } from "node:test";
import { createMinioDatastore } from "../../src/datastore/index.js";
import { waitUntil } from "../helpers/agent-process.js";
import { snapshot, startFederation, type Agent, type Federation } from "../helpers/federation.js";
import {
  inOwnNetworkNamespace,
  startMinioCluster,
  testInOwnNetworkNamespace,
  type MinioCluster,
} from "../helpers/minio-cluster.js";

if (!inOwnNetworkNamespace()) {
  // The cluster needs an address of its own (see minio-cluster.ts).
  testInOwnNetworkNamespace(
    "agents on a four-node distributed MinIO (run in a network namespace of its own)",
    import.meta.url,
    900_000,
  );
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

    test("a put through one node is notified to a listener on every other node within a second", async () => {
      const store = (endpoint: string) =>
        createMinioDatastore({
          endpoint,
          region: "us-east-1",
          bucket: fed.bucket,
          accessKeyId: cluster.accessKey,
          secretAccessKey: cluster.secretKey,
        });
      const heard = cluster.endpoints.map(() => [] as { key: string; at: number }[]);
      const streams = cluster.endpoints.map((endpoint, node) => {
        let opened!: () => void;
        const open = new Promise<void>((resolve) => (opened = resolve));
        const stream = store(endpoint).listen("notes/", {
          onOpen: opened,
          onEvents: (events) => heard[node]!.push(...events.map(({ key }) => ({ key, at: Date.now() }))),
          onClose: (error) => assert.fail(`the stream of node ${node} closed: ${error.message}`),
        });
        return { stream, open };
      });
      try {
        await Promise.all(streams.map(({ open }) => open));
        const writes: { key: string; at: number }[] = [];
        for (const [node, endpoint] of cluster.endpoints.entries()) {
          const key = `notes/through-node-${node}`;
          writes.push({ key, at: Date.now() });
          await store(endpoint).put(key, Buffer.from(key), key.length, {});
        }
        await waitUntil(
          () => heard.every((events) => events.length >= writes.length),
          5000,
          "every node's listener to hear every put",
          () => JSON.stringify(heard),
        );
        for (const [node, events] of heard.entries()) {
          assert.deepEqual(
            events.map(({ key }) => key),
            writes.map(({ key }) => key),
            `listener on node ${node}: each put once, in order`,
          );
          for (const [i, { at }] of events.entries())
            assert.ok(
              at - writes[i]!.at < 1000,
              `node ${node} heard ${writes[i]!.key} after ${at - writes[i]!.at} ms`,
            );
        }
      } finally {
        for (const { stream } of streams) stream.close();
      }
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
