/**
 * The systemd notification protocol (sd_notify(3)): readiness, status, reload, stop and watchdog messages
 * on the datagram socket named by NOTIFY_SOCKET. Node cannot send unix datagrams itself, so the messages go
 * through the optional `sd-notify` binding to libsystemd.
 */

import { createRequire } from "node:module";
import type { Logger } from "../log/index.js";

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

export const SD_NOTIFY_UNAVAILABLE =
  "sd-notify unavailable (install libsystemd-dev and rebuild): systemd notifications disabled";

export function createNotifier(logger: Logger): Notifier {
  const binding = process.env.NOTIFY_SOCKET ? loadBinding(logger) : undefined;
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

function loadBinding(logger: Logger): SdNotifyBinding | undefined {
  try {
    const binding: unknown = createRequire(import.meta.url)("sd-notify");
    if (binding && typeof (binding as SdNotifyBinding).sendState === "function") {
      return binding as SdNotifyBinding;
    }
  } catch {
    // not installed, or its native part failed to build or load
  }
  logger.warn(SD_NOTIFY_UNAVAILABLE);
  return undefined;
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
