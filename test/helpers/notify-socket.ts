import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";

/**
 * A stand-in for systemd's notification socket. Node cannot bind unix datagram sockets, so a small python3
 * process binds one and prints each datagram as a JSON line, stamped with CLOCK_MONOTONIC at receipt.
 */
export interface NotifyListener {
  /** Value for NOTIFY_SOCKET. */
  path: string;
  /** Every datagram received so far, in order. */
  messages: string[];
  /** CLOCK_MONOTONIC (µs) at which each message arrived, parallel to `messages`. */
  receivedAtMonotonicUsec: bigint[];
  waitFor(predicate: (messages: string[]) => boolean, timeoutMs: number): Promise<void>;
  close(): Promise<void>;
}

const LISTENER = `
import json, socket, sys, time
sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
sock.bind(sys.argv[1])
print(json.dumps({"listening": True}), flush=True)
while True:
    data = sock.recv(65536)
    now = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    print(json.dumps({"data": data.decode("utf-8", "replace"), "at": str(now)}), flush=True)
`;

export async function startNotifyListener(): Promise<NotifyListener> {
  const dir = mkdtempSync(join(tmpdir(), "fedsync-notify-"));
  const path = join(dir, "notify.sock");
  const child = spawn("python3", ["-c", LISTENER, path], { stdio: ["ignore", "pipe", "pipe"] });
  const messages: string[] = [];
  const receivedAtMonotonicUsec: bigint[] = [];
  let stderr = "";
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
  const waiters = new Set<() => void>();
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));

  await new Promise<void>((resolve, reject) => {
    child.once("error", reject);
    child.once("exit", (code) => reject(new Error(`notify listener exited with ${code}: ${stderr}`)));
    createInterface({ input: child.stdout }).on("line", (line) => {
      const event = JSON.parse(line) as { listening?: boolean; data?: string; at?: string };
      if (event.listening) resolve();
      if (event.data !== undefined && event.at !== undefined) {
        messages.push(event.data);
        receivedAtMonotonicUsec.push(BigInt(event.at));
        for (const wake of waiters) wake();
      }
    });
  });

  return {
    path,
    messages,
    receivedAtMonotonicUsec,
    waitFor(predicate, timeoutMs) {
      return new Promise((resolve, reject) => {
        const check = () => {
          if (!predicate(messages)) return;
          finish();
          resolve();
        };
        const timer = setTimeout(() => {
          finish();
          reject(
            new Error(
              `notify listener: timed out after ${timeoutMs} ms; received ${JSON.stringify(messages)}`,
            ),
          );
        }, timeoutMs);
        const finish = () => {
          clearTimeout(timer);
          waiters.delete(check);
        };
        waiters.add(check);
        check();
      });
    },
    async close() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill();
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
