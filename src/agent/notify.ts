/**
 * The systemd notification protocol (sd_notify(3)): readiness, status, reload, stop and watchdog messages
 * on the datagram socket named by NOTIFY_SOCKET. Node cannot send unix datagrams itself (its `dgram` module
 * has UDP only, and `net` connects only to stream sockets), so the messages go through the optional
 * `sd-notify` binding to libsystemd. Handing them to a helper process (systemd-notify, python3) is no way
 * out: the unit's NotifyAccess=main accepts messages from the main process only. Under systemd without the
 * binding the agent therefore refuses to start, instead of never becoming ready.
 */

import { createRequire } from "node:module";

export interface Notifier {
  /** `READY=1`: start-up (or a reload) is complete. */
  ready(): void;
  /** `STATUS=<text>`: the one-line summary shown by `systemctl status`. */
  status(text: string): void;
  /** `RELOADING=1` with `MONOTONIC_USEC`, as Type=notify-reload (systemd 253+) requires. */
  reloading(): void;
  /** `STOPPING=1`. */
  stopping(): void;
  /** `WATCHDOG=1`: the keep-alive ping. */
  watchdog(): void;
  /** How often to ping: half of WATCHDOG_USEC when systemd watches this process, else undefined. */
  watchdogIntervalMs(): number | undefined;
}

/** The part of the `sd-notify` package used here: `sendState` passes its string to sd_notify(0, state). */
interface SdNotifyBinding {
  sendState(state: string): void;
}

/** NOTIFY_SOCKET is set, so systemd waits for READY=1, but the binding that would send it cannot load. */
export class NotifyUnavailableError extends Error {
  constructor(problem: string) {
    super(
      `NOTIFY_SOCKET is set (a Type=notify service) but the optional package sd-notify cannot be loaded ` +
        `(${problem}), so systemd would never hear READY=1: install libsystemd-dev, build-essential and ` +
        "python3, then run `npm rebuild sd-notify` in the fedsync package directory ($(npm root -g)/fedsync); " +
        "or run the service with Type=simple and WatchdogSec=0",
    );
    this.name = "NotifyUnavailableError";
  }
}

/** The binding, or why it cannot be loaded (first line of the loader's error). */
export function loadSdNotify(): { binding: SdNotifyBinding } | { problem: string } {
  try {
    const binding: unknown = createRequire(import.meta.url)("sd-notify");
    if (binding && typeof (binding as SdNotifyBinding).sendState === "function") {
      return { binding: binding as SdNotifyBinding };
    }
    return { problem: "it has no sendState function" };
  } catch (error) {
    // Not installed, or its native part failed to build or load.
    const message = error instanceof Error ? error.message : String(error);
    return { problem: message.split("\n")[0]! };
  }
}

/** A notifier for this process: silent without NOTIFY_SOCKET; throws NotifyUnavailableError when it cannot speak. */
export function createNotifier(): Notifier {
  let binding: SdNotifyBinding | undefined;
  if (process.env.NOTIFY_SOCKET) {
    const loaded = loadSdNotify();
    if ("problem" in loaded) throw new NotifyUnavailableError(loaded.problem);
    binding = loaded.binding;
  }
  const send = (state: string) => binding?.sendState(state);
  return {
    ready: () => send("READY=1"),
    // A newline would start a new assignment, so the status text is kept to one line.
    status: (text) => send(`STATUS=${text.replace(/[\r\n]+/g, " ")}`),
    reloading: () => send(`RELOADING=1\nMONOTONIC_USEC=${monotonicMicros()}`),
    stopping: () => send("STOPPING=1"),
    watchdog: () => send("WATCHDOG=1"),
    watchdogIntervalMs: () => (binding ? watchdogIntervalFromEnv() : undefined),
  };
}

/**
 * CLOCK_MONOTONIC in microseconds. process.hrtime.bigint() is libuv's uv_hrtime(), which on Linux reads
 * clock_gettime(CLOCK_MONOTONIC) (uv__hrtime with UV_CLOCK_PRECISE), the clock systemd expects here.
 */
function monotonicMicros(): bigint {
  return process.hrtime.bigint() / 1000n;
}

/** sd_watchdog_enabled(3): WATCHDOG_USEC applies to us when WATCHDOG_PID is unset or is our pid. */
function watchdogIntervalFromEnv(): number | undefined {
  const { WATCHDOG_USEC: usec, WATCHDOG_PID: pid } = process.env;
  if (!usec || !/^\d+$/.test(usec)) return undefined;
  if (pid !== undefined && pid !== "" && pid !== String(process.pid)) return undefined;
  const micros = Number(usec);
  return micros > 0 ? Math.floor(micros / 2000) : undefined;
}
