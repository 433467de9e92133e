import assert from "node:assert/strict";
import { test } from "node:test";
import type { LocalEntry } from "../../src/scan/entry.js";
import { MountFinder } from "../../src/reconcile/mounts.js";
import { formatDevice } from "../../src/reconcile/root.js";

/** glibc's makedev. */
function makedev(major: bigint, minor: bigint): bigint {
  return (
    ((major & 0xfffff000n) << 32n) |
    ((major & 0xfffn) << 8n) |
    ((minor & 0xffffff00n) << 12n) |
    (minor & 0xffn)
  );
}

test("device numbers read as major:minor, as lsblk shows them", () => {
  assert.equal(formatDevice(65024n), "254:0");
  assert.equal(formatDevice(2049n), "8:1");
  assert.equal(formatDevice(makedev(259n, 70_000n)), "259:70000");
  assert.equal(formatDevice(makedev(5000n, 3n)), "5000:3");
});

function dir(key: string, dev: bigint): LocalEntry {
  return {
    key,
    type: "dir",
    size: 0,
    mtimeMs: 0,
    mtimeNs: 0n,
    ctimeNs: 0n,
    inode: 1n,
    dev,
    mode: 0o755,
    uid: 0,
    gid: 0,
  };
}

test("a mount point is a directory on another device than its parent, nested ones included", () => {
  const finder = new MountFinder(1n);
  for (const entry of [
    dir("a/", 1n),
    dir("a/m/", 2n),
    dir("a/m/deep/", 2n),
    dir("a/m/deep/inner/", 3n),
    dir("a/m/other/", 2n),
    dir("a/n/", 1n),
    dir("b/", 2n),
    dir("b/back/", 1n),
    { ...dir("file", 5n), type: "file" as const },
  ]) {
    finder.see(entry);
  }
  assert.deepEqual(finder.found, ["a/m/", "a/m/deep/inner/", "b/", "b/back/"]);
});
