import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, writeFileSync } from "node:fs";
import type { DatastoreConfig } from "../../src/config/types.js";
import {
  createMinioDatastore,
  type BucketEvent,
  type Datastore,
  type DatastoreError,
} from "../../src/datastore/index.js";
import { StreamNotAnsweredError } from "../../src/datastore/listen.js";
import { AgentProcess, fileHas, waitUntil } from "../helpers/agent-process.js";
import { startFederation, type Agent, type Federation } from "../helpers/federation.js";
import { startMinio, type MinioServer } from "../helpers/minio.js";
import { startS3Proxy, type S3Proxy } from "../helpers/s3-proxy.js";

/** Everything one listen() call reported. */
class Recorder {
  opened = false;
  events: BucketEvent[] = [];
  closed?: DatastoreError;
  readonly stream: { close(): void };

  constructor(datastore: Datastore, prefix: string) {
    this.stream = datastore.listen(prefix, {
      onOpen: () => (this.opened = true),
      onEvents: (events) => this.events.push(...events),
      onClose: (error) => (this.closed = error),
    });
  }
}

describe("the notification stream of the datastore", () => {
  let server: MinioServer;
  let config: DatastoreConfig;
  let store: Datastore;
  let proxy: S3Proxy;

  before(async () => {
    server = await startMinio();
    config = {
      endpoint: server.endpoint,
      region: "us-east-1",
      bucket: await server.createBucket(),
      accessKeyId: server.accessKey,
      secretAccessKey: server.secretKey,
    };
    store = createMinioDatastore(config);
    proxy = await startS3Proxy(server);
  });
  after(async () => {
    proxy?.close();
    await server?.stop();
  });

  test("each change is reported once, as soon as it happens, with its key exactly as written", async () => {
    const recorder = new Recorder(store, "ev/");
    await waitUntil(() => recorder.opened, 10_000, "the stream to open");
    const keys = ["ev/plain.txt", "ev/a+b %41.txt", "ev/é ü/x.txt", "ev/x%2Fy", "ev/plain.txt"];
    const etags: string[] = [];
    for (const [index, key] of keys.entries()) {
      const body = Buffer.from(`version ${index}`);
      etags.push((await store.put(key, body, body.length, { "fedsync-origin": "here" })).etag);
      // A server that buffers its stream (instead of flushing each event) fails here.
      await waitUntil(() => recorder.events.length === index + 1, 2000, `the event of ${key}`);
    }
    await store.put("elsewhere/not-listened.txt", Buffer.from("x"), 1, {});
    await store.delete(["ev/x%2Fy"]);
    await waitUntil(() => recorder.events.length === keys.length + 1, 2000, "the removal event");
    await new Promise((resolve) => setTimeout(resolve, 500));
    recorder.stream.close();
    assert.deepEqual(recorder.events, [
      ...keys.map((key, i) => ({
        key,
        removed: false,
        etag: etags[i],
        metadata: { "fedsync-origin": "here" },
      })),
      { key: "ev/x%2Fy", removed: true },
    ]);
    assert.equal(recorder.closed, undefined, "close() reports nothing");
    assert.equal(store.requestCounts().ListenBucketNotification, 1);
  });

  test("servers without the listen API are told apart from broken streams", async () => {
    const behind = createMinioDatastore({ ...config, endpoint: proxy.endpoint });
    const cases = [
      ["unsupported", "unsupported", /NotImplemented/],
      ["listing", "unsupported", /answered application\/xml, not an event stream/],
      ["refuse", "unreachable", /503/],
    ] as const;
    for (const [mode, kind, message] of cases) {
      proxy.listenMode = mode;
      const recorder = new Recorder(behind, "ev/");
      await waitUntil(() => recorder.closed !== undefined, 10_000, `the ${mode} answer`);
      assert.equal(recorder.opened, false, mode);
      assert.equal(recorder.closed?.kind, kind, mode);
      assert.match(recorder.closed?.message ?? "", message);
      assert.match(recorder.closed?.message ?? "", /listen for bucket notifications/);
    }
  });

  test("a stream that goes silent, or never answers, is given up after 10 s", async () => {
    const behind = createMinioDatastore({ ...config, endpoint: proxy.endpoint });
    proxy.listenMode = "freeze";
    const seen = proxy.listenRequests;
    const frozen = new Recorder(behind, "ev/");
    await waitUntil(() => proxy.listenRequests > seen, 5000, "the first request");
    proxy.listenMode = "hold";
    const held = new Recorder(behind, "ev/");
    await waitUntil(() => frozen.opened, 10_000, "the frozen stream to open");
    const started = Date.now();
    await waitUntil(() => frozen.closed !== undefined && held.closed !== undefined, 20_000, "both to close");
    assert.ok(Date.now() - started >= 7000, "not before the keep-alives were missed");
    assert.equal(frozen.closed?.kind, "unreachable");
    assert.match(frozen.closed?.message ?? "", /no keep-alive for 10 s/);
    assert.equal(held.opened, false);
    assert.ok(held.closed?.cause instanceof StreamNotAnsweredError);
  });
});

describe("bucket notifications between two lightweight agents", () => {
  let fed: Federation;
  let proxy: S3Proxy;
  let a: Agent;
  let b: Agent;
  let agentA: AgentProcess;
  let agentB: AgentProcess;

  /** What `fedsync status` says of the set's notifications (nothing before the agent's journal exists). */
  const notifications = async (agent: Agent): Promise<string | undefined> => {
    const status = await fed.run(agent, ["status", "--json"]);
    if (!status.stdout) return undefined;
    return (JSON.parse(status.stdout) as { sets: { notifications?: string }[] }).sets[0]?.notifications;
  };
  const waitForHealth = async (agent: Agent, health: string, timeoutMs: number) => {
    const started = Date.now();
    while ((await notifications(agent)) !== health) {
      if (Date.now() - started > timeoutMs) throw new Error(`${agent.name}'s notifications never ${health}`);
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  };
  const count = (output: string, line: RegExp) => output.split("\n").filter((text) => line.test(text)).length;

  before(async () => {
    fed = await startFederation(2, [{ name: "conf", method: "lightweight" }]);
    [a, b] = fed.agents as [Agent, Agent];
    proxy = await startS3Proxy(fed.minio);
    for (const agent of [a, b]) {
      // At debug level each upload and download is a line, which the tests count.
      agent.writeConfig(undefined, {
        log: { level: "debug" },
        datastore: fed.datastoreConfig(proxy.endpoint),
      });
    }
    mkdirSync(b.root("conf"), { recursive: true });
    agentA = new AgentProcess(fed.spawnAgent(a));
    agentB = new AgentProcess(fed.spawnAgent(b));
    await waitForHealth(a, "healthy", 30_000);
    await waitForHealth(b, "healthy", 30_000);
  });
  after(async () => {
    await agentA?.stop();
    await agentB?.stop();
    proxy?.close();
    await fed?.close();
  });

  test("new files and edits reach B within seconds, not at the next change-log read, each downloaded once", async () => {
    mkdirSync(a.path("new", "conf"));
    const arrive = async (rel: string, content: string) => {
      writeFileSync(a.path(rel, "conf"), content);
      // While notifications are healthy the change log is read every 30 s: only a notification is this fast.
      return waitUntil(
        () => fileHas(b.path(rel, "conf"), content),
        5000,
        `${rel} on B`,
        () => agentB.output,
      );
    };
    const took: number[] = [];
    for (let i = 0; i < 20; i++) took.push(await arrive(`new/f${i}.conf`, `file ${i}\n`));
    for (let i = 0; i < 10; i++) {
      took.push(await arrive("new/f0.conf", `edit ${i}\n`));
      await new Promise((resolve) => setTimeout(resolve, 300));
    }
    console.log(`30 changes A -> B, ms: ${took.join(" ")}`);
    await new Promise((resolve) => setTimeout(resolve, 2000));
    for (let i = 0; i < 20; i++) {
      const path = new RegExp(`(uploaded|downloaded) path=new/f${i}\\.conf `);
      const expected = i === 0 ? 11 : 1;
      assert.equal(count(agentA.output, path), expected, `uploads of new/f${i}.conf`);
      assert.equal(count(agentB.output, path), expected, `downloads of new/f${i}.conf`);
    }
    assert.equal(count(agentA.output, /downloaded path=/), 0, "A downloaded nothing back");
  });

  test("a broken stream: changes still arrive through the change log, then the stream comes back", async () => {
    proxy.listenMode = "refuse";
    proxy.cutListeners();
    await agentB.waitForLog(/bucket notifications interrupted: .*polling the change log every 2s/, 10_000);
    await waitForHealth(b, "reconnecting", 5000);
    writeFileSync(a.path("via-log.conf", "conf"), "by the change log\n");
    const took = await waitUntil(
      () => fileHas(b.path("via-log.conf", "conf"), "by the change log\n"),
      10_000,
      "a change while notifications are down",
      () => agentB.output,
    );
    console.log(`change arrived by the change log in ${took} ms`);
    assert.equal(await notifications(b), "reconnecting");
    proxy.listenMode = "pass";
    await agentB.waitForLog(/bucket notifications back; polling the change log every 30s/, 60_000);
    await waitForHealth(b, "healthy", 5000);
    writeFileSync(a.path("after.conf", "conf"), "notified again\n");
    await waitUntil(() => fileHas(b.path("after.conf", "conf"), "notified again\n"), 5000, "after.conf on B");
  });

  test("MinIO killed and restarted: the agents reconnect on their own", async () => {
    const interruptions = count(agentB.output, /bucket notifications interrupted/);
    await fed.minio.pause();
    await waitUntil(
      () => count(agentB.output, /bucket notifications interrupted/) > interruptions,
      15_000,
      "B to notice",
    );
    await fed.minio.resume();
    await waitForHealth(b, "healthy", 60_000);
    await waitForHealth(a, "healthy", 60_000);
    writeFileSync(a.path("restarted.conf", "conf"), "after the restart\n");
    await waitUntil(() => fileHas(b.path("restarted.conf", "conf"), "after the restart\n"), 5000, "on B");
    assert.equal(agentA.exitCode, null);
    assert.equal(agentB.exitCode, null);
  });
});
