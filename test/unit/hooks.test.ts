import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { test } from "node:test";
import { parseConfigText } from "../../src/config/load.js";
import type { SetConfig } from "../../src/config/types.js";
import { MAX_LISTED_PATHS, PathBatch } from "../../src/hooks/batch.js";
import { OUTPUT_LIMIT_BYTES, runHookCommand } from "../../src/hooks/command.js";
import { HookQueue, MAX_WAIT_DEBOUNCES } from "../../src/hooks/hook-queue.js";
import { SetHooks, type HookName, type HookResult } from "../../src/hooks/set-hooks.js";
import { createLogger } from "../../src/log/index.js";

function tempDir(t: { after(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), "fedsync-hooks-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Whether the process runs (a zombie waiting to be reaped by init has ended). */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z";
  } catch {
    return false;
  }
}

async function waitFor(condition: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

test("a hook gets the paths on stdin and the set in its environment, runs in /, without the secret", async () => {
  const previous = process.env.FEDSYNC_SECRET_ACCESS_KEY;
  process.env.FEDSYNC_SECRET_ACCESS_KEY = "do-not-pass-me";
  try {
    const outcome = await runHookCommand({
      command:
        'pwd; echo "set=$FEDSYNC_SET n=$FEDSYNC_CHANGED secret=${FEDSYNC_SECRET_ACCESS_KEY:-none}"; cat',
      env: { FEDSYNC_SET: "conf", FEDSYNC_CHANGED: "2" },
      lines: ["a.conf", "dir/with space.conf"],
      timeoutMs: 10_000,
    });
    assert.equal(outcome.exitCode, 0);
    assert.equal(outcome.timedOut, false);
    assert.equal(outcome.output, "/\nset=conf n=2 secret=none\na.conf\ndir/with space.conf\n");
  } finally {
    if (previous === undefined) delete process.env.FEDSYNC_SECRET_ACCESS_KEY;
    else process.env.FEDSYNC_SECRET_ACCESS_KEY = previous;
  }
});

test("a path is data on stdin: shell syntax in it is never run", async (t) => {
  const dir = tempDir(t);
  const outcome = await runHookCommand({
    command: 'while IFS= read -r path; do printf "%s|" "$path"; done',
    env: {},
    lines: [`$(touch ${dir}/injected)`, `x; touch ${dir}/injected2`, "`id`"],
    timeoutMs: 10_000,
  });
  assert.equal(outcome.exitCode, 0);
  assert.equal(outcome.output, `$(touch ${dir}/injected)|x; touch ${dir}/injected2|\`id\`|`);
  assert.deepEqual(readdirSync(dir), []);
});

test("exit status, signals and output beyond the limit are reported", async () => {
  const failed = await runHookCommand({
    command: "echo bad >&2; exit 3",
    env: {},
    lines: [],
    timeoutMs: 10_000,
  });
  assert.equal(failed.exitCode, 3);
  assert.equal(failed.output, "bad\n");
  const killed = await runHookCommand({ command: "kill -SEGV $$", env: {}, lines: [], timeoutMs: 10_000 });
  assert.equal(killed.exitCode, null);
  assert.equal(killed.signal, "SIGSEGV");
  const chatty = await runHookCommand({
    command: "head -c 10000 /dev/zero | tr '\\0' x",
    env: {},
    lines: [],
    timeoutMs: 10_000,
  });
  assert.equal(chatty.output, "x".repeat(OUTPUT_LIMIT_BYTES));
  assert.equal(chatty.droppedBytes, 10_000 - OUTPUT_LIMIT_BYTES);
});

test("a hook that ignores a long stdin is not an error", async () => {
  const lines = Array.from({ length: 200_000 }, (_, i) => `some/rather/long/path/number-${i}.html`);
  const outcome = await runHookCommand({ command: "exit 0", env: {}, lines, timeoutMs: 10_000 });
  assert.equal(outcome.exitCode, 0);
});

test("a hook that hangs is killed at the timeout, with everything in its process group", async (t) => {
  const dir = tempDir(t);
  const pidFile = join(dir, "child.pid");
  const started = Date.now();
  const outcome = await runHookCommand({
    command: `sleep 60 & echo $! > ${pidFile}; wait`,
    env: {},
    lines: [],
    timeoutMs: 500,
  });
  const took = Date.now() - started;
  assert.equal(outcome.timedOut, true);
  assert.equal(outcome.exitCode, null);
  assert.ok(took >= 500 && took < 5000, `took ${took} ms`);
  const child = Number(readFileSync(pidFile, "utf8"));
  await waitFor(() => !alive(child), 5000, `the hook's background sleep (pid ${child}) to be killed`);
});

test("a hook that traps SIGTERM is killed with SIGKILL", async (t) => {
  const dir = tempDir(t);
  const pidFile = join(dir, "shell.pid");
  const outcome = await runHookCommand({
    command: `trap '' TERM; echo $$ > ${pidFile}; while :; do sleep 0.1; done`,
    env: {},
    lines: [],
    timeoutMs: 300,
  });
  assert.equal(outcome.timedOut, true);
  assert.equal(outcome.signal, "SIGKILL");
  assert.equal(alive(Number(readFileSync(pidFile, "utf8"))), false);
});

test("a path batch lists distinct paths in byte order and only counts names with a newline", () => {
  const batch = new PathBatch();
  for (const path of ["b", "a/", "a", "b", "evil\n../../etc/passwd", "é", "Z"]) batch.add(path);
  assert.deepEqual(batch.lines(), ["Z", "a", "a/", "b", "é"]);
  assert.equal(batch.count, 6);
  assert.equal(batch.unlisted, 1);
});

test("a path batch lists at most MAX_LISTED_PATHS and counts the rest", () => {
  const batch = new PathBatch();
  for (let i = 0; i < MAX_LISTED_PATHS + 5; i++) batch.add(`f${i}`);
  batch.add("f0");
  assert.equal(batch.lines().length, MAX_LISTED_PATHS);
  assert.equal(batch.count, MAX_LISTED_PATHS + 5);
  assert.equal(batch.unlisted, 5);
});

/** A hook queue whose runs record their batches and take `runMs` each. */
function recordingQueue(debounceMs: number, runMs: number) {
  const runs: { lines: string[]; start: number; end: number }[] = [];
  let active = 0;
  let overlapped = false;
  const queue = new HookQueue(debounceMs, async (batch) => {
    active++;
    overlapped ||= active > 1;
    const start = Date.now();
    await sleep(runMs);
    runs.push({ lines: batch.lines(), start, end: Date.now() });
    active--;
  });
  return { queue, runs, overlapped: () => overlapped };
}

/** One pass on `queue` that changes `paths`. */
function pass(queue: HookQueue, ...paths: string[]): void {
  queue.passStarted();
  for (const path of paths) queue.add(path);
  queue.passEnded();
}

test("passes in a burst make one run once the set is quiet for the debounce time", async () => {
  const { queue, runs } = recordingQueue(400, 10);
  for (let i = 0; i < 5; i++) {
    pass(queue, `file-${i}`);
    await sleep(50);
  }
  await sleep(100);
  assert.equal(runs.length, 0, "ran before the quiet time was over");
  await waitFor(() => runs.length === 1, 2000, "the run");
  assert.deepEqual(runs[0]!.lines, ["file-0", "file-1", "file-2", "file-3", "file-4"]);
  await sleep(500);
  assert.equal(runs.length, 1);
  pass(queue); // a pass that changes nothing runs nothing
  await sleep(500);
  assert.equal(runs.length, 1);
});

test("a pass running holds the run until it ends and the debounce time passes", async () => {
  const { queue, runs } = recordingQueue(200, 10);
  pass(queue, "a");
  await sleep(100);
  queue.passStarted(); // a long pass, still receiving the burst
  await sleep(500);
  assert.equal(runs.length, 0, "ran while a pass was running");
  queue.add("b");
  const ended = Date.now();
  queue.passEnded();
  await waitFor(() => runs.length === 1, 2000, "the run");
  assert.ok(runs[0]!.start - ended >= 190, `ran ${runs[0]!.start - ended} ms after the pass ended`);
  assert.deepEqual(runs[0]!.lines, ["a", "b"]);
});

test("a set that never rests still runs the hook, MAX_WAIT_DEBOUNCES periods after the first change", async () => {
  const { queue, runs } = recordingQueue(20, 1);
  const started = Date.now();
  for (let i = 0; Date.now() - started < 2000; i++) {
    queue.passStarted();
    queue.add(`file-${i}`);
    await sleep(10);
    queue.passEnded();
  }
  assert.ok(runs.length >= 1, "no run in 2 s of passes back to back");
  const first = runs[0]!.start - started;
  const maxWait = 20 * MAX_WAIT_DEBOUNCES;
  assert.ok(first >= maxWait - 50 && first < 2000, `first run after ${first} ms (max wait ${maxWait} ms)`);
  await queue.stop();
});

test("runs never overlap; requests during a run are queued once and carry every path", async () => {
  const { queue, runs, overlapped } = recordingQueue(0, 1000);
  pass(queue, "first");
  await sleep(50);
  for (const path of ["second", "third", "fourth"]) {
    pass(queue, path);
    await sleep(30);
  }
  await waitFor(() => runs.length === 2, 5000, "two runs");
  await sleep(400);
  assert.equal(runs.length, 2);
  assert.equal(overlapped(), false);
  assert.deepEqual(runs[0]!.lines, ["first"]);
  assert.deepEqual(runs[1]!.lines, ["fourth", "second", "third"]);
  assert.ok(runs[1]!.start >= runs[0]!.end);
});

test("stop runs the paths still waiting for their debounce, then returns", async () => {
  const { queue, runs } = recordingQueue(60_000, 10);
  pass(queue, "late");
  await queue.stop();
  assert.deepEqual(
    runs.map((run) => run.lines),
    [["late"]],
  );
});

function setConfig(dir: string, extra: string): SetConfig {
  const config = parseConfigText(
    `
machine: web1
state_dir: ${join(dir, "state")}
datastore: { endpoint: "http://127.0.0.1:9000", bucket: fleet, access_key_id: fedsync }
sets:
  - name: conf
    path: ${join(dir, "conf")}
    hook_debounce: 0s
${extra}`,
    "test.yaml",
    { FEDSYNC_SECRET_ACCESS_KEY: "secret-for-tests" },
  );
  return config.sets[0]!;
}

test("on_change gets what arrived here, on_conflict the conflict copies; one log line per run", async (t) => {
  const dir = tempDir(t);
  const set = setConfig(
    dir,
    `    on_change: 'cat > ${dir}/change.txt; echo "$FEDSYNC_HOOK $FEDSYNC_SET $FEDSYNC_MACHINE $FEDSYNC_ROOT $FEDSYNC_CHANGED"'
    on_conflict: 'cat > ${dir}/conflict.txt; exit 3'
`,
  );
  const stream = new PassThrough();
  let log = "";
  stream.on("data", (chunk: Buffer) => (log += chunk.toString()));
  const results: [HookName, HookResult][] = [];
  const hooks = new SetHooks({
    set,
    machine: "web1",
    logger: createLogger({ stream, journald: false }).child({ set: "conf" }),
    onRun: (hook, result) => results.push([hook, result]),
  });
  hooks.passStarted();
  hooks.applied({ path: "up.conf", action: "upload", origin: "web1" });
  hooks.applied({ path: "gone/", action: "delete-remote", origin: "web1" });
  hooks.applied({ path: "new.conf", action: "download", origin: "web2" });
  hooks.applied({ path: "old.conf", action: "delete-local", origin: "web2" });
  hooks.applied({
    path: "both.conf",
    action: "conflict",
    origin: "web2",
    detail: "both.fedsync-conflict-x.conf",
  });
  hooks.applied({ path: "tie.conf", action: "conflict", origin: "web2" });
  hooks.passEnded();
  await waitFor(() => results.length === 2, 5000, "both hooks");
  await hooks.stop();
  assert.equal(
    readFileSync(join(dir, "change.txt"), "utf8"),
    "both.fedsync-conflict-x.conf\nnew.conf\nold.conf\n",
  );
  assert.equal(readFileSync(join(dir, "conflict.txt"), "utf8"), "both.fedsync-conflict-x.conf\n");
  assert.deepEqual(results.sort(), [
    ["on_change", "ok"],
    ["on_conflict", "failed"],
  ]);
  const lines = log.trim().split("\n");
  assert.equal(lines.length, 2, log);
  const changeLine = lines.find((line) => line.includes("on_change"))!;
  assert.match(
    changeLine,
    /info \[conf\] on_change hook ran: exit 0 hook=on_change changed=3 seconds=[\d.]+ /,
  );
  assert.ok(changeLine.includes(`output="on_change conf web1 ${join(dir, "conf")} 3"`), changeLine);
  const conflictLine = lines.find((line) => line.includes("on_conflict"))!;
  assert.match(conflictLine, /warn \[conf\] on_conflict hook failed: exit 3 hook=on_conflict changed=1 /);
});

test("a hook whose program is missing fails with exit 127, in one warning line", async (t) => {
  const dir = tempDir(t);
  const set = { ...setConfig(dir, "    on_change: 'true'\n"), path: join(dir, "conf") };
  const stream = new PassThrough();
  let log = "";
  stream.on("data", (chunk: Buffer) => (log += chunk.toString()));
  const results: HookResult[] = [];
  const hooks = new SetHooks({
    set: { ...set, onChange: "exec /nonexistent/program" },
    machine: "web1",
    logger: createLogger({ stream, journald: false }),
    onRun: (_hook, result) => results.push(result),
  });
  hooks.passStarted();
  hooks.applied({ path: "a", action: "download", origin: "web2" });
  hooks.passEnded();
  await waitFor(() => results.length === 1, 5000, "the run");
  assert.deepEqual(results, ["failed"]);
  assert.match(log, /^\S+ warn \[conf\] on_change hook failed: exit 127 .*output=".*nonexistent/);
});
