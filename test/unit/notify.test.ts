import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { startNotifyListener } from "../helpers/notify-socket.js";
import { hideSdNotify } from "../helpers/hide-sd-notify.js";

const repoRoot = resolve(import.meta.dirname, "../..");
const notifyModule = pathToFileURL(resolve(repoRoot, "src/agent/notify.ts")).href;

interface ChildResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `body` in a fresh node process where `notifier` is the process's Notifier. */
function runNotifierChild(
  body: string,
  env: Record<string, string>,
  nodeArgs: string[] = [],
): Promise<ChildResult> {
  const script = `
const { createNotifier } = await import(${JSON.stringify(notifyModule)});
const notifier = createNotifier();
${body}`;
  const childEnv: NodeJS.ProcessEnv = { ...process.env, ...env };
  for (const name of ["NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "JOURNAL_STREAM"]) {
    if (!(name in env)) delete childEnv[name];
  }
  return new Promise((resolveRun) => {
    execFile(
      process.execPath,
      [...nodeArgs, "--import", "tsx", "--input-type=module", "-e", script],
      { cwd: repoRoot, env: childEnv, timeout: 30_000 },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === "number" ? error.code : null) : 0;
        resolveRun({ code, stdout, stderr });
      },
    );
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test("each notifier call reaches NOTIFY_SOCKET as exactly one sd_notify message", async () => {
  const listener = await startNotifyListener();
  try {
    const child = await runNotifierChild(
      `notifier.ready();
notifier.status("webroot: 1,204/100,000 uploaded; config: idle");
notifier.reloading();
notifier.status("two\\nlines");
notifier.stopping();
notifier.watchdog();`,
      { NOTIFY_SOCKET: listener.path },
    );
    assert.deepEqual(child, { code: 0, stdout: "", stderr: "" });
    await listener.waitFor((messages) => messages.length >= 6, 5_000);

    const [ready, status, reloading, oneLine, stopping, watchdog, ...extra] = listener.messages;
    assert.equal(ready, "READY=1");
    assert.equal(status, "STATUS=webroot: 1,204/100,000 uploaded; config: idle");
    assert.equal(oneLine, "STATUS=two lines");
    assert.equal(stopping, "STOPPING=1");
    assert.equal(watchdog, "WATCHDOG=1");
    assert.deepEqual(extra, []);

    const match = /^RELOADING=1\nMONOTONIC_USEC=(\d+)$/.exec(reloading ?? "");
    assert.ok(match, `unexpected reload message ${JSON.stringify(reloading)}`);
    // Plausible means: on the receiver's CLOCK_MONOTONIC, shortly before the datagram arrived.
    const sentAt = BigInt(match[1]!);
    const receivedAt = listener.receivedAtMonotonicUsec[2]!;
    assert.ok(sentAt <= receivedAt, `MONOTONIC_USEC ${sentAt} is after its receipt at ${receivedAt}`);
    assert.ok(
      receivedAt - sentAt < 5_000_000n,
      `MONOTONIC_USEC ${sentAt} is far before receipt at ${receivedAt}`,
    );
  } finally {
    await listener.close();
  }
});

test("without NOTIFY_SOCKET the notifier sends nothing and logs nothing", async () => {
  const listener = await startNotifyListener();
  try {
    const child = await runNotifierChild(
      `notifier.ready(); notifier.status("x"); notifier.reloading(); notifier.stopping(); notifier.watchdog();
console.log(JSON.stringify({ interval: notifier.watchdogIntervalMs() ?? null }));`,
      { WATCHDOG_USEC: "30000000" },
    );
    assert.deepEqual(child, { code: 0, stdout: '{"interval":null}\n', stderr: "" });
    await sleep(300);
    assert.deepEqual(listener.messages, []);
  } finally {
    await listener.close();
  }
});

test("the watchdog interval is half of WATCHDOG_USEC, only when WATCHDOG_PID is absent or ours", async () => {
  const listener = await startNotifyListener();
  try {
    const interval = async (env: Record<string, string>) => {
      const child = await runNotifierChild(
        `console.log(JSON.stringify(notifier.watchdogIntervalMs() ?? null));`,
        { NOTIFY_SOCKET: listener.path, ...env },
      );
      assert.equal(child.stderr, "");
      return JSON.parse(child.stdout) as number | null;
    };
    assert.equal(await interval({ WATCHDOG_USEC: "30000000" }), 15_000);
    assert.equal(await interval({ WATCHDOG_USEC: "30000000", WATCHDOG_PID: "1" }), null);
    assert.equal(await interval({}), null);
    // The child's own pid is only known inside it, so this case sets WATCHDOG_PID there before asking.
    const own = await runNotifierChild(
      `process.env.WATCHDOG_PID = String(process.pid);
console.log(JSON.stringify(notifier.watchdogIntervalMs() ?? null));`,
      { NOTIFY_SOCKET: listener.path, WATCHDOG_USEC: "4000000" },
    );
    assert.equal(own.stdout, "2000\n");
  } finally {
    await listener.close();
  }
});

test("with NOTIFY_SOCKET but no loadable sd-notify, creating the notifier fails naming the package", async () => {
  const listener = await startNotifyListener();
  try {
    const child = await runNotifierChild(
      `notifier.ready();`,
      { NOTIFY_SOCKET: listener.path, WATCHDOG_USEC: "30000000" },
      hideSdNotify,
    );
    assert.notEqual(child.code, 0);
    assert.match(
      child.stderr,
      /NotifyUnavailableError: NOTIFY_SOCKET is set \(a Type=notify service\) but the optional package sd-notify cannot be loaded \(Cannot find module 'sd-notify'\).*install libsystemd-dev.*npm rebuild sd-notify/,
    );
    await sleep(300);
    assert.deepEqual(listener.messages, []);
  } finally {
    await listener.close();
  }
});

test("without NOTIFY_SOCKET a missing sd-notify goes unnoticed", async () => {
  const child = await runNotifierChild(`notifier.ready(); console.log("ran");`, {}, hideSdNotify);
  assert.deepEqual(child, { code: 0, stdout: "ran\n", stderr: "" });
});
