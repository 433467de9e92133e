import { test } from "node:test";
import assert from "node:assert/strict";
import {
  judgeClock,
  judgeInotify,
  judgeSecretFile,
  judgeSpace,
  type Finding,
} from "../../src/cli/doctor-verdicts.js";

const verdict = (finding: Finding) => [finding.verdict, finding.message, finding.fix];

test("the secret file must be 0600 or 0400 and owned by root", () => {
  const file = "/etc/fedsync/secret";
  assert.deepEqual(verdict(judgeSecretFile(file, 0o100600, 0)), [
    "ok",
    "/etc/fedsync/secret has mode 0600 and is owned by root",
    undefined,
  ]);
  assert.equal(judgeSecretFile(file, 0o100400, 0).verdict, "ok");
  assert.deepEqual(verdict(judgeSecretFile(file, 0o100644, 0)), [
    "fail",
    "/etc/fedsync/secret has mode 0644: group or others may read it",
    "chmod 600 /etc/fedsync/secret",
  ]);
  assert.deepEqual(verdict(judgeSecretFile(file, 0o100600, 1000)), [
    "fail",
    "/etc/fedsync/secret is owned by uid 1000, not root: that user can read the secret",
    "chown root:root /etc/fedsync/secret",
  ]);
  assert.deepEqual(verdict(judgeSecretFile(file, 0o100700, 0)), [
    "warn",
    "/etc/fedsync/secret has mode 0700, expected 0600 or 0400",
    "chmod 600 /etc/fedsync/secret",
  ]);
});

test("clock skew counts only beyond the measurement's uncertainty, against clock_skew", () => {
  const fiveMinutes = 300_000;
  const near = judgeClock({ offsetMs: 1200, uncertaintyMs: 600 }, fiveMinutes);
  assert.deepEqual(verdict(near), [
    "ok",
    "this machine's clock is 1.2 s behind the server's (±0.6 s), within clock_skew 5m",
    undefined,
  ]);
  assert.equal(judgeClock({ offsetMs: -200_000, uncertaintyMs: 600 }, fiveMinutes).verdict, "warn");
  const far = judgeClock({ offsetMs: -400_000, uncertaintyMs: 600 }, fiveMinutes);
  assert.equal(far.verdict, "fail");
  assert.match(
    far.message,
    /^this machine's clock is 400\.0 s ahead of the server's .*more than clock_skew 5m/,
  );
  // Within the uncertainty a zero clock_skew is still met.
  assert.equal(judgeClock({ offsetMs: 400, uncertaintyMs: 600 }, 0).verdict, "ok");
  assert.equal(judgeClock({ offsetMs: 700, uncertaintyMs: 600 }, 0).verdict, "fail");
});

test("inotify: more directories than watches fail, more than half the limit warn", () => {
  assert.deepEqual(verdict(judgeInotify(120, 8192)), [
    "ok",
    "120 directories in lightweight sets, fs.inotify.max_user_watches 8192",
    undefined,
  ]);
  assert.equal(judgeInotify(5000, 8192).verdict, "warn");
  const over = judgeInotify(9000, 8192);
  assert.equal(over.verdict, "fail");
  assert.match(over.fix!, /99-fedsync-inotify\.conf/);
});

test("free space and inodes: a warning below 10 %, a failure below 1 %", () => {
  const GiB = 1024 ** 3;
  const space = (bytesFree: number, inodesFree = 900) => ({
    bytesFree,
    bytesTotal: 100 * GiB,
    inodesFree,
    inodesTotal: 1000,
  });
  assert.deepEqual(verdict(judgeSpace("/srv/www", space(40 * GiB))), [
    "ok",
    "/srv/www: 40.0 GiB free (40 %)",
    undefined,
  ]);
  assert.equal(judgeSpace("/srv/www", space(5 * GiB)).verdict, "warn");
  assert.equal(judgeSpace("/srv/www", space(0.5 * GiB)).verdict, "fail");
  const inodes = judgeSpace("/srv/www", space(40 * GiB, 5));
  assert.equal(inodes.verdict, "fail");
  assert.equal(inodes.message, "/srv/www: 40.0 GiB free (40 %), 5 inodes free (0 %): writes will fail");
});
