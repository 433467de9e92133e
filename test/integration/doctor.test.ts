import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { chmodSync, existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { stringify } from "yaml";
import {
  cliPath,
  startFederation,
  writeTree,
  type Agent,
  type CommandResult,
  type DatastoreYaml,
  type Federation,
} from "../helpers/federation.js";
import { AgentProcess } from "../helpers/agent-process.js";
import { hideSdNotify } from "../helpers/hide-sd-notify.js";
import { freePort } from "../helpers/minio.js";

function runDoctor(
  configPath: string,
  args: string[] = [],
  env: Record<string, string> = {},
  nodeArgs: string[] = [],
): Promise<CommandResult> {
  return new Promise((done, reject) => {
    const childEnv: NodeJS.ProcessEnv = { ...process.env, ...env };
    if (!("NOTIFY_SOCKET" in env)) delete childEnv.NOTIFY_SOCKET;
    const child = spawn(process.execPath, [...nodeArgs, cliPath, "--config", configPath, "doctor", ...args], {
      env: childEnv,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    child.on("error", reject);
    child.on("close", (code) => done({ code: code ?? -1, stdout, stderr }));
  });
}

/** The verdict line of one check, and the fix line after it (if any). */
function verdictOf(stdout: string, check: string): { line: string; fix?: string } {
  const lines = stdout.split("\n");
  const index = lines.findIndex((line) => new RegExp(`^\\w+ +${check}: `).test(line));
  assert.ok(index >= 0, `no ${check} line in:\n${stdout}`);
  const next = lines[index + 1];
  return { line: lines[index]!, fix: next?.startsWith("      fix: ") ? next.slice(11) : undefined };
}

describe("fedsync doctor", () => {
  let fed: Federation;
  let a: Agent;
  let datastore: DatastoreYaml;

  before(async () => {
    fed = await startFederation(1, [{ name: "web" }, { name: "conf", method: "lightweight" }]);
    a = fed.agents[0]!;
    datastore = fed.datastoreConfig();
    mkTree();
  });
  after(async () => {
    await fed.close();
  });

  function mkTree() {
    writeTree(a.root("web"), { "index.html": "home" });
    writeTree(a.root("conf"), { "a/b/c.conf": "1", "d/e.conf": "2" });
  }

  /** A config file for agent a with some datastore keys changed. */
  function variant(name: string, changes: Record<string, string>): string {
    const path = join(a.home, `${name}.yaml`);
    const sets = [
      { name: "web", path: a.root("web") },
      { name: "conf", path: a.root("conf"), method: "lightweight" },
    ];
    writeFileSync(
      path,
      stringify({
        machine: "machine-a",
        state_dir: a.stateDir,
        datastore: { ...datastore, ...changes },
        sets,
      }),
    );
    return path;
  }

  test("a good setup on a fresh machine: every check passes, nothing is created, exit 0", async () => {
    const result = await runDoctor(a.configPath);
    assert.equal(result.code, 0, result.stdout + result.stderr);
    const out = result.stdout;
    assert.match(
      verdictOf(out, "config").line,
      /^ok {4}config: .*fedsync\.yaml is valid \(machine machine-a, 2 sets\)$/,
    );
    assert.match(
      verdictOf(out, "secret file").line,
      /^ok {4}secret file: .*secret has mode 0600 and is owned by root$/,
    );
    assert.equal(verdictOf(out, "datastore").line, `ok    datastore: ${fed.minio.endpoint} answers`);
    assert.equal(
      verdictOf(out, "credentials").line,
      `ok    credentials: access key ${fed.minio.accessKey} accepted`,
    );
    assert.equal(verdictOf(out, "bucket").line, `ok    bucket: ${fed.bucket} exists and can be listed`);
    assert.match(verdictOf(out, "versioning").line, /^info {2}versioning: off: /);
    assert.match(verdictOf(out, "notifications").line, /^(ok|warn) +notifications: /);
    assert.match(
      verdictOf(out, "clock").line,
      /^ok {4}clock: this machine's clock is \d+\.\d s (behind|ahead of) the server's \(±\d+\.\d s\), within clock_skew 5m$/,
    );
    // The conf root, a, a/b and d: one watch each.
    assert.match(
      verdictOf(out, "inotify").line,
      /^ok {4}inotify: 4 directories in lightweight sets, fs\.inotify\.max_user_watches \d+$/,
    );
    const space = out.split("\n").filter((line) => / free space: /.test(line));
    assert.equal(space.length, 3, out);
    for (const line of space)
      assert.match(line, /^ok {4}free space: \/\S+: [\d.]+ [KMGT]?i?B free \(\d+ %\)$/);
    assert.match(
      verdictOf(out, "journal").line,
      /^info {2}journal: none yet at .*journal\.db: this machine has never synced$/,
    );
    assert.match(verdictOf(out, "sd-notify").line, /^info {2}sd-notify: not under systemd /);
    assert.match(out.trimEnd().split("\n").at(-1)!, /^healthy/);
    assert.ok(!existsSync(a.stateDir), "doctor created the state dir");

    const json = await runDoctor(a.configPath, ["--json"]);
    assert.equal(json.code, 0);
    const report = JSON.parse(json.stdout) as {
      healthy: boolean;
      checks: { check: string; verdict: string }[];
    };
    assert.equal(report.healthy, true);
    assert.deepEqual(
      [...new Set(report.checks.map((c) => c.check))],
      [
        "config",
        "secret file",
        "datastore",
        "credentials",
        "bucket",
        "versioning",
        "notifications",
        "clock",
        "inotify",
        "free space",
        "journal",
        "sd-notify",
      ],
    );
  });

  test("beside a running agent it takes no lock and creates no file; the journal passes quick_check", async () => {
    const agent = new AgentProcess(fed.spawnAgent(a));
    try {
      await agent.waitForLog(/ ready: /);
      const lock = readFileSync(join(a.stateDir, "fedsync.lock"), "utf8");
      const result = await runDoctor(a.configPath);
      assert.equal(result.code, 0, result.stdout);
      assert.match(
        verdictOf(result.stdout, "journal").line,
        /^ok {4}journal: .*journal\.db: quick_check ok, schema \d+$/,
      );
      assert.equal(readFileSync(join(a.stateDir, "fedsync.lock"), "utf8"), lock, "the agent keeps its lock");
      assert.equal(agent.exitCode, null, "the agent still runs");
    } finally {
      assert.equal(await agent.stop(), 0);
    }
    const files = readdirSync(a.stateDir).sort();
    const again = await runDoctor(a.configPath);
    assert.match(verdictOf(again.stdout, "journal").line, /^ok {4}journal: .*quick_check ok/);
    assert.deepEqual(readdirSync(a.stateDir).sort(), files, "doctor left no file behind");
  });

  test("a wrong secret: credentials fail naming the access key, never the secret; exit 1", async () => {
    const wrongSecret = "wrong-secret-VALUE-1234567890";
    const file = join(fed.dir, "doctor-wrong-secret");
    writeFileSync(file, wrongSecret, { mode: 0o600 });
    const result = await runDoctor(variant("wrong-secret", { secret_access_key_file: file }));
    assert.equal(result.code, 1, result.stdout);
    assert.equal(
      verdictOf(result.stdout, "datastore").line,
      `ok    datastore: ${fed.minio.endpoint} answers`,
    );
    const credentials = verdictOf(result.stdout, "credentials");
    assert.match(
      credentials.line,
      new RegExp(
        `^fail  credentials: .*credentials rejected for access key ${fed.minio.accessKey} \\(SignatureDoesNotMatch: wrong secret key\\)$`,
      ),
    );
    assert.match(
      credentials.fix!,
      /^put the secret key of access key \S+ in datastore\.secret_access_key_file/,
    );
    assert.match(verdictOf(result.stdout, "bucket").line, /^skip {2}bucket: not checked/);
    assert.match(result.stdout.trimEnd().split("\n").at(-1)!, /^not healthy: 1 check failed$/);
    for (const secret of [wrongSecret, fed.minio.secretKey])
      assert.ok(!(result.stdout + result.stderr).includes(secret));
  });

  test("a missing bucket: bucket fails with the command that creates it; exit 1", async () => {
    const result = await runDoctor(variant("no-bucket", { bucket: "no-such-bucket-here" }));
    assert.equal(result.code, 1, result.stdout);
    assert.match(verdictOf(result.stdout, "credentials").line, /^ok {4}credentials: /);
    const bucket = verdictOf(result.stdout, "bucket");
    assert.equal(bucket.line, "fail  bucket: no-such-bucket-here does not exist");
    assert.equal(bucket.fix, "create it once for the federation, e.g. mc mb ALIAS/no-such-bucket-here");
  });

  test("a secret file readable by others: config and secret file fail, with chmod 600; exit 1", async () => {
    const secret = join(fed.dir, "secret");
    chmodSync(secret, 0o644);
    try {
      const result = await runDoctor(a.configPath);
      assert.equal(result.code, 1, result.stdout);
      assert.match(
        verdictOf(result.stdout, "config").line,
        /^fail {2}config: .* is invalid: datastore\.secret_access_key_file: .* is readable by group or others/,
      );
      const file = verdictOf(result.stdout, "secret file");
      assert.equal(file.line, `fail  secret file: ${secret} has mode 0644: group or others may read it`);
      assert.equal(file.fix, `chmod 600 ${secret}`);
      assert.match(
        verdictOf(result.stdout, "datastore").line,
        /^skip {2}datastore: not checked: the config is invalid$/,
      );
    } finally {
      chmodSync(secret, 0o600);
    }
  });

  test("an unreachable endpoint: datastore fails quickly, the checks after it are skipped; exit 1", async () => {
    const started = Date.now();
    const result = await runDoctor(
      variant("unreachable", { endpoint: `http://127.0.0.1:${await freePort()}` }),
    );
    assert.equal(result.code, 1, result.stdout);
    assert.ok(Date.now() - started < 20_000, `took ${Date.now() - started} ms`);
    const datastoreCheck = verdictOf(result.stdout, "datastore");
    assert.match(datastoreCheck.line, /^fail {2}datastore: .*cannot reach the server \(ECONNREFUSED\)$/);
    assert.match(datastoreCheck.fix!, /^check datastore\.endpoint/);
    for (const check of ["credentials", "bucket", "versioning", "notifications", "clock"]) {
      assert.match(verdictOf(result.stdout, check).line, new RegExp(`^skip  ${check}: not checked`));
    }
  });

  test("under systemd without the sd-notify binding: sd-notify fails with the rebuild command; exit 1", async () => {
    const result = await runDoctor(
      a.configPath,
      [],
      { NOTIFY_SOCKET: join(fed.dir, "no-socket") },
      hideSdNotify,
    );
    assert.equal(result.code, 1, result.stdout);
    const check = verdictOf(result.stdout, "sd-notify");
    assert.equal(
      check.line,
      "fail  sd-notify: NOTIFY_SOCKET is set, but the sd-notify binding cannot load (Cannot find module 'sd-notify'): the service would never become ready",
    );
    assert.match(check.fix!, /libsystemd-dev .*npm rebuild sd-notify$/);
  });
});
