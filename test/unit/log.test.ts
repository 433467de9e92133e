import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { Writable } from "node:stream";
import { pathToFileURL } from "node:url";
import { createLogger, logOnce, registerSecret, type LoggerOptions } from "../../src/log/index.js";
import { emptyCounts } from "../../src/reconcile/counts.js";
import type { PassResult } from "../../src/reconcile/pass.js";
import { logPassSummary } from "../../src/reconcile/summary.js";

/** A logger writing into memory; `lines()` waits for winston to flush and returns what was written. */
function capture(options: Omit<LoggerOptions, "stream"> = {}) {
  let text = "";
  const stream = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      text += chunk.toString("utf8");
      callback();
    },
  });
  const logger = createLogger({ journald: false, ...options, stream });
  return {
    logger,
    async lines(): Promise<string[]> {
      await new Promise((r) => setImmediate(r));
      assert.ok(text === "" || text.endsWith("\n"), "every event ends its line");
      return text === "" ? [] : text.slice(0, -1).split("\n");
    },
  };
}

test("under journald each line starts with its syslog priority and has no timestamp", async () => {
  const { logger, lines } = capture({ level: "debug", journald: true });
  logger.error("e");
  logger.warn("w", { set: "webroot" });
  logger.info("i");
  logger.debug("d");
  assert.deepEqual(await lines(), ["<3>error e", "<4>warn [webroot] w", "<6>info i", "<7>debug d"]);
});

test("plain lines read: time, level, [set], message, key=value", async () => {
  const { logger, lines } = capture();
  logger.warn("upload failed", { set: "webroot", path: "a b/c.txt", attempt: 2, retry: true });
  const [line, ...rest] = await lines();
  assert.deepEqual(rest, []);
  assert.match(
    line!,
    /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z warn \[webroot\] upload failed path="a b\/c\.txt" attempt=2 retry=true$/,
  );
});

test("levels below the configured one are dropped; child loggers add their fields", async () => {
  const { logger, lines } = capture({ level: "info", journald: true });
  const child = logger.child({ set: "config", machine: "web1" });
  child.debug("hidden");
  child.info("shown", { machine: "web2" });
  assert.deepEqual(await lines(), ["<6>info [config] shown machine=web2"]);
});

test("an event is one line even when message, fields and stacks hold newlines", async () => {
  for (const format of ["plain", "json"] as const) {
    const { logger, lines } = capture({ format });
    const error = new Error("first line\nsecond line");
    logger.error("bad\nname\r\u2028here", { path: "dir/\nfake line", error, list: ["x\ny"] });
    logger.info("next");
    const written = await lines();
    assert.equal(written.length, 2, `${format}: ${JSON.stringify(written)}`);
    assert.match(written[0]!, /bad\\nname\\r\\u2028here/);
    assert.match(written[0]!, /first line\\nsecond line\\n {4}at /);
    assert.match(written[1]!, /next/);
  }
});

test("json format writes one parseable object per line", async () => {
  const { logger, lines } = capture({ format: "json", level: "debug" });
  logger.debug("scan done", { set: "webroot", files: 100_000, took: 1.5, level: "spoof" });
  logger.error("pass failed", { error: Object.assign(new Error("boom"), { code: "EACCES" }) });
  const [first, second] = (await lines()).map((line) => JSON.parse(line) as Record<string, unknown>);
  assert.equal(typeof first!.time, "string");
  assert.ok(!Number.isNaN(Date.parse(first!.time as string)));
  assert.deepEqual(
    { ...first, time: undefined },
    {
      time: undefined,
      level: "debug",
      msg: "scan done",
      set: "webroot",
      files: 100_000,
      took: 1.5,
      _level: "spoof",
    },
  );
  const error = second!.error as Record<string, unknown>;
  assert.equal(error.message, "boom");
  assert.equal(error.code, "EACCES");
  assert.match(error.stack as string, /^Error: boom\n {4}at /);

  const journald = capture({ format: "json", journald: true });
  journald.logger.warn("w");
  const [line] = await journald.lines();
  assert.match(line!, /^<4>\{/);
  assert.deepEqual(JSON.parse(line!.slice(3)), { level: "warn", msg: "w" });
});

test("registered secrets and credential-looking values never reach a line", async () => {
  const secret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYzEXAMPLEKEY";
  registerSecret(secret);
  for (const format of ["plain", "json"] as const) {
    const { logger, lines } = capture({ format });
    const error = new Error(`S3 rejected the key ${secret}`);
    logger.error(`connecting with ${secret}`, {
      error,
      nested: { deeper: [`x${secret}y`], secret_access_key: "other-secret-1" },
      secretAccessKey: "other-secret-2",
      password: "hunter2hunter2",
      authorization:
        "AWS4-HMAC-SHA256 Credential=AKIAEXAMPLE/20261125/us-east-1/s3/aws4_request, Signature=0a1b2c",
      url:
        "https://minio.internal:9000/fleet-sync/a.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256" +
        "&X-Amz-Credential=AKIAEXAMPLE%2F20261125&X-Amz-Signature=deadbeef&X-Amz-Expires=60",
      encoded: `secret=${encodeURIComponent(secret)}`,
    });
    logger.warn("header was Authorization: AWS4-HMAC-SHA256 Credential=AKIAEXAMPLE/x, Signature=feed42", {
      note: "config said password: hunter3hunter3",
    });
    const text = (await lines()).join("\n");
    for (const leaked of [
      secret,
      encodeURIComponent(secret),
      "other-secret-1",
      "other-secret-2",
      "hunter2hunter2",
      "hunter3hunter3",
      "AKIAEXAMPLE",
      "0a1b2c",
      "deadbeef",
      "feed42",
    ]) {
      assert.ok(!text.includes(leaked), `${format}: ${leaked} leaked in ${text}`);
    }
    assert.match(text, /\[redacted\]/);
    assert.match(text, /X-Amz-Expires=60/, "harmless parameters stay");
    assert.match(text, /S3 rejected the key \[redacted\]/);
  }
});

test("logOnce logs a key the first time only", async () => {
  const { logger, lines } = capture({ journald: true });
  for (let i = 0; i < 3; i++) {
    logOnce(logger, "hostile-key:webroot/../x", "warn", "skipped object key", { key: "webroot/../x" });
  }
  logOnce(logger, "hostile-key:webroot/./y", "warn", "skipped object key", { key: "webroot/./y" });
  assert.deepEqual(await lines(), [
    "<4>warn skipped object key key=webroot/../x",
    "<4>warn skipped object key key=webroot/./y",
  ]);
});

test("journald mode is on by default only when stderr is the stream JOURNAL_STREAM names", () => {
  const dir = mkdtempSync(join(tmpdir(), "fedsync-log-"));
  try {
    const file = join(dir, "stderr.log");
    const logModule = pathToFileURL(resolve(import.meta.dirname, "../../src/log/index.ts")).href;
    const run = (journalStream: (path: string) => string) => {
      const fd = openSync(file, "w");
      try {
        const env = { ...process.env, JOURNAL_STREAM: journalStream(file) };
        const result = spawnSync(
          process.execPath,
          [
            "--import",
            "tsx",
            "--input-type=module",
            "-e",
            `const { createLogger } = await import(${JSON.stringify(logModule)}); createLogger().warn("hello");`,
          ],
          { cwd: resolve(import.meta.dirname, "../.."), env, stdio: ["ignore", "ignore", fd] },
        );
        assert.equal(result.status, 0);
      } finally {
        closeSync(fd);
      }
      return readFileSync(file, "utf8");
    };
    const devIno = (path: string) => {
      const stat = statSync(path, { bigint: true });
      return `${stat.dev}:${stat.ino}`;
    };
    assert.equal(run(devIno), "<4>warn hello\n");
    assert.match(
      run(() => "1:2"),
      /^\S+Z warn hello\n$/,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("figures are written once: as words after the message in plain lines, as fields in json lines", async () => {
  const figures = {
    text: "3 up, 1.0 KiB up, 0.04 s",
    values: { uploaded: 3, bytesUp: 1024, durationMs: 42 },
  };
  const plain = capture({ journald: true });
  plain.logger.info("pass complete", { set: "web", catchUp: true }, figures);
  assert.deepEqual(await plain.lines(), [
    "<6>info [web] pass complete: 3 up, 1.0 KiB up, 0.04 s catchUp=true",
  ]);

  const json = capture({ format: "json", journald: true });
  json.logger.info("pass complete", { set: "web" }, figures);
  const [line] = await json.lines();
  assert.deepEqual(JSON.parse(line!.slice(3)), {
    level: "info",
    msg: "pass complete",
    uploaded: 3,
    bytesUp: 1024,
    durationMs: 42,
    set: "web",
  });
});

test("a pass summary names each figure once and says how the pass ended", async () => {
  const counts = { ...emptyCounts(), uploaded: 2, downloaded: 1, skipped: 1, bytesUp: 3072, bytesDown: 10 };
  const result: PassResult = {
    set: "web",
    ok: true,
    guardTripped: false,
    interrupted: false,
    problems: { count: 0 },
    catchUp: false,
    counts,
    hashed: 2,
    durationMs: 1234,
    planned: [],
    bucket: "listing",
    awaitingDeletion: [],
    awaitedChanges: [],
  };
  const { logger, lines } = capture({ journald: true });
  logPassSummary(logger, result);
  logPassSummary(logger, { ...result, ok: false, interrupted: true });
  logPassSummary(logger, { ...result, ok: false, counts: { ...counts, failed: 1 } });
  assert.deepEqual(await lines(), [
    "<6>info [web] pass complete: 2 up, 1 down, 0 deleted here, 0 deleted remotely, 0 conflicts, 0 failed, 1 skipped, 3.0 KiB up, 10 B down, 1.23 s",
    "<4>warn [web] pass interrupted: 2 up, 1 down, 0 deleted here, 0 deleted remotely, 0 conflicts, 0 failed, 1 skipped, 3.0 KiB up, 10 B down, 1.23 s",
    "<3>error [web] pass finished with errors: 2 up, 1 down, 0 deleted here, 0 deleted remotely, 0 conflicts, 1 failed, 1 skipped, 3.0 KiB up, 10 B down, 1.23 s",
  ]);
});

test("plain lines shorten a sha256 field to 12 hex digits; JSON lines keep all 64", async () => {
  const hash = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
  const plain = capture({ journald: true });
  plain.logger.info("downloaded", { set: "web", path: hash, sha256: hash, size: 4 });
  assert.deepEqual(await plain.lines(), [`<6>info [web] downloaded path=${hash} sha256=9f86d081884c size=4`]);
  const json = capture({ journald: true, format: "json" });
  json.logger.info("downloaded", { sha256: hash });
  assert.deepEqual(await json.lines(), [`<6>{"level":"info","msg":"downloaded","sha256":"${hash}"}`]);
});
