import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { closeSync, fstatSync, openSync, readFileSync, renameSync } from "node:fs";
import { join } from "node:path";
import {
  cliPath,
  runCli,
  startFederation,
  writeTree,
  type Agent,
  type Federation,
} from "../helpers/federation.js";
import { AgentProcess } from "../helpers/agent-process.js";
import { startNotifyListener, type NotifyListener } from "../helpers/notify-socket.js";

describe("fedsync run under a systemd-like supervisor", () => {
  let fed: Federation;
  let a: Agent;
  let listener: NotifyListener;

  before(async () => {
    fed = await startFederation(1, [{ name: "www" }]);
    a = fed.agents[0]!;
    const files: Record<string, string> = {};
    for (let i = 0; i < 5000; i++) files[`d${i % 50}/f${i}.html`] = `page ${i}`;
    writeTree(a.root("www"), files);
    listener = await startNotifyListener();
  });
  after(async () => {
    await listener.close();
    await fed.close();
  });

  test("READY, live STATUS during a 5,000-file pass, WATCHDOG at the interval, RELOADING/READY on SIGHUP, STOPPING on SIGTERM", async () => {
    const logPath = join(fed.dir, "journal-stream.log");
    const logFd = openSync(logPath, "w");
    const { dev, ino } = fstatSync(logFd, { bigint: true });
    const child = spawn(process.execPath, [cliPath, "--config", a.configPath, "run"], {
      env: {
        ...process.env,
        NOTIFY_SOCKET: listener.path,
        WATCHDOG_USEC: "2000000",
        JOURNAL_STREAM: `${dev}:${ino}`,
      },
      stdio: ["ignore", logFd, logFd],
    });
    closeSync(logFd);
    const agent = new AgentProcess(child);
    const messages = () => listener.messages;
    try {
      await listener.waitFor((m) => m.includes("READY=1"), 30_000);
      await listener.waitFor((m) => m.some((x) => /^STATUS=www: full pass: \d+ checked/.test(x)), 60_000);
      await listener.waitFor((m) => m.some((x) => /^STATUS=www: idle/.test(x)), 120_000);
      const progress = messages().filter((x) => /^STATUS=www: full pass: \d+ checked/.test(x));
      assert.ok(progress.length >= 2, `expected several progress updates, got ${progress.join(" | ")}`);

      const before = messages().filter((x) => x === "WATCHDOG=1").length;
      await new Promise((resolve) => setTimeout(resolve, 3500));
      const pings = messages().filter((x) => x === "WATCHDOG=1").length - before;
      assert.ok(
        pings >= 3 && pings <= 4,
        `expected a WATCHDOG=1 about every second (half of WATCHDOG_USEC), got ${pings} in 3.5 s`,
      );

      const beforeReload = messages().length;
      child.kill("SIGHUP");
      await listener.waitFor((m) => m.slice(beforeReload).some((x) => x === "READY=1"), 10_000);
      const reload = messages().slice(beforeReload);
      const reloading = reload.findIndex((x) => x.startsWith("RELOADING=1"));
      assert.ok(reloading >= 0 && reloading < reload.indexOf("READY=1"), reload.join(" | "));
      assert.match(reload[reloading]!, /^RELOADING=1\nMONOTONIC_USEC=\d+$/);

      assert.equal(await agent.stop(), 0);
      assert.ok(messages().includes("STOPPING=1"), "no STOPPING=1");

      const lines = readFileSync(logPath, "utf8").trim().split("\n");
      assert.ok(lines.length > 3, "too few log lines");
      for (const line of lines) assert.match(line, /^<[3467]>/, `line without a journald priority: ${line}`);
      assert.ok(
        lines.some((l) => /^<6>info fedsync .* ready/.test(l)),
        "no ready line",
      );
      // 5,050 uploads make one summary line at info; each upload is a debug line, below the default level.
      const info = lines.filter((l) => /^<6>info \[www\]/.test(l));
      assert.equal(info.length, 1, info.join("\n"));
      assert.match(
        info[0]!,
        /^<6>info \[www\] pass complete: 5050 up, 0 down, 0 deleted here, 0 deleted remotely, 0 conflicts, 0 failed, 42\.9 KiB up, 0 B down, \d+\.\d\d s$/,
      );
      assert.ok(!readFileSync(logPath, "utf8").includes(fed.minio.secretKey), "the secret reached the log");
    } finally {
      await agent.stop("SIGKILL");
    }
  });

  test("a skipped special file logs at priority 4 and a guard trip at priority 3 under journald", async () => {
    execFileSync("mkfifo", [a.path("d0/pipe", "www")]);
    const run = (args: string[]) => {
      const logPath = join(fed.dir, `stream-${args.length}.log`);
      const logFd = openSync(logPath, "w");
      const { dev, ino } = fstatSync(logFd, { bigint: true });
      const child = spawn(process.execPath, [cliPath, "--config", a.configPath, ...args], {
        env: { ...process.env, JOURNAL_STREAM: `${dev}:${ino}` },
        stdio: ["ignore", "ignore", logFd],
      });
      closeSync(logFd);
      return new Promise<{ code: number | null; log: string }>((resolve) =>
        child.on("exit", (code) => resolve({ code, log: readFileSync(logPath, "utf8") })),
      );
    };
    const warned = await run(["sync"]);
    assert.equal(warned.code, 0);
    assert.match(warned.log, /^<4>warn \[www\] skipping d0\/pipe: .*FIFO/m);
    renameSync(a.root("www"), `${a.root("www")}.away`);
    const tripped = await run(["sync", "--set", "www"]);
    renameSync(`${a.root("www")}.away`, a.root("www"));
    assert.equal(tripped.code, 1);
    assert.match(tripped.log, /^<3>error \[www\] set root .* is missing but the journal knows 5050 entries/m);
  });

  test("install-unit prints the drop-in that makes every set root writable", async () => {
    const result = await runCli(["--config", a.configPath, "install-unit"]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /^\[Service\]$/m);
    assert.ok(result.stdout.includes(`ReadWritePaths=-"${a.root("www")}"`), result.stdout);
  });
});
