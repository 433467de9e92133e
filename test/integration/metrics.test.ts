import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import { startFederation, type Agent, type Federation } from "../helpers/federation.js";
import { AgentProcess, waitUntil } from "../helpers/agent-process.js";
import { freePort } from "../helpers/minio.js";

const SETS = [{ name: "web", method: "lightweight" as const }];
const FILES = 20;

async function scrape(listen: string): Promise<string> {
  const response = await fetch(`http://${listen}/metrics`);
  assert.equal(response.status, 200);
  assert.match(response.headers.get("content-type") ?? "", /^text\/plain; version=0\.0\.4/);
  return response.text();
}

/** One sample's value; undefined when the series is absent. */
function sample(text: string, series: string): number | undefined {
  const line = text.split("\n").find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe("metrics of running agents, scraped over HTTP", () => {
  let fed: Federation;
  let a: Agent;
  let b: Agent;
  let agentA: AgentProcess;
  let agentB: AgentProcess;
  let listenA: string;
  let listenB: string;
  let agentsStartedAt: number;

  /** Scrapes until `series` satisfies `wanted`, then returns the whole text. */
  async function scrapeUntil(
    listen: string,
    series: string,
    wanted: (value: number | undefined) => boolean,
  ): Promise<string> {
    const deadline = Date.now() + 30_000;
    for (;;) {
      const text = await scrape(listen);
      const value = sample(text, series);
      if (wanted(value)) return text;
      if (Date.now() > deadline) {
        const agent = listen === listenA ? agentA : agentB;
        assert.fail(
          `${series} on ${listen} is ${value} after 30 s; the agent's log:\n${agent.output.slice(-6000)}`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }

  before(async () => {
    fed = await startFederation(3, SETS);
    [a, b] = fed.agents as [Agent, Agent];
    listenA = `127.0.0.1:${await freePort()}`;
    listenB = `127.0.0.1:${await freePort()}`;
    a.writeConfig(SETS, { metrics: { listen: listenA } });
    b.writeConfig(SETS, { metrics: { listen: listenB } });
    agentsStartedAt = Date.now() / 1000;
    agentA = new AgentProcess(fed.spawnAgent(a));
    agentB = new AgentProcess(fed.spawnAgent(b));
    await agentA.waitForLog(/ready/);
    await agentB.waitForLog(/ready/);
    // The start-up full passes are done, so the files written next go through the watcher.
    for (const listen of [listenA, listenB])
      await scrapeUntil(listen, 'fedsync_passes_total{set="web",result="ok"}', (v) => v! >= 1);
  });
  after(async () => {
    await agentA?.stop();
    await agentB?.stop();
    await fed?.close();
  });

  test("the agents say where they serve metrics, and serve nothing else", async () => {
    await agentA.waitForLog(new RegExp(`metrics on http://${listenA}/metrics`));
    const other = await fetch(`http://${listenA}/`);
    assert.equal(other.status, 404);
    await other.text();
    // The stream counts as up once the server answered the listen request.
    const text = await scrapeUntil(listenA, 'fedsync_notification_stream_up{set="web"}', (v) => v === 1);
    assert.match(text, /^fedsync_build_info\{version="[^"]+",node_version="v\d+\.\d+\.\d+"\} 1$/m);
    assert.equal(sample(text, 'fedsync_notification_stream_up{set="web"}'), 1);
    assert.equal(sample(text, 'fedsync_full_pass_interval_seconds{set="web"}'), 600);
    assert.match(text, /^process_resident_memory_bytes \d+/m);
  });

  test("files synced from A to B are counted up on A and down on B, with their bytes", async () => {
    let bytes = 0;
    for (let i = 0; i < FILES; i++) {
      const content = `file ${i} `.repeat(i + 1);
      bytes += Buffer.byteLength(content);
      writeFileSync(a.path(`page-${i}.html`), content);
    }
    const textA = await scrapeUntil(
      listenA,
      'fedsync_transferred_files_total{set="web",direction="up"}',
      (v) => v === FILES,
    );
    assert.equal(sample(textA, 'fedsync_transferred_bytes_total{set="web",direction="up"}'), bytes);
    assert.equal(sample(textA, 'fedsync_transferred_files_total{set="web",direction="down"}'), 0);
    assert.ok(sample(textA, 'fedsync_datastore_requests_total{operation="PutObject"}')! >= FILES);
    assert.ok(sample(textA, 'fedsync_passes_total{set="web",result="ok"}')! >= 2, "start-up pass and sync");
    assert.equal(sample(textA, 'fedsync_passes_total{set="web",result="failed"}'), 0);
    assert.equal(sample(textA, 'fedsync_pending_changes{set="web"}'), 0);
    const partial = sample(textA, 'fedsync_pass_duration_seconds_count{set="web",scope="partial"}');
    assert.ok(partial! >= 1, "the changed-keys pass is timed");

    const textB = await scrapeUntil(
      listenB,
      'fedsync_transferred_files_total{set="web",direction="down"}',
      (v) => v === FILES,
    );
    assert.equal(readdirSync(b.root()).length, FILES);
    assert.equal(sample(textB, 'fedsync_transferred_bytes_total{set="web",direction="down"}'), bytes);
    assert.equal(sample(textB, 'fedsync_transferred_files_total{set="web",direction="up"}'), 0);
    assert.ok(sample(textB, 'fedsync_datastore_requests_total{operation="GetObject"}')! >= FILES);
    assert.equal(sample(textB, 'fedsync_conflicts_total{set="web"}'), 0);
    // The start-up full pass was good: its end is the last good pass.
    const lastGood = sample(textB, 'fedsync_last_good_pass_timestamp_seconds{set="web"}')!;
    const now = Date.now() / 1000;
    assert.ok(lastGood > agentsStartedAt && lastGood <= now, `last good pass at ${lastGood}, now ${now}`);
  });

  test("a pass stopped by the deletion guard is counted as a guard trip", async () => {
    for (const name of readdirSync(a.root())) rmSync(a.path(name));
    const text = await scrapeUntil(listenA, 'fedsync_guard_trips_total{set="web"}', (v) => v === 1);
    assert.equal(sample(text, 'fedsync_passes_total{set="web",result="guard"}'), 1);
    await agentA.waitForLog(/deletion guard|is empty but the journal knows/);
    assert.equal(readdirSync(b.root()).length, FILES, "the guard let nothing be deleted on B");
  });

  test("a metrics address in use is one error line; the agent still syncs", async () => {
    const taken = net.createServer();
    const port = await freePort();
    await new Promise<void>((resolve) => taken.listen(port, "127.0.0.1", resolve));
    try {
      // A third machine joins; its metrics port is taken.
      const c = fed.agents[2]!;
      c.writeConfig(SETS, { metrics: { listen: `127.0.0.1:${port}` } });
      const blocked = new AgentProcess(fed.spawnAgent(c));
      try {
        await blocked.waitForLog(/ready/);
        const errors = blocked.output.split("\n").filter((line) => line.includes("cannot serve metrics"));
        assert.equal(errors.length, 1, blocked.output);
        assert.match(
          errors[0]!,
          new RegExp(
            `error cannot serve metrics on 127\\.0\\.0\\.1:${port}: address already in use; running without metrics`,
          ),
        );
        await waitUntil(
          () => readdirSync(c.root()).filter((name) => !name.startsWith(".fedsync-tmp-")).length === FILES,
          60_000,
          "the set's files on the new machine",
          () => blocked.output,
        );
      } finally {
        assert.equal(await blocked.stop(), 0);
      }
    } finally {
      taken.close();
    }
  });
});
