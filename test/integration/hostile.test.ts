import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import {
  chmodSync,
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeFileSync,
  writeSync,
} from "node:fs";
import { join, resolve } from "node:path";
import { stringify } from "yaml";
import { objectKeyToEntryKey } from "../../src/scan/keys.js";
import { logKey } from "../../src/datastore/layout.js";
import { AgentProcess, fileHas, waitUntil } from "../helpers/agent-process.js";
import { passSummary } from "../helpers/checks.js";
import {
  objectExists,
  cliPath,
  runCli,
  snapshot,
  startFederation,
  useFederation,
  writeTree,
  type Agent,
  type CommandResult,
  type Federation,
} from "../helpers/federation.js";

const LONG = process.env.FEDSYNC_LONG_TESTS === "1";
const MiB = 1024 * 1024;
const ONE_DIR_ENTRIES = LONG ? 50_000 : 10_000;

function sha256(data: string | Buffer): string {
  return createHash("sha256").update(data).digest("hex");
}

/** Every path under the federation's directory except the set roots and state dirs, which fedsync owns. */
function surroundings(fed: Federation): string[] {
  return readdirSync(fed.dir, { recursive: true })
    .map(String)
    .filter((rel) => !/^[a-z]\/(trees\/[a-z]+|state)(\/|$)/.test(rel))
    .sort();
}

/** Lines at warn or error level that mention `text`. */
function complaints(output: string, text: string): string[] {
  return output.split("\n").filter((line) => / (warn|error) /.test(line) && line.includes(text));
}

/** Every line a command printed is one log line: a line broken by a hostile name would not start so. */
function assertOneLinePerEvent(output: string) {
  for (const line of output.split("\n").filter(Boolean)) {
    assert.match(line, /^\d{4}-\d\d-\d\dT[\d:.]+Z (error|warn|info|debug) /, `a broken log line: ${line}`);
  }
}

async function put(
  fed: Federation,
  key: string,
  body: string | Buffer,
  metadata: Record<string, string> = {},
) {
  const data = Buffer.from(body);
  await fed.minio.client.putObject(fed.bucket, key, data, data.length, metadata);
}

async function objectMeta(fed: Federation, key: string): Promise<{ sha: string; metaSha?: string }> {
  const hash = createHash("sha256");
  for await (const chunk of await fed.minio.client.getObject(fed.bucket, key)) hash.update(chunk as Buffer);
  const stat = await fed.minio.client.statObject(fed.bucket, key);
  return { sha: hash.digest("hex"), metaSha: stat.metaData["fedsync-sha256"] as string | undefined };
}

describe("hostile bucket contents written by another S3 client", () => {
  let fed: Federation;
  let a: Agent;
  let b: Agent;
  before(async () => {
    fed = await startFederation(2, [
      { name: "web" },
      // Objects written by other tools come with no change-log record: notifications or the safety pass.
      {
        name: "conf",
        method: "lightweight",
        debounce: "50ms",
        poll_interval: "500ms",
        safety_interval: "3s",
      },
    ]);
    [a, b] = fed.agents as [Agent, Agent];
    mkdirSync(b.root("conf"), { recursive: true });
    mkdirSync(join(fed.dir, "outside"));
  });
  after(async () => {
    await fed?.close();
  });

  test("keys with .., ., empty segments, NUL or over-long names never map to a path", async () => {
    const hostile = [
      "web/../escape.txt",
      "web/a/../../escape.txt",
      "web//etc/passwd",
      "web/a//b.txt",
      "web/trailing/.",
      "web/dot/./x",
      "web/nul\0byte",
      `web/${"n".repeat(256)}`,
      `web/${"d/".repeat(2100)}deep`,
    ];
    const accepted: string[] = [];
    for (const key of hostile) {
      assert.ok(
        "refused" in objectKeyToEntryKey("web/", key),
        `${JSON.stringify(key)} is refused by fedsync`,
      );
      try {
        await put(fed, key, "hostile");
        accepted.push(key);
      } catch {
        // MinIO refuses most of these itself; fedsync's own check stands behind it for other servers.
      }
    }
    console.log(
      `MinIO accepted ${accepted.length} of ${hostile.length} hostile keys: ${JSON.stringify(accepted)}`,
    );
    const around = surroundings(fed);
    const result = await fed.sync(a);
    assert.deepEqual(surroundings(fed), around);
    for (const key of accepted)
      assert.equal(complaints(result.stderr, "skipping object").length >= 1, true, key);
  });

  test("spoofed, escaping, lying and malformed objects are each refused or sanitized with one log line", async () => {
    const outside = join(fed.dir, "outside");
    await put(fed, "web/good/page.html", "<p>fine</p>");
    await put(fed, "web/.fedsync/web/tombstones/good/page.html", "");
    await put(fed, "web/.fedsync-tmp-planted", "a temp name");
    await put(fed, "web/etc-link", "", { "fedsync-type": "symlink", "fedsync-target": "/etc" });
    await put(fed, "web/up-link", "", { "fedsync-type": "symlink", "fedsync-target": "../../outside" });
    await put(fed, "web/abs-link", "", { "fedsync-type": "symlink", "fedsync-target": outside });
    await put(fed, "web/no-target", "", { "fedsync-type": "symlink" });
    await put(fed, "web/liar.txt", "not what the metadata says", {
      "fedsync-type": "file",
      "fedsync-sha256": sha256("something else"),
    });
    await put(fed, "web/setuid.sh", "#!/bin/sh\n", { "fedsync-type": "file", "fedsync-mode": "4755" });
    await put(fed, "web/all-bits.sh", "#!/bin/sh\n", { "fedsync-type": "file", "fedsync-mode": "7777" });
    await put(fed, "web/bad-mtime.txt", "m", { "fedsync-type": "file", "fedsync-mtime": "yesterday" });
    await put(fed, "web/bad-mode.txt", "m", { "fedsync-type": "file", "fedsync-mode": "rwxrwxrwx" });
    await put(fed, "web/pre-1970.txt", "old", { "fedsync-type": "file", "fedsync-mtime": "-86400000" });
    await put(fed, "web/year-9999.txt", "far", {
      "fedsync-type": "file",
      "fedsync-mtime": "253402300799999",
    });
    await put(fed, "web/not-a-dir", "", { "fedsync-type": "dir" });
    await put(fed, "web/not-a-file/", "bytes on a directory key", { "fedsync-type": "file" });
    await put(fed, "web/esc\u001b[31mape.txt", "terminal escape");
    await put(fed, "web/line\nbreak.txt", "newline");
    const around = surroundings(fed);

    const first = await fed.sync(a, [], 1);
    assertOneLinePerEvent(first.stderr);
    const expectOneLine = {
      ".fedsync/web/tombstones": /skipping object "web\/\.fedsync\/.*": inside the reserved \.fedsync\/ area/,
      ".fedsync-tmp-planted": /skipping object "web\/\.fedsync-tmp-planted": a \.fedsync-tmp- temporary name/,
      "etc-link": /symlink etc-link -> \/etc points outside the set root; not created/,
      "up-link": /symlink up-link -> \.\.\/\.\.\/outside points outside the set root; not created/,
      "abs-link": /symlink abs-link -> .* points outside the set root; not created/,
      "no-target": /symlink object web\/no-target has no target/,
      "liar.txt": /content of liar\.txt does not match its sha256/,
      "bad-mtime.txt": /ignoring invalid metadata on web\/bad-mtime\.txt fields=fedsync-mtime/,
      "bad-mode.txt": /ignoring invalid metadata on web\/bad-mode\.txt fields=fedsync-mode/,
      "year-9999.txt": /year-9999\.txt has mtime \d+ after writing, not 253402300799999/,
      "not-a-dir": /ignoring invalid metadata on web\/not-a-dir fields=fedsync-type/,
      "not-a-file/": /ignoring invalid metadata on web\/not-a-file\/ fields=fedsync-type/,
    };
    for (const [name, pattern] of Object.entries(expectOneLine)) {
      const lines = complaints(first.stderr, name);
      assert.equal(lines.length, 1, `one line about ${name}:\n${lines.join("\n")}`);
      assert.match(lines[0]!, pattern);
    }
    assert.deepEqual(surroundings(fed), around, "nothing appeared or changed around the set roots");
    assert.deepEqual(readdirSync(outside), []);

    // Passes settle: the sanitized entries are published as they really are, then nothing moves.
    await fed.sync(a, [], 1);
    const settled = await fed.sync(a, [], 1);
    const summary = passSummary(settled.stderr);
    assert.deepEqual([summary.up, summary.down, summary.deletedHere, summary.deletedRemotely], [0, 0, 0, 0]);
    assert.equal(summary.failed, 5, "the four refused symlinks and the lying object, every pass");

    const tree = snapshot(a.root(), { mtimes: true });
    assert.equal(readFileSync(a.path("good/page.html"), "utf8"), "<p>fine</p>", "the rest of the set syncs");
    assert.equal(tree.get("setuid.sh")?.mode, 0o755, "setuid stripped");
    assert.equal(tree.get("all-bits.sh")?.mode, 0o1775, "setuid, setgid and the world-writable bit cleared");
    assert.equal(tree.get("bad-mode.txt")?.mode, 0o644);
    assert.equal(tree.get("pre-1970.txt")?.mtimeMs, -86_400_000);
    assert.equal(tree.get("not-a-dir")?.type, "file");
    assert.equal(tree.get("not-a-file/")?.type, "dir");
    assert.equal(readFileSync(a.path("line\nbreak.txt"), "utf8"), "newline");
    assert.equal(readFileSync(a.path("esc\u001b[31mape.txt"), "utf8"), "terminal escape");
    for (const name of [
      "liar.txt",
      "etc-link",
      "up-link",
      "abs-link",
      "no-target",
      ".fedsync",
      ".fedsync-tmp-planted",
    ]) {
      assert.equal(existsSync(a.path(name)), false, `${name} was not written`);
    }
    for (const [rel, entry] of tree) {
      if (entry.type === "symlink") assert.fail(`no symlink should exist, found ${rel} -> ${entry.target}`);
    }

    await fed.sync(b, [], 1);
    assert.deepEqual(snapshot(b.root(), { mtimes: true }), tree, "a peer ends up with the same tree");
    assert.deepEqual(surroundings(fed), around);
  });

  test("a symlink in the tree never lets a download write through it, and a hidden object is not taken as deleted", async () => {
    const outside = join(fed.dir, "outside");
    await put(fed, "web/shared/notes.txt", "b has this");
    await fed.sync(b, [], 1);
    assert.equal(readFileSync(b.path("shared/notes.txt"), "utf8"), "b has this");

    // On a, the administrator made `shared` a symlink out of the tree before a ever synced shared/notes.txt.
    symlinkSync(outside, a.path("shared"));
    const result = await fed.sync(a, [], 1);
    const lines = complaints(result.stderr, "shared");
    assert.equal(lines.length, 1, lines.join("\n"));
    assert.match(lines[0]!, /shared is a symlink; not going through it/);
    assert.deepEqual(readdirSync(outside), []);

    // a published its symlink `shared`; MinIO now leaves shared/notes.txt out of every listing (it cannot
    // list an object and a "directory" of the same name), though the object is still there.
    const listed: string[] = [];
    for await (const item of fed.minio.client.listObjectsV2(fed.bucket, "web/shared", true))
      listed.push(item.name!);
    assert.deepEqual(listed, ["web/shared"]);
    // The peer looks the object up directly (a HEAD finds it) before it deletes anything the listing left out.
    const peer = await fed.sync(b, [], 1);
    assert.doesNotMatch(peer.stderr, /notes\.txt/);
    assert.equal(readFileSync(b.path("shared/notes.txt"), "utf8"), "b has this", "nothing lost on the peer");
    await fed.sync(b, [], 1);
    assert.equal(readFileSync(b.path("shared/notes.txt"), "utf8"), "b has this", "nor on a later pass");
  });

  test("the agent keeps running through hostile objects and spoofed change-log records", async () => {
    await put(fed, "conf/.fedsync/conf/log/x", "spoof");
    await put(fed, "conf/passwd-link", "", { "fedsync-type": "symlink", "fedsync-target": "/etc/passwd" });
    await put(fed, "conf/liar.conf", "x", { "fedsync-type": "file", "fedsync-sha256": sha256("y") });
    const agent = new AgentProcess(fed.spawnAgent(b));
    try {
      await agent.waitForLog(/ready/);
      const spoofedLog = [
        { path: "../../escape.conf", op: "put" },
        { path: "/etc/passwd", op: "put" },
        { path: ".fedsync/conf/log/loop", op: "put" },
        { path: "nul\0.conf", op: "put" },
      ]
        .map((record) => JSON.stringify(record))
        .join("\n");
      await put(fed, logKey("conf", Date.now(), "intruder", 1), spoofedLog);
      await put(fed, "conf/after.conf", "written by another tool");
      await waitFor(() => objectExists(fed, "conf/after.conf"), 5000, "after.conf in the bucket");
      writeTree(a.root("conf"), { "from-a.conf": "from a" });
      await fed.sync(a, ["--set", "conf"], 1);
      await waitUntil(
        () =>
          fileHas(b.path("after.conf", "conf"), "written by another tool") &&
          fileHas(b.path("from-a.conf", "conf"), "from a"),
        20_000,
        "the good files on b",
        () => agent.output,
      );
      await new Promise((resolve) => setTimeout(resolve, 1500));
      assert.equal(agent.exitCode, null, "the agent is still running");
      assertOneLinePerEvent(agent.output);
      assert.doesNotMatch(agent.output, /pass failed/);
      assert.equal(complaints(agent.output, "conf/.fedsync/conf/log/x").length, 1);
      assert.ok(complaints(agent.output, "passwd-link").length >= 1);
      assert.equal(existsSync(b.path("passwd-link", "conf")), false);
      assert.equal(existsSync(b.path("liar.conf", "conf")), false);
      assert.equal(existsSync(resolve(b.root("conf"), "../../escape.conf")), false);
    } finally {
      assert.equal(await agent.stop(), 0);
    }
  });
});

/** `fedsync sync` in a child that lacks the capabilities letting root read anything, so EACCES is real. */
function syncWithoutDacOverride(agent: Agent): Promise<CommandResult> {
  const dropped = "-dac_override,-dac_read_search";
  const command = [process.execPath, cliPath, "--config", agent.configPath, "sync"];
  const argv =
    process.getuid?.() === 0
      ? ["setpriv", `--bounding-set=${dropped}`, `--inh-caps=${dropped}`, "--", ...command]
      : command;
  return new Promise((done, reject) => {
    const child = spawn(argv[0]!, argv.slice(1), { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    child.on("error", reject);
    child.on("close", (code) => done({ code: code ?? -1, stdout, stderr }));
  });
}

describe("hostile local trees", () => {
  let fed: Federation;
  let a: Agent;
  let b: Agent;
  useFederation([2, [{ name: "web" }]], (started) => {
    fed = started;
    [a, b] = started.agents as [Agent, Agent];
  });

  test("FIFOs, sockets, devices and names that are not UTF-8 are skipped with one line each; newlines sync", async () => {
    writeTree(a.root(), { "regular.txt": "r", "line\nfeed.txt": "newline in the name" });
    execFileSync("mkfifo", [a.path("pipe")]);
    execFileSync("python3", [
      "-c",
      "import socket,sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])",
      a.path("sock"),
    ]);
    execFileSync("mknod", [a.path("null-dev"), "c", "1", "3"]);
    execFileSync("mknod", [a.path("block-dev"), "b", "7", "250"]);
    const rootBytes = Buffer.from(`${a.root()}/`);
    writeFileSync(Buffer.concat([rootBytes, Buffer.from([0x62, 0x61, 0x64, 0xff])]), "latin-1 name");
    mkdirSync(Buffer.concat([rootBytes, Buffer.from([0x64, 0xc3])]));
    writeFileSync(Buffer.concat([rootBytes, Buffer.from([0x64, 0xc3]), Buffer.from("/inside.txt")]), "x");

    const result = await fed.sync(a);
    assertOneLinePerEvent(result.stderr);
    for (const [name, kind] of [
      ["pipe", "a FIFO"],
      ["sock", "a socket"],
      ["null-dev", "a character device"],
      ["block-dev", "a block device"],
    ]) {
      const lines = complaints(result.stderr, `skipping ${name}`);
      assert.equal(lines.length, 1, `${name}: ${lines.join("\n")}`);
      assert.match(lines[0]!, new RegExp(`${kind}; not synced`));
    }
    assert.equal(complaints(result.stderr, "name is not UTF-8").length, 2);
    await fed.sync(b);
    assert.deepEqual([...snapshot(b.root()).keys()].sort(), ["line\nfeed.txt", "regular.txt"]);
    assert.equal(readFileSync(b.path("line\nfeed.txt"), "utf8"), "newline in the name");
    for (const name of ["pipe", "sock", "null-dev", "block-dev"]) rmSync(a.path(name));
    rmSync(Buffer.concat([rootBytes, Buffer.from([0x62, 0x61, 0x64, 0xff])]));
    rmSync(Buffer.concat([rootBytes, Buffer.from([0x64, 0xc3])]), { recursive: true });
  });

  test("unreadable files and directories are retried, never taken as deleted", async () => {
    writeTree(a.root(), { "private/secret.txt": "s", "private/deeper/more.txt": "m", "locked.txt": "l" });
    await fed.sync(a);
    await fed.sync(b);
    chmodSync(a.path("private"), 0o000);
    chmodSync(a.path("locked.txt"), 0o000);
    writeFileSync(a.path("new-locked.txt"), "n", { mode: 0o000 });

    const denied = await syncWithoutDacOverride(a);
    assert.equal(denied.code, 1, denied.stderr);
    assert.match(denied.stderr, /skipping private\/: .*EACCES/);
    assert.match(denied.stderr, /locked\.txt: EACCES/);
    assert.match(denied.stderr, /new-locked\.txt: EACCES/);
    const summary = passSummary(denied.stderr);
    assert.equal(summary.deletedRemotely, 0, "nothing deleted from the bucket");
    await fed.sync(b);
    assert.equal(readFileSync(b.path("private/deeper/more.txt"), "utf8"), "m");
    assert.equal(readFileSync(b.path("locked.txt"), "utf8"), "l");

    chmodSync(a.path("private"), 0o755);
    chmodSync(a.path("locked.txt"), 0o644);
    chmodSync(a.path("new-locked.txt"), 0o644);
    await fed.sync(a);
    await fed.sync(b);
    assert.equal(readFileSync(b.path("new-locked.txt"), "utf8"), "n");
    assert.deepEqual(snapshot(b.root()), snapshot(a.root()));
  });

  test("a large file rewritten while it uploads: no object ever carries a hash its bytes do not have", async () => {
    const size = 24 * MiB;
    const path = a.path("busy/log.bin");
    mkdirSync(join(a.root(), "busy"));
    writeFileSync(path, randomBytes(size));
    let rewrites = 0;
    const writer = setInterval(() => {
      const fd = openSync(path, "r+");
      writeSync(fd, randomBytes(64 * 1024), 0, 64 * 1024, (rewrites++ % 300) * 64 * 1024);
      closeSync(fd);
    }, 5);
    let during: CommandResult;
    try {
      during = await fed.run(a, ["sync"]);
    } finally {
      clearInterval(writer);
    }
    console.log(`rewrote part of the file ${rewrites} times during the pass (exit ${during.code})`);
    const uploaded = await fed.minio.client.statObject(fed.bucket, "web/busy/log.bin").catch(() => undefined);
    if (uploaded) {
      const object = await objectMeta(fed, "web/busy/log.bin");
      assert.equal(object.metaSha, object.sha, "the object's bytes match its fedsync-sha256");
    } else {
      assert.match(during.stderr, /busy\/log\.bin changed while being read; retrying next pass/);
    }
    await fed.sync(a);
    const object = await objectMeta(fed, "web/busy/log.bin");
    assert.equal(object.metaSha, object.sha);
    await fed.sync(b);
    assert.equal(sha256(readFileSync(b.path("busy/log.bin"))), sha256(readFileSync(path)));
  });

  test(`${ONE_DIR_ENTRIES} entries in one directory and a tree 50 levels deep`, async () => {
    const tree: Record<string, string> = {};
    for (let i = 0; i < ONE_DIR_ENTRIES; i++) tree[`flat/entry-${i}`] = String(i);
    tree[`${Array.from({ length: 50 }, (_, i) => `level${i}`).join("/")}/bottom.txt`] = "deep";
    writeTree(a.root(), tree);
    await fed.sync(a);
    await fed.sync(b);
    assert.equal(readdirSync(b.path("flat")).length, ONE_DIR_ENTRIES);
    const deep = Array.from({ length: 50 }, (_, i) => `level${i}`).join("/");
    assert.equal(readFileSync(b.path(`${deep}/bottom.txt`), "utf8"), "deep");
    assert.deepEqual(snapshot(b.root()), snapshot(a.root()));
  });
});

describe("operator mistakes", () => {
  let fed: Federation;
  let a: Agent;
  let b: Agent;
  before(async () => {
    fed = await startFederation(2, [
      { name: "web" },
      {
        name: "conf",
        method: "lightweight",
        debounce: "50ms",
        poll_interval: "500ms",
        safety_interval: "3s",
      },
    ]);
    [a, b] = fed.agents as [Agent, Agent];
    for (const agent of [a, b]) mkdirSync(agent.root("conf"), { recursive: true });
    writeTree(a.root(), { "index.html": "home", "css/site.css": "body{}" });
    writeTree(a.root("conf"), { "app.conf": "port 80" });
    await fed.sync(a);
    await fed.sync(b);
  });
  after(async () => {
    await fed?.close();
  });

  interface EditableConfig {
    machine: string;
    state_dir: string;
    datastore: { endpoint: string; bucket: string; access_key_id: string; secret_access_key_file: string };
    sets: { name: string; path: string; method?: string }[];
  }
  const withConfig = (agent: Agent, edit: (config: EditableConfig) => void) => {
    const config: EditableConfig = {
      machine: `machine-${agent.name}`,
      state_dir: agent.stateDir,
      datastore: fed.datastoreConfig(),
      sets: [
        { name: "web", path: agent.root("web") },
        { name: "conf", path: agent.root("conf"), method: "lightweight" },
      ],
    };
    edit(config);
    const path = join(agent.home, "edited.yaml");
    writeFileSync(path, stringify(config));
    return path;
  };

  test("wrong credentials, a missing bucket, an endpoint that is down: exit 1 at once, clear, no secret", async () => {
    const wrongSecret = "wrong-secret-VALUE-1234567890";
    writeFileSync(join(fed.dir, "wrong-secret"), wrongSecret, { mode: 0o600 });
    const cases: [string, (config: EditableConfig) => void, RegExp][] = [
      [
        "wrong key",
        (c) => (c.datastore.access_key_id = "nobody"),
        /credentials rejected for access key nobody \(InvalidAccessKeyId: no such access key on the server\)/,
      ],
      [
        "wrong secret",
        (c) => (c.datastore.secret_access_key_file = join(fed.dir, "wrong-secret")),
        /credentials rejected for access key \S+ \(SignatureDoesNotMatch: wrong secret key\)/,
      ],
      [
        "no bucket",
        (c) => (c.datastore.bucket = "no-such-bucket"),
        /bucket no-such-bucket: check access: the bucket does not exist/,
      ],
      [
        "endpoint down",
        (c) => (c.datastore.endpoint = "http://127.0.0.1:9"),
        /cannot reach the server \(ECONNREFUSED\)/,
      ],
    ];
    const tree = snapshot(a.root());
    for (const [label, edit, message] of cases) {
      const started = Date.now();
      const result = await runCli(["--config", withConfig(a, edit), "sync"]);
      const took = Date.now() - started;
      assert.equal(result.code, 1, `${label}: ${result.stderr}`);
      assert.match(result.stderr, message, label);
      assert.ok(took < 15_000, `${label} took ${took} ms`);
      for (const secret of [wrongSecret, fed.minio.secretKey]) {
        assert.ok(!(result.stdout + result.stderr).includes(secret), `${label}: no secret in the output`);
      }
    }
    assert.deepEqual(snapshot(a.root()), tree, "nothing changed or deleted");
  });

  test("two sets pointing into each other are a config error (exit 2), whatever the command", async () => {
    const viaLink = join(a.home, "link-into-web");
    symlinkSync(a.path("css"), viaLink);
    for (const [label, inner] of [
      ["conf inside web", join(a.root("web"), "conf")],
      ["web inside conf", resolve(a.root("conf"), "..")],
      ["conf inside web through a symlink", viaLink],
    ] as const) {
      const path = withConfig(a, (c) => (c.sets[1]!.path = inner));
      for (const command of ["check-config", "sync"]) {
        const result = await runCli(["--config", path, command]);
        assert.equal(result.code, 2, `${label} ${command}: ${result.stderr}`);
        assert.match(result.stderr, /sets\[1\]\.path: ".*" (is inside|contains) sets\[0\]\.path/);
      }
    }
  });

  test("fedsync run started while the endpoint is down stays up, retries, and syncs once it is back", async () => {
    await fed.minio.pause();
    let down = true;
    const agent = new AgentProcess(fed.spawnAgent(b));
    try {
      await agent.waitForLog(/datastore down: .*cannot reach the server/, 30_000);
      writeTree(b.root("conf"), { "written-while-down.conf": "queued" });
      await new Promise((resolve) => setTimeout(resolve, 1000));
      assert.equal(agent.exitCode, null, "still running");
      await fed.minio.resume();
      down = false;
      await agent.waitForLog(/datastore up again/, 90_000);
      await waitFor(
        () => objectExists(fed, "conf/written-while-down.conf"),
        30_000,
        "the file in the bucket",
      );
      await fed.sync(a);
      assert.equal(readFileSync(a.path("written-while-down.conf", "conf"), "utf8"), "queued");
    } finally {
      if (down) await fed.minio.resume();
      assert.equal(await agent.stop(), 0);
    }
  });

  test("a set emptied by rm -rf under a running agent trips the guard: nothing deleted anywhere", async () => {
    // The default safety interval: a full pass already under way when the rm -rf starts would delete what
    // it sees gone (up to max_delete), which is the documented limit, not what this test is about.
    b.writeConfig([{ name: "web" }, { name: "conf", method: "lightweight", debounce: "50ms" }]);
    const agent = new AgentProcess(fed.spawnAgent(b));
    try {
      await agent.waitForLog(/ready/);
      const tree: Record<string, string> = {};
      for (let i = 0; i < 200; i++) tree[`n${i % 10}/f${i}.conf`] = `${i}`;
      writeTree(b.root("conf"), tree);
      await waitFor(
        async () => (await countObjects(fed, "conf/n")) >= 210,
        30_000,
        "the files in the bucket",
      );
      await quiet(agent, 1500);
      // rm -rf takes a while and the watcher reports it in batches: no batch may slip under the guard.
      for (const dir of readdirSync(b.root("conf")).filter((name) => name.startsWith("n"))) {
        rmSync(b.path(dir, "conf"), { recursive: true });
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      await agent.waitForLog(
        /deletion guard: this pass would delete|set root .* is empty but the journal knows/,
      );
      await new Promise((resolve) => setTimeout(resolve, 1000));
      assert.ok(
        (await countObjects(fed, "conf/n")) >= 210,
        `nothing was deleted from the bucket:\n${agent.output}`,
      );
      writeTree(b.root("conf"), tree);
      await quiet(agent, 1500);
    } finally {
      assert.equal(await agent.stop(), 0);
    }
    const synced = await fed.sync(b);
    await fed.sync(a);
    assert.deepEqual(snapshot(a.root("conf")), snapshot(b.root("conf")));
    assert.ok(
      (await countObjects(fed, "conf/n")) >= 210,
      `nothing was deleted from the bucket:\n${agent.output}\n${synced.stderr}`,
    );
  });

  test("a set root unmounted under a running agent trips the guard: nothing deleted anywhere", async () => {
    b.writeConfig([{ name: "web" }, { name: "conf", method: "lightweight", safety_interval: "3s" }]);
    const agent = new AgentProcess(fed.spawnAgent(b));
    try {
      await agent.waitForLog(/ready/);
      renameSync(b.root("conf"), `${b.root("conf")}.unmounted`);
      await agent.waitForLog(/set root .*conf is missing but the journal knows \d+ entries/, 60_000);
      await fed.sync(a);
      assert.equal(readdirSync(a.root("conf")).filter((name) => name.startsWith("n")).length, 10);
      assert.ok(
        (await countObjects(fed, "conf/n")) >= 210,
        `nothing was deleted from the bucket:\n${agent.output}`,
      );
      renameSync(`${b.root("conf")}.unmounted`, b.root("conf"));
    } finally {
      assert.equal(await agent.stop(), 0);
    }
    await fed.sync(b);
    await fed.sync(a);
    assert.deepEqual(snapshot(a.root("conf")), snapshot(b.root("conf")));
  });
});

/** Waits until the agent has logged nothing for `ms`: no pass is running. */
async function quiet(agent: AgentProcess, ms: number): Promise<void> {
  let seen = agent.output.length;
  let since = Date.now();
  await waitUntil(
    () => {
      if (agent.output.length !== seen) [seen, since] = [agent.output.length, Date.now()];
      return Date.now() - since >= ms;
    },
    30_000,
    "the agent to go quiet",
  );
}

async function countObjects(fed: Federation, prefix: string): Promise<number> {
  let found = 0;
  for await (const item of fed.minio.client.listObjectsV2(fed.bucket, prefix, true)) if (item.name) found++;
  return found;
}

async function waitFor(condition: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
