import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import {
  chmodSync,
  existsSync,
  mkdirSync,
  readdirSync,
  rmSync,
  statSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import {
  objectExists,
  snapshot,
  startFederation,
  useFederation,
  writeTree,
  type Agent,
  type Federation,
  type SetSpec,
} from "../helpers/federation.js";
import { AgentProcess, fileHas, waitUntil } from "../helpers/agent-process.js";

async function objectVersions(fed: Federation, key: string): Promise<number> {
  let count = 0;
  const stream = fed.minio.client.listObjects(fed.bucket, key, false, { IncludeVersion: true });
  for await (const item of stream as AsyncIterable<{ name?: string; isDeleteMarker?: boolean }>) {
    if (item.name === key && !item.isDeleteMarker) count++;
  }
  return count;
}

function start(fed: Federation, agent: Agent): AgentProcess {
  return new AgentProcess(fed.spawnAgent(agent));
}

describe("two lightweight agents", () => {
  let fed: Federation;
  let a: Agent;
  let b: Agent;
  let agentA: AgentProcess;
  let agentB: AgentProcess;

  before(async () => {
    fed = await startFederation(2, [{ name: "conf", method: "lightweight" }]);
    [a, b] = fed.agents as [Agent, Agent];
    await fed.minio.client.setBucketVersioning(fed.bucket, { Status: "Enabled" });
    agentA = start(fed, a);
    agentB = start(fed, b);
    await agentA.waitForLog(/ready/);
    await agentB.waitForLog(/ready/);
  });
  after(async () => {
    await agentA.stop();
    await agentB.stop();
    await fed.close();
  });

  test("a file written on A appears on B with its content, mode and mtime; no ping-pong", async () => {
    writeFileSync(a.path("app.conf", "conf"), "listen 80\n");
    chmodSync(a.path("app.conf", "conf"), 0o640);
    const mtime = new Date("2025-05-05T05:05:05Z");
    utimesSync(a.path("app.conf", "conf"), mtime, mtime);
    const took = await waitUntil(
      () =>
        fileHas(b.path("app.conf", "conf"), "listen 80\n") &&
        statSync(b.path("app.conf", "conf")).mtimeMs === mtime.getTime(),
      10_000,
      "app.conf on B",
    );
    console.log(`create propagated A -> B in ${took} ms`);
    assert.equal(statSync(b.path("app.conf", "conf")).mode & 0o7777, 0o640);
    await new Promise((resolve) => setTimeout(resolve, 1500));
    assert.equal(
      await objectVersions(fed, "conf/app.conf"),
      1,
      "the bucket saw more than one PUT for one change",
    );
  });

  test("an edit and a delete propagate within seconds, one PUT per change", async () => {
    writeFileSync(b.path("app.conf", "conf"), "listen 8080\n");
    await waitUntil(() => fileHas(a.path("app.conf", "conf"), "listen 8080\n"), 10_000, "edit on A");
    await new Promise((resolve) => setTimeout(resolve, 1500));
    assert.equal(await objectVersions(fed, "conf/app.conf"), 2);
    rmSync(a.path("app.conf", "conf"));
    await waitUntil(() => !existsSync(b.path("app.conf", "conf")), 10_000, "delete on B");
    // B's audit trail names the machine the deletion came from, from its deletion mark.
    const log = await fed.run(b, ["log", "--set", "conf", "--json"]);
    const rows = JSON.parse(log.stdout) as { path: string; action: string; origin: string }[];
    const deletion = rows.find((row) => row.path === "app.conf" && row.action === "delete-local");
    assert.equal(deletion?.origin, "machine-a", log.stdout);
    assert.equal(agentA.exitCode, null);
    assert.equal(agentB.exitCode, null);
  });

  test("files written later in directories made at once (mkdir -p) reach B within seconds", async () => {
    const dirs = Array.from({ length: 20 }, (_, i) => `nested${i}/inner/deep`);
    for (const dir of dirs) {
      mkdirSync(a.path(dir, "conf"), { recursive: true });
      writeFileSync(a.path(`${dir}/first.conf`, "conf"), "first\n");
    }
    await waitUntil(
      () => dirs.every((dir) => fileHas(b.path(`${dir}/first.conf`, "conf"), "first\n")),
      20_000,
      "the first files on B",
      () => agentA.output.slice(-4000) + "\n---B---\n" + agentB.output.slice(-2000),
    );
    // The watcher only reports writes in these directories if it watches them: the safety pass, which
    // would find them anyway, is ten minutes away.
    for (const dir of dirs) writeFileSync(a.path(`${dir}/later.conf`, "conf"), "later\n");
    await waitUntil(
      () => dirs.every((dir) => fileHas(b.path(`${dir}/later.conf`, "conf"), "later\n")),
      10_000,
      "the later files on B",
      () => dirs.filter((dir) => !existsSync(b.path(`${dir}/later.conf`, "conf"))).join(", "),
    );
  });

  test("a burst of 20,000 files into new nested dirs and an existing dir all reach B", async () => {
    mkdirSync(a.path("existing", "conf"));
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const expected: string[] = [];
    for (let d = 0; d < 40; d++) {
      const dir = a.path(`burst/d${d}/sub`, "conf");
      mkdirSync(dir, { recursive: true });
      for (let f = 0; f < 250; f++) {
        writeFileSync(join(dir, `f${f}.txt`), `d${d} f${f}`);
        expected.push(`burst/d${d}/sub/f${f}.txt`);
      }
    }
    for (let f = 0; f < 10_000; f++) {
      writeFileSync(a.path(`existing/e${f}.txt`, "conf"), `e${f}`);
      expected.push(`existing/e${f}.txt`);
    }
    const missing = () => expected.filter((rel) => !existsSync(b.path(rel, "conf")));
    const took = await waitUntil(
      () => missing().length === 0,
      420_000,
      "all burst files on B",
      () => {
        const lost = missing();
        return `${lost.length} missing, e.g. ${lost.slice(0, 10).join(", ")}`;
      },
    );
    console.log(`burst of ${expected.length} files converged on B in ${took} ms`);
    assert.deepEqual(missing(), []);
    assert.equal(readdirSync(b.path("existing", "conf")).length, 10_000);
    await waitUntil(
      () => JSON.stringify([...snapshot(a.root("conf"))]) === JSON.stringify([...snapshot(b.root("conf"))]),
      60_000,
      "identical trees",
    );
  });
});

describe("agent lifecycle", () => {
  let fed: Federation;
  let a: Agent;
  let b: Agent;

  useFederation([2, [{ name: "site", method: "lightweight" }]], (started) => {
    fed = started;
    [a, b] = started.agents as [Agent, Agent];
  });

  test("files changed while an agent was stopped are synced when it starts", async () => {
    writeTree(a.root("site"), { "index.html": "v1", "about.html": "about" });
    const agentA = start(fed, a);
    await agentA.waitForLog(/pass complete: 2 up/);
    const agentB = start(fed, b);
    await waitUntil(() => fileHas(b.path("index.html", "site"), "v1"), 15_000, "initial sync on B");
    await agentB.stop();
    writeFileSync(b.path("index.html", "site"), "v2 written while B's agent was down");
    rmSync(b.path("about.html", "site"));
    const restarted = start(fed, b);
    await waitUntil(
      () => fileHas(a.path("index.html", "site"), "v2 written while B's agent was down"),
      15_000,
      "catch-up on A",
    );
    await waitUntil(() => !existsSync(a.path("about.html", "site")), 15_000, "catch-up delete on A");
    assert.equal(await restarted.stop(), 0);
    assert.equal(await agentA.stop(), 0);
  });

  test("a datastore outage of 20 s: the agent stays up, lets the datastore settle, and both sides converge after", async (t) => {
    a.writeConfig(undefined, { settle_after_outage: "5s" });
    t.after(() => a.writeConfig());
    const agentA = start(fed, a);
    const agentB = start(fed, b);
    await agentA.waitForLog(/ready/);
    await agentB.waitForLog(/ready/);
    await fed.minio.pause();
    for (let i = 0; i < 20; i++) writeFileSync(a.path(`during-outage-${i}.txt`, "site"), `outage ${i}`);
    rmSync(a.path("index.html", "site"));
    await new Promise((resolve) => setTimeout(resolve, 20_000));
    assert.equal(agentA.exitCode, null, "agent A exited during the outage");
    await agentA.waitForLog(/datastore down/);
    await fed.minio.resume();
    await agentA.waitForLog(/datastore up again; syncing resumes in 5 s \(settle_after_outage\)/, 60_000);
    assert.equal(
      await objectExists(fed, "site/during-outage-0.txt"),
      false,
      "nothing is written while the datastore settles",
    );
    await waitUntil(
      () =>
        Array.from({ length: 20 }, (_, i) => i).every((i) =>
          fileHas(b.path(`during-outage-${i}.txt`, "site"), `outage ${i}`),
        ),
      90_000,
      "files written during the outage on B",
      () => agentA.output.slice(-3000),
    );
    await waitUntil(() => !existsSync(b.path("index.html", "site")), 30_000, "delete during the outage on B");
    assert.equal(agentA.output.match(/datastore up again/g)?.length, 1, agentA.output);
    assert.equal(agentA.exitCode, null);
    await agentA.stop();
    await agentB.stop();
  });

  test("SIGHUP adds a set without a restart", async () => {
    const agentA = start(fed, a);
    await agentA.waitForLog(/ready/);
    const sets: SetSpec[] = [
      { name: "site", method: "lightweight" },
      { name: "extra", method: "heavyweight", interval: "1h" },
    ];
    a.writeConfig(sets);
    mkdirSync(a.root("extra"), { recursive: true });
    writeFileSync(a.path("added.txt", "extra"), "from the new set");
    agentA.child.kill("SIGHUP");
    await agentA.waitForLog(/reloaded .* started=extra/);
    await agentA.waitForLog(/\[extra\] pass complete: 1 up/);
    b.writeConfig(sets);
    await fed.sync(b, ["--set", "extra"]);
    assert.ok(fileHas(b.path("added.txt", "extra"), "from the new set"));
    a.writeConfig([{ name: "site", method: "lightweight", interval: "not a duration", debounce: "later" }]);
    agentA.child.kill("SIGHUP");
    // Every problem on the one line, separated by "; " (no escaped line break).
    await agentA.waitForLog(
      /reload refused, keeping the running config: sets\[0\]\.interval: [^;\n\\]+; sets\[0\]\.debounce: [^;\n\\]+\n/,
    );
    assert.equal(agentA.exitCode, null);
    a.writeConfig([{ name: "site", method: "lightweight" }]);
    assert.equal(await agentA.stop(), 0);
  });

  test("SIGTERM during a large upload leaves no temp or partial file", async () => {
    const big = Buffer.alloc(256 * 1024 * 1024, 7);
    writeFileSync(a.path("big.bin", "site"), big);
    const agentB = start(fed, b);
    const agentA = start(fed, a);
    await agentA.waitForLog(/ready/);
    await new Promise((resolve) => setTimeout(resolve, 1500));
    assert.equal(await agentA.stop(), 0);
    await agentB.waitForLog(/ready/);
    await new Promise((resolve) => setTimeout(resolve, 1000));
    assert.equal(await agentB.stop(), 0);
    const temps = (root: string) =>
      readdirSync(root, { recursive: true })
        .map(String)
        .filter((n) => n.includes(".fedsync-tmp-"));
    assert.deepEqual(temps(a.root("site")), []);
    assert.deepEqual(temps(b.root("site")), []);
    if (existsSync(b.path("big.bin", "site")))
      assert.equal(statSync(b.path("big.bin", "site")).size, big.length);
    await fed.sync(a);
    await fed.sync(b);
    assert.equal(statSync(b.path("big.bin", "site")).size, big.length);
  });
});
