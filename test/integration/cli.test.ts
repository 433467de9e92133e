import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { connect, createServer, type AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { fileURLToPath } from "node:url";
import { join } from "node:path";
import { Transform } from "node:stream";
import { parse, stringify } from "yaml";
import { tempFilesUnder } from "../helpers/checks.js";
import {
  cliPath,
  repoRoot,
  runCli,
  snapshot,
  useFederation,
  writeTree,
  type Agent,
  type CommandResult,
  type Federation,
} from "../helpers/federation.js";

/** Carriage return, then erase to the end of the line (ECMA-48 EL). */
const CLEAR_LINE = "\r\x1b[K";

/** Single-quoted for sh. */
function shellWord(text: string): string {
  return `'${text.replace(/'/g, `'\\''`)}'`;
}

/** Runs the CLI with a pseudo-terminal as stdin, stdout and stderr (util-linux `script`); all output together. */
function runOnTerminal(args: string[]): CommandResult {
  const command = [process.execPath, cliPath, ...args].map(shellWord).join(" ");
  const result = spawnSync("script", ["-qefc", command, "/dev/null"], {
    encoding: "utf8",
    env: { ...process.env, TERM: "xterm" },
  });
  assert.ifError(result.error);
  return { code: result.status ?? -1, stdout: result.stdout, stderr: "" };
}

/** A copy of the agent's config with `change` applied, in a file of its own. */
function variantConfig(
  agent: Agent,
  name: string,
  change: (config: Record<string, unknown>) => void,
): string {
  const config = parse(readFileSync(agent.configPath, "utf8")) as Record<string, unknown>;
  change(config);
  const path = join(agent.home, `${name}.yaml`);
  writeFileSync(path, stringify(config));
  return path;
}

/** Packages a command loads, from the module URLs the import-trace hook recorded. */
function packagesLoaded(args: string[]): string[] {
  const dir = mkdtempSync(join(tmpdir(), "fedsync-trace-"));
  try {
    const trace = join(dir, "trace");
    writeFileSync(trace, "");
    const result = spawnSync(
      process.execPath,
      ["--import", join(repoRoot, "test/helpers/import-trace.mjs"), cliPath, ...args],
      { encoding: "utf8", env: { ...process.env, IMPORT_TRACE_FILE: trace } },
    );
    assert.ifError(result.error);
    // Packages are bundled into dist/ (each module under a `// node_modules/<package>/...` comment), except
    // the native ones, which load from node_modules.
    const packageOf = (text: string) => /(?:^|[\s/])node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(text)?.[1];
    const packages = new Set<string>();
    for (const url of readFileSync(trace, "utf8").split("\n").filter(Boolean)) {
      const path = url.startsWith("file:") ? fileURLToPath(url) : url;
      if (path.startsWith(join(repoRoot, "dist") + "/")) {
        for (const line of readFileSync(path, "utf8").split("\n")) {
          const name = line.startsWith("// ") ? packageOf(line) : undefined;
          if (name) packages.add(name);
        }
      } else {
        const name = packageOf(path);
        if (name) packages.add(name);
      }
    }
    return [...packages].sort();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A TCP front for the MinIO server that sends its answers at `bytesPerSecond` per connection. */
async function startSlowProxy(
  port: number,
  bytesPerSecond: number,
): Promise<{ endpoint: string; close(): void }> {
  const proxy = createServer((client) => {
    const upstream = connect(port, "127.0.0.1");
    const throttle = new Transform({
      transform(chunk: Buffer, _encoding, callback) {
        setTimeout(() => callback(null, chunk), (chunk.length / bytesPerSecond) * 1000);
      },
    });
    client.pipe(upstream);
    upstream.pipe(throttle).pipe(client);
    client.on("error", () => upstream.destroy());
    client.on("close", () => upstream.destroy());
    upstream.on("error", () => client.destroy());
  });
  await new Promise<void>((resolve) => proxy.listen(0, "127.0.0.1", resolve));
  const { port: proxyPort } = proxy.address() as AddressInfo;
  return { endpoint: `http://127.0.0.1:${proxyPort}`, close: () => proxy.close() };
}

interface Interrupted {
  code: number | null;
  stderr: string;
}

/**
 * Starts `fedsync sync` and sends the first signal once its first download is done, so it lands while other
 * downloads are in flight; each further signal once the command said it is stopping.
 */
function syncInterrupted(config: string, signals: NodeJS.Signals[]): Promise<Interrupted> {
  return new Promise((done, reject) => {
    const child = spawn(process.execPath, [cliPath, "sync", "--config", config], {
      stdio: ["ignore", "ignore", "pipe"],
    });
    let stderr = "";
    let sent = 0;
    child.stderr.on("data", (chunk: Buffer) => {
      stderr += chunk.toString();
      const ready = sent === 0 ? / \[web\] downloaded /.test(stderr) : /: stopping once/.test(stderr);
      if (sent < signals.length && ready) child.kill(signals[sent++]!);
    });
    child.on("error", reject);
    child.on("exit", (code) => done({ code, stderr }));
  });
}

describe("the command line", () => {
  let fed: Federation;
  let a: Agent;
  let b: Agent;

  useFederation([5, [{ name: "web" }], { concurrency: 2 }], (started) => {
    fed = started;
    [a, b] = started.agents as [Agent, Agent];
  });

  test("global options are accepted before and after the command", async () => {
    writeTree(a.root(), { "index.html": "<h1>hello</h1>" });
    const after = await runCli(["sync", "--set", "web", "--config", a.configPath]);
    assert.equal(after.code, 0, after.stderr);
    assert.match(after.stderr, /pass complete: 1 up/);
    const short = await runCli(["status", "--json", "-c", a.configPath]);
    assert.equal(short.code, 0, short.stderr);
    assert.equal((JSON.parse(short.stdout) as { machine: string }).machine, "machine-a");
    const before = await runCli(["--config", b.configPath, "sync", "-n"]);
    assert.equal(before.code, 0, before.stderr);
    assert.equal(before.stdout, "web\tdownload\tindex.html\n");
    const missing = await runCli(["check-config", "--config", join(a.home, "missing.yaml")]);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /missing\.yaml: cannot read config file/);
  });

  test("a pass logs one summary line, each figure once: in the message (plain) or as fields (json)", async () => {
    writeTree(a.root(), { "one.txt": "1", "two.txt": "22" });
    const plain = await fed.sync(a);
    const summaries = plain.stderr.split("\n").filter((line) => / pass complete/.test(line));
    assert.equal(summaries.length, 1, plain.stderr);
    assert.match(summaries[0]!, /\[web\] pass complete: 2 up, 0 down, .*, 3 B up, 0 B down, \d+\.\d\d s$/);

    writeTree(a.root(), { "three.txt": "333" });
    const json = await runCli(["sync", "-c", variantConfig(a, "json", (c) => (c.log = { format: "json" }))]);
    assert.equal(json.code, 0, json.stderr);
    const records = json.stderr
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    const summary = records.filter((record) => String(record.msg).startsWith("pass "));
    assert.equal(summary.length, 1, json.stderr);
    assert.equal(summary[0]!.msg, "pass complete");
    assert.equal(summary[0]!.set, "web");
    assert.equal(summary[0]!.uploaded, 1);
    assert.equal(summary[0]!.bytesUp, 3);
    assert.equal(typeof summary[0]!.durationMs, "number");
  });

  test("sync --dry-run --json prints the plan and changes nothing; --json alone the figures", async () => {
    writeTree(a.root(), { "plan/new.txt": "planned" });
    const dry = await runCli(["sync", "--dry-run", "--json", "-c", a.configPath]);
    assert.equal(dry.code, 0, dry.stderr);
    assert.deepEqual(JSON.parse(dry.stdout), {
      sets: [
        {
          set: "web",
          ok: true,
          interrupted: false,
          plan: [
            { path: "plan/", action: "upload", detail: "create" },
            { path: "plan/new.txt", action: "upload", detail: "create" },
          ],
        },
      ],
    });
    const real = await runCli(["sync", "--json", "-c", a.configPath]);
    assert.equal(real.code, 0, real.stderr);
    const [result] = (JSON.parse(real.stdout) as { sets: { counts: { uploaded: number } }[] }).sets;
    assert.equal(result!.counts.uploaded, 2, "the dry run uploaded nothing");
  });

  test("check-config --json: the resolved config without the secret, or the problems with key paths", async () => {
    const good = await runCli(["check-config", "--json", "-c", a.configPath]);
    assert.equal(good.code, 0, good.stderr);
    assert.ok(!good.stdout.includes(fed.minio.secretKey), "no secret in the output");
    const resolved = JSON.parse(good.stdout) as { ok: boolean; config: Record<string, unknown> };
    assert.equal(resolved.ok, true);
    assert.equal(resolved.config.concurrency, 2);
    assert.deepEqual((resolved.config.sets as Record<string, unknown>[])[0]!.interval, "2m");

    const typo = variantConfig(a, "typo", (c) => {
      (c.sets as Record<string, unknown>[])[0]!.intervall = "5m";
      c.concurency = 4;
    });
    const bad = await runCli(["check-config", "--json", "-c", typo]);
    assert.equal(bad.code, 2);
    assert.deepEqual(JSON.parse(bad.stdout), {
      source: typo,
      ok: false,
      problems: [
        { key: "sets[0].intervall", message: "unknown key (did you mean interval?)" },
        { key: "concurency", message: "unknown key (did you mean concurrency?)" },
      ],
    });
    const text = await runCli(["check-config", "-c", typo]);
    assert.equal(text.code, 2);
    assert.equal(
      text.stderr,
      "fedsync: sets[0].intervall: unknown key (did you mean interval?)\n" +
        "concurency: unknown key (did you mean concurrency?)\n",
    );
  });

  test("a progress line is redrawn on a terminal and absent when stderr is not one", async () => {
    writeTree(
      a.root(),
      Object.fromEntries(Array.from({ length: 30 }, (_, i) => [`progress/${i}.txt`, `${i}`])),
    );
    const terminal = runOnTerminal(["sync", "-c", a.configPath]);
    assert.equal(terminal.code, 0, terminal.stdout);
    const redraws = terminal.stdout.split(CLEAR_LINE).slice(1);
    assert.ok(
      redraws.some((line) => /^web: \d+ checked, \d+ up, 0 down, [\d.]+ K?i?B moved/.test(line)),
      JSON.stringify(terminal.stdout),
    );
    assert.match(terminal.stdout, /pass complete: 31 up/);

    writeTree(b.root(), { "quiet.txt": "no terminal" });
    const piped = await fed.sync(b);
    assert.doesNotMatch(piped.stderr, /checked|\r/);
    assert.ok(!piped.stderr.includes("\x1b"));
  });

  test("an https endpoint on a plain-HTTP server: one line saying the server does not speak TLS", async () => {
    const https = variantConfig(a, "https", (c) => {
      const datastore = c.datastore as Record<string, unknown>;
      datastore.endpoint = String(datastore.endpoint).replace(/^http:/, "https:");
    });
    const result = await runCli(["sync", "-c", https]);
    assert.equal(result.code, 1);
    assert.match(
      result.stderr,
      /^fedsync: datastore https:\/\/\S+ bucket \S+: .*: TLS failed: the server does not speak TLS \(use http:\/\/ in datastore\.endpoint\?\)\n$/,
    );
  });

  test("commands load only the modules they use", () => {
    assert.deepEqual(packagesLoaded(["--version"]), []);
    assert.deepEqual(packagesLoaded(["--config", a.configPath, "--version"]), ["commander"]);
    assert.deepEqual(packagesLoaded(["completion", "bash"]), ["commander"]);
    const checkConfig = packagesLoaded(["check-config", "-c", a.configPath]);
    for (const heavy of ["minio", "better-sqlite3", "winston"])
      assert.ok(!checkConfig.includes(heavy), heavy);
    assert.ok(!packagesLoaded(["log", "-c", a.configPath]).includes("minio"));
  });

  test("bash completion completes commands, options and the config's set names", () => {
    const dir = mkdtempSync(join(tmpdir(), "fedsync-bash-"));
    try {
      writeFileSync(
        join(dir, "fedsync"),
        `#!/bin/sh\nexec ${shellWord(process.execPath)} ${shellWord(cliPath)} "$@"\n`,
        {
          mode: 0o755,
        },
      );
      const script = spawnSync(join(dir, "fedsync"), ["completion", "bash"], { encoding: "utf8" }).stdout;
      writeFileSync(join(dir, "fedsync.bash"), script);
      const complete = (...words: string[]) => {
        const driver =
          `source ${shellWord(join(dir, "fedsync.bash"))}\n` +
          `COMP_WORDS=(${words.map(shellWord).join(" ")}); COMP_CWORD=${words.length - 1}\n` +
          `_fedsync; printf '%s\\n' "\${COMPREPLY[@]}"\n`;
        const result = spawnSync("bash", ["-c", driver], {
          encoding: "utf8",
          env: { ...process.env, PATH: `${dir}:${process.env.PATH}` },
        });
        assert.equal(result.status, 0, result.stderr);
        return result.stdout.split("\n").filter(Boolean);
      };
      assert.deepEqual(complete("fedsync", "re"), ["restore", "rebuild-journal"]);
      assert.deepEqual(complete("fedsync", "sync", "--a"), ["--allow-mass-delete", "--accept-new-root"]);
      assert.deepEqual(complete("fedsync", "-c", a.configPath, "log", "--set", ""), ["web"]);
      assert.deepEqual(complete("fedsync", "sync", "--config", a.configPath, "-s", "w"), ["web"]);
      assert.deepEqual(complete("fedsync", "completion", ""), ["bash", "zsh"]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  describe("Ctrl-C and SIGTERM during a sync", () => {
    const files = 40;
    let slow: { endpoint: string; close(): void };
    /**
     * The agent's config, but through a proxy that makes each 2 MiB download take about two seconds, and at
     * debug level, where each download is a line (the signal is sent after the first).
     */
    const slowConfig = (agent: Agent) =>
      variantConfig(agent, "slow", (c) => {
        (c.datastore as Record<string, unknown>).endpoint = slow.endpoint;
        c.log = { level: "debug" };
      });

    before(async () => {
      mkdirSync(a.path("big"));
      for (let i = 0; i < files; i++) writeFileSync(a.path(`big/${i}.bin`), randomBytes(2 * 1024 * 1024));
      await fed.sync(a);
      slow = await startSlowProxy(fed.minio.port, 1024 * 1024);
    });
    after(() => slow?.close());

    const finishes = async (agent: Agent) => {
      assert.deepEqual(tempFilesUnder(agent.root()), []);
      const downloaded = readdirSync(agent.path("big")).length;
      assert.ok(downloaded < files, `stopped mid-way, not after all ${files} downloads (${downloaded})`);
      const next = await fed.sync(agent);
      assert.match(next.stderr, /pass complete/);
      assert.deepEqual(snapshot(agent.root()), snapshot(a.root()));
    };

    test("SIGINT: in-flight downloads finish, nothing more starts, exit 130, the next sync completes", async () => {
      const c = fed.agents[2]!;
      const run = await syncInterrupted(slowConfig(c), ["SIGINT"]);
      assert.equal(run.code, 130, run.stderr);
      assert.match(run.stderr, /SIGINT: stopping once the transfers in flight are done/);
      assert.match(run.stderr, /warn \[web\] pass interrupted: \d+ up, \d+ down/);
      await finishes(c);
    });

    test("SIGTERM exits 143; a second signal stops at once and still leaves no temp file", async () => {
      const d = fed.agents[3]!;
      const term = await syncInterrupted(slowConfig(d), ["SIGTERM"]);
      assert.equal(term.code, 143, term.stderr);
      await finishes(d);

      const e = fed.agents[4]!;
      const twice = await syncInterrupted(slowConfig(e), ["SIGINT", "SIGINT"]);
      assert.equal(twice.code, 130, twice.stderr);
      assert.match(twice.stderr, /SIGINT: stopped at once; unfinished downloads removed/);
      await finishes(e);
    });
  });
});
