import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { cliPath, useFederation, type Agent, type Federation } from "../helpers/federation.js";
import { AgentProcess } from "../helpers/agent-process.js";
import { hideSdNotify } from "../helpers/hide-sd-notify.js";
import { startNotifyListener, type NotifyListener } from "../helpers/notify-socket.js";

const WAITING = /^STATUS=waiting for the datastore: credentials rejected; retrying in (\d+)s$/;

describe("fedsync run before the datastore answers, and without the sd-notify binding", () => {
  let fed: Federation;
  let a: Agent;
  let listener: NotifyListener;

  useFederation([1, [{ name: "web" }, { name: "conf", method: "lightweight" }]], (started) => {
    fed = started;
    a = started.agents[0]!;
  });

  const spawnRun = (env: Record<string, string>, nodeArgs: string[] = []) =>
    new AgentProcess(
      spawn(process.execPath, [...nodeArgs, cliPath, "--config", a.configPath, "run"], {
        env: { ...process.env, NOTIFY_SOCKET: listener.path, ...env },
        stdio: ["ignore", "pipe", "pipe"],
      }),
    );

  test("a wrong secret: no READY=1, one line naming the access key, retries 1 s, 2 s, 4 s apart; a reload with the right one starts it", async () => {
    listener = await startNotifyListener();
    const wrongSecret = "wrong-secret-VALUE-0987654321";
    const wrongFile = join(fed.dir, "wrong-secret");
    writeFileSync(wrongFile, wrongSecret, { mode: 0o600 });
    a.writeConfig(undefined, {
      datastore: {
        endpoint: fed.minio.endpoint,
        bucket: fed.bucket,
        access_key_id: fed.minio.accessKey,
        secret_access_key_file: wrongFile,
      },
    });
    const agent = spawnRun({ WATCHDOG_USEC: "2000000" });
    try {
      await listener.waitFor((m) => m.filter((x) => WAITING.test(x)).length >= 4, 30_000);
      const waits = listener.messages
        .map((message, index) => ({ message, at: listener.receivedAtMonotonicUsec[index]! }))
        .filter(({ message }) => WAITING.test(message));
      assert.deepEqual(
        waits.slice(0, 4).map(({ message }) => Number(WAITING.exec(message)![1])),
        [1, 2, 4, 8],
      );
      for (let i = 1; i < 4; i++) {
        const gapMs = Number(waits[i]!.at - waits[i - 1]!.at) / 1000;
        const plannedMs = 1000 * 2 ** (i - 1);
        assert.ok(
          gapMs >= plannedMs - 50 && gapMs < plannedMs + 1000,
          `try ${i + 1} came ${gapMs} ms after try ${i}, planned ${plannedMs} ms`,
        );
      }
      assert.ok(!listener.messages.includes("READY=1"), `READY=1 without access: ${listener.messages}`);
      assert.ok(listener.messages.includes("WATCHDOG=1"), "the watchdog is fed while waiting");

      const lines = agent.output.trim().split("\n");
      const rejected = lines.filter((line) => /credentials rejected/.test(line));
      assert.equal(rejected.length, 1, agent.output);
      assert.match(
        rejected[0]!,
        new RegExp(
          ` error datastore \\S+ bucket ${fed.bucket}: check access: credentials rejected for access key ` +
            `${fed.minio.accessKey} \\(SignatureDoesNotMatch: wrong secret key\\); retrying with backoff$`,
        ),
      );
      assert.doesNotMatch(agent.output, /datastore down|pass failed|ready/);
      for (const secret of [wrongSecret, fed.minio.secretKey]) assert.ok(!agent.output.includes(secret));

      // The secret fixed and the config reloaded: the next try goes through, the sets start, READY=1.
      a.writeConfig();
      agent.child.kill("SIGHUP");
      await listener.waitFor((m) => m.includes("READY=1"), 30_000);
      await agent.waitForLog(/ ready: machine machine-a, 2 set\(s\)/);
      assert.match(agent.output, /reloaded .* while waiting for the datastore; trying it now/);
      assert.match(agent.output, /datastore up again/);
      assert.equal(listener.messages.filter((m) => m.startsWith("RELOADING=1")).length, 0);

      assert.equal(await agent.stop(), 0);
      assert.ok(listener.messages.includes("STOPPING=1"));
    } finally {
      await agent.stop("SIGKILL");
      await listener.close();
      a.writeConfig();
    }
  });

  test("an endpoint that is down at start: READY=1 only once it answers", async () => {
    listener = await startNotifyListener();
    await fed.minio.pause();
    let down = true;
    const agent = spawnRun({});
    try {
      await listener.waitFor(
        (m) =>
          m.some((x) =>
            x.startsWith("STATUS=waiting for the datastore: datastore unreachable; retrying in 2s"),
          ),
        30_000,
      );
      assert.ok(!listener.messages.includes("READY=1"));
      await fed.minio.resume();
      down = false;
      await listener.waitFor((m) => m.includes("READY=1"), 90_000);
      // READY=1 comes over the notify socket; the log line after it over a pipe, possibly later.
      await agent.waitForLog(/ ready: machine /);
      const output = agent.output;
      assert.ok(output.indexOf("datastore up again") < output.indexOf(" ready: machine "), output);
      assert.equal(output.match(/datastore down: .*cannot reach the server/g)?.length, 1, output);
      assert.equal(await agent.stop(), 0);
    } finally {
      if (down) await fed.minio.resume();
      await agent.stop("SIGKILL");
      await listener.close();
    }
  });

  test("under systemd without the sd-notify binding, run exits 2 at once naming the package", async () => {
    listener = await startNotifyListener();
    const started = Date.now();
    const agent = spawnRun({}, hideSdNotify);
    try {
      const code = await agent.waitForExit();
      const tookMs = Date.now() - started;
      assert.equal(code, 2, agent.output);
      // Process start-up only: far from the two minutes of TimeoutStartSec it used to wait out.
      assert.ok(tookMs < 30_000, `took ${tookMs} ms`);
      const lines = agent.output.trim().split("\n");
      assert.equal(lines.length, 1, agent.output);
      assert.match(
        lines[0]!,
        / error NOTIFY_SOCKET is set \(a Type=notify service\) but the optional package sd-notify cannot be loaded \(Cannot find module 'sd-notify'\), so systemd would never hear READY=1: install libsystemd-dev, build-essential and python3, then run `npm rebuild sd-notify`/,
      );
      assert.deepEqual(listener.messages, []);
      assert.ok(!existsSync(join(a.stateDir, "fedsync.lock")), "the state lock was not taken");
    } finally {
      await agent.stop("SIGKILL");
      await listener.close();
    }
  });
});
