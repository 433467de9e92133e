/** What `fedsync doctor` says about one check, and the pure judgements behind the verdicts. */
import { formatDuration } from "../config/index.js";
import type { ServerClock } from "../datastore/index.js";
import { formatBytes } from "../log/units.js";

/** `skip`: not checked, because a check it depends on failed. */
export type Verdict = "ok" | "info" | "warn" | "fail" | "skip";

export interface Finding {
  check: string;
  verdict: Verdict;
  message: string;
  /** What to do about it; set when the verdict is warn or fail. */
  fix?: string;
}

export const ok = (check: string, message: string): Finding => ({ check, verdict: "ok", message });
export const info = (check: string, message: string): Finding => ({ check, verdict: "info", message });
export const skip = (check: string, message: string): Finding => ({ check, verdict: "skip", message });
export const warn = (check: string, message: string, fix: string): Finding => ({
  check,
  verdict: "warn",
  message,
  fix,
});
export const fail = (check: string, message: string, fix: string): Finding => ({
  check,
  verdict: "fail",
  message,
  fix,
});

function octal(mode: number): string {
  return `0${(mode & 0o777).toString(8).padStart(3, "0")}`;
}

/** The secret file must be private to root: 0600 or 0400, owner uid 0. */
export function judgeSecretFile(file: string, mode: number, uid: number): Finding {
  const check = "secret file";
  if ((mode & 0o077) !== 0) {
    return fail(check, `${file} has mode ${octal(mode)}: group or others may read it`, `chmod 600 ${file}`);
  }
  if (uid !== 0) {
    return fail(
      check,
      `${file} is owned by uid ${uid}, not root: that user can read the secret`,
      `chown root:root ${file}`,
    );
  }
  if ((mode & 0o777) !== 0o600 && (mode & 0o777) !== 0o400) {
    return warn(check, `${file} has mode ${octal(mode)}, expected 0600 or 0400`, `chmod 600 ${file}`);
  }
  return ok(check, `${file} has mode ${octal(mode)} and is owned by root`);
}

function seconds(ms: number): string {
  return `${(Math.abs(ms) / 1000).toFixed(1)} s`;
}

/**
 * The change-log poll looks back `clock_skew`: a machine whose clock is further off than that may miss
 * records. Only the part of the offset beyond the measurement's uncertainty counts.
 */
export function judgeClock(clock: ServerClock, clockSkewMs: number): Finding {
  const check = "clock";
  const sure = Math.max(0, Math.abs(clock.offsetMs) - clock.uncertaintyMs);
  const direction = clock.offsetMs > 0 ? "behind" : "ahead of";
  const measured = `this machine's clock is ${seconds(clock.offsetMs)} ${direction} the server's (±${seconds(clock.uncertaintyMs)})`;
  const allowed = `clock_skew ${formatDuration(clockSkewMs)}`;
  const fix = "synchronise the clocks of every machine and the server (timedatectl set-ntp true)";
  if (sure > clockSkewMs) return fail(check, `${measured}, more than ${allowed}: changes may be missed`, fix);
  if (sure > clockSkewMs / 2) return warn(check, `${measured}, close to ${allowed}`, fix);
  return ok(check, `${measured}, within ${allowed}`);
}

/** One inotify watch per directory of every lightweight set, against the per-user limit. */
export function judgeInotify(directories: number, maxUserWatches: number): Finding {
  const check = "inotify";
  const counted = `${directories} directories in lightweight sets, fs.inotify.max_user_watches ${maxUserWatches}`;
  const fix =
    "install the sysctl drop-in that ships with fedsync (systemd/99-fedsync-inotify.conf) in /etc/sysctl.d/ and run sysctl --system";
  if (directories > maxUserWatches) return fail(check, `${counted}: not every directory can be watched`, fix);
  if (directories > maxUserWatches / 2) {
    return warn(check, `${counted}: other programs of the same user share the limit`, fix);
  }
  return ok(check, counted);
}

export interface SpaceFigures {
  bytesFree: number;
  bytesTotal: number;
  inodesFree: number;
  inodesTotal: number;
}

/** Free space and inodes where fedsync writes: a warning below 10 %, a failure below 1 %. */
export function judgeSpace(path: string, space: SpaceFigures): Finding {
  const check = "free space";
  const share = (free: number, total: number) => (total > 0 ? free / total : 1);
  const bytes = share(space.bytesFree, space.bytesTotal);
  const inodes = share(space.inodesFree, space.inodesTotal);
  const lowest = Math.min(bytes, inodes);
  let text = `${path}: ${formatBytes(space.bytesFree)} free (${Math.floor(bytes * 100)} %)`;
  if (inodes < 0.1) text += `, ${space.inodesFree} inodes free (${Math.floor(inodes * 100)} %)`;
  const fix = `free space on the file system of ${path}`;
  if (lowest < 0.01) return fail(check, `${text}: writes will fail`, fix);
  if (lowest < 0.1) return warn(check, `${text}: running low`, fix);
  return ok(check, text);
}
