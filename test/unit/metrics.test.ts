import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { parseConfigText } from "../../src/config/load.js";
import { Journal } from "../../src/journal/journal.js";
import { AgentMetrics } from "../../src/metrics/agent-metrics.js";
import { MetricsListenError, parseListen, serveMetrics } from "../../src/metrics/server.js";
import { emptyCounts } from "../../src/reconcile/counts.js";
import type { PassResult } from "../../src/reconcile/pass.js";
import { FEDSYNC_VERSION } from "../../src/version.js";

function setup(t: { after(fn: () => void): void }) {
  const dir = mkdtempSync(join(tmpdir(), "fedsync-metrics-"));
  const config = parseConfigText(
    `
state_dir: ${join(dir, "state")}
datastore: { endpoint: "http://127.0.0.1:9000", bucket: fleet, access_key_id: fedsync }
sets:
  - name: web
    path: ${join(dir, "web")}
    interval: 5m
  - name: conf
    path: ${join(dir, "conf")}
    method: lightweight
`,
    "test.yaml",
    { FEDSYNC_SECRET_ACCESS_KEY: "secret-for-tests" },
  );
  const journal = Journal.open(config.stateDir);
  t.after(() => {
    journal.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return { config, journal, metrics: new AgentMetrics({ journal, sets: () => config.sets }) };
}

function passResult(set: string, change: Partial<PassResult> = {}): PassResult {
  return {
    set,
    ok: true,
    guardTripped: false,
    catchUp: false,
    counts: emptyCounts(),
    hashed: 0,
    durationMs: 1500,
    planned: [],
    problems: { count: 0 },
    interrupted: false,
    bucket: "listing",
    awaitingDeletion: [],
    awaitedChanges: [],
    ...change,
  };
}

/** The value of one sample of the exposition text (labels in the order prom-client writes them). */
function sample(text: string, series: string): number | undefined {
  const line = text.split("\n").find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

test("pass results, requests, journal state and the build show up in the exposition text", async (t) => {
  const { journal, metrics } = setup(t);
  const web = metrics.forSet("web");
  const conf = metrics.forSet("conf");
  let text = await metrics.registry.metrics();
  assert.equal(sample(text, 'fedsync_conflicts_total{set="conf"}'), 0, "counters start at 0");
  assert.equal(sample(text, 'fedsync_passes_total{set="web",result="guard"}'), 0);

  const counts = { ...emptyCounts(), uploaded: 3, downloaded: 2, bytesUp: 300, bytesDown: 20, conflicts: 1 };
  web.passFinished(
    { kind: "full" },
    passResult("web", { counts: { ...counts, deletedLocal: 4, failed: 1 } }),
  );
  web.passFinished({ kind: "full" }, passResult("web", { counts }));
  web.passFinished({ kind: "full" }, passResult("web", { ok: false, guardTripped: true, error: "guard" }));
  web.passFailed({ kind: "keys", keys: ["a"] }, 250);
  conf.notificationStream(true);
  web.hookRan("on_change", "timeout");
  metrics.datastoreRequest("PutObject");
  metrics.datastoreRequest("PutObject");
  metrics.datastoreRequest("ListObjectsV2");
  journal.updateSetState("web", { lastGoodSync: 1_700_000_000_500 });
  journal.addPending("conf", "a.conf", "change");
  journal.addPending("conf", "b.conf", "change");

  text = await metrics.registry.metrics();
  const expect: [string, number][] = [
    ['fedsync_passes_total{set="web",result="ok"}', 2],
    ['fedsync_passes_total{set="web",result="guard"}', 1],
    ['fedsync_passes_total{set="web",result="failed"}', 1],
    ['fedsync_pass_duration_seconds_count{set="web",scope="full"}', 3],
    ['fedsync_pass_duration_seconds_sum{set="web",scope="full"}', 4.5],
    ['fedsync_pass_duration_seconds_bucket{le="1",set="web",scope="full"}', 0],
    ['fedsync_pass_duration_seconds_bucket{le="2.5",set="web",scope="full"}', 3],
    ['fedsync_pass_duration_seconds_count{set="web",scope="partial"}', 1],
    ['fedsync_transferred_files_total{set="web",direction="up"}', 6],
    ['fedsync_transferred_files_total{set="web",direction="down"}', 4],
    ['fedsync_transferred_bytes_total{set="web",direction="up"}', 600],
    ['fedsync_transferred_bytes_total{set="web",direction="down"}', 40],
    ['fedsync_deleted_files_total{set="web",side="local"}', 4],
    ['fedsync_failed_files_total{set="web"}', 1],
    ['fedsync_conflicts_total{set="web"}', 2],
    ['fedsync_guard_trips_total{set="web"}', 1],
    ['fedsync_hook_runs_total{set="web",hook="on_change",result="timeout"}', 1],
    ['fedsync_datastore_requests_total{operation="PutObject"}', 2],
    ['fedsync_datastore_requests_total{operation="ListObjectsV2"}', 1],
    ['fedsync_pending_changes{set="conf"}', 2],
    ['fedsync_pending_changes{set="web"}', 0],
    ['fedsync_last_good_pass_timestamp_seconds{set="web"}', 1_700_000_000.5],
    ['fedsync_full_pass_interval_seconds{set="web"}', 300],
    ['fedsync_full_pass_interval_seconds{set="conf"}', 600],
    ['fedsync_notification_stream_up{set="conf"}', 1],
    [`fedsync_build_info{version="${FEDSYNC_VERSION}",node_version="${process.version}"}`, 1],
  ];
  for (const [series, value] of expect) assert.equal(sample(text, series), value, series);
  assert.equal(sample(text, 'fedsync_last_good_pass_timestamp_seconds{set="conf"}'), undefined);
  assert.equal(sample(text, 'fedsync_notification_stream_up{set="web"}'), undefined);
  assert.doesNotMatch(text, /^process_cpu_seconds_total /m);
  metrics.includeProcessMetrics();
  metrics.includeProcessMetrics();
  assert.match(await metrics.registry.metrics(), /^process_cpu_seconds_total /m);
  assert.match(text, /^# TYPE fedsync_passes_total counter$/m);

  conf.notificationStream(false);
  text = await metrics.registry.metrics();
  assert.equal(sample(text, 'fedsync_notification_stream_up{set="conf"}'), 0);
});

test("the server answers /metrics, 404 elsewhere, 405 to other methods", async (t) => {
  const { metrics } = setup(t);
  metrics.forSet("web");
  const server = await serveMetrics("127.0.0.1:0", metrics.registry);
  t.after(() => server.close());
  assert.match(server.address, /^127\.0\.0\.1:\d+$/);
  const base = `http://${server.address}`;
  const ok = await fetch(`${base}/metrics`);
  assert.equal(ok.status, 200);
  assert.equal(ok.headers.get("content-type"), "text/plain; version=0.0.4; charset=utf-8");
  assert.match(await ok.text(), /^fedsync_passes_total\{set="web",result="ok"\} 0$/m);
  assert.equal((await fetch(`${base}/metrics?x=1`)).status, 200);
  for (const path of ["/", "/metrics/", "/metricsx", "/favicon.ico"]) {
    const response = await fetch(`${base}${path}`);
    assert.equal(response.status, 404, path);
    await response.text();
  }
  const post = await fetch(`${base}/metrics`, { method: "POST" });
  assert.equal(post.status, 405);
  assert.equal(post.headers.get("allow"), "GET, HEAD");
});

test("the server binds exactly the address given", async (t) => {
  const { metrics } = setup(t);
  const server = await serveMetrics("127.0.0.1:0", metrics.registry);
  t.after(() => server.close());
  const port = Number(server.address.split(":")[1]);
  // Another loopback address of the same port is not served.
  await assert.rejects(fetch(`http://127.0.0.2:${port}/metrics`), /fetch failed/);
});

test("a port in use is one clear error", async (t) => {
  const { metrics } = setup(t);
  const taken = net.createServer();
  await new Promise<void>((resolve) => taken.listen(0, "127.0.0.1", resolve));
  t.after(() => taken.close());
  const port = (taken.address() as net.AddressInfo).port;
  await assert.rejects(serveMetrics(`127.0.0.1:${port}`, metrics.registry), (error: unknown) => {
    assert.ok(error instanceof MetricsListenError);
    assert.equal(error.message, `cannot serve metrics on 127.0.0.1:${port}: address already in use`);
    return true;
  });
  await assert.rejects(serveMetrics("192.0.2.1:9464", metrics.registry), {
    message: "cannot serve metrics on 192.0.2.1:9464: no such address on this machine",
  });
});

test("listen addresses are split into host and port, IPv6 without brackets", () => {
  assert.deepEqual(parseListen("127.0.0.1:9464"), { host: "127.0.0.1", port: 9464 });
  assert.deepEqual(parseListen("[::1]:9464"), { host: "::1", port: 9464 });
  assert.deepEqual(parseListen("metrics.internal:80"), { host: "metrics.internal", port: 80 });
});
