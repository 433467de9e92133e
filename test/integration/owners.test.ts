import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { statSync } from "node:fs";
import { useFederation, writeTree, type Agent, type Federation } from "../helpers/federation.js";

/** The uid and gid the system's resolver gives a user. */
function ids(user: string): { uid: number; gid: number } {
  const fields = execFileSync("getent", ["passwd", user], { encoding: "utf8" }).split(":");
  return { uid: Number(fields[2]), gid: Number(fields[3]) };
}

describe("owner and group of a set", () => {
  let fed: Federation;
  let a: Agent;
  let b: Agent;

  useFederation([2, [{ name: "web" }]], (started) => {
    fed = started;
    [a, b] = started.agents as [Agent, Agent];
  });

  test("an unknown owner or group is refused by check-config and sync with exit 2, naming the key", async () => {
    b.writeConfig([{ name: "web", owner: "nosuchuser", group: "www-data" }]);
    try {
      for (const command of ["check-config", "sync"]) {
        const result = await fed.run(b, [command]);
        assert.equal(result.code, 2, `${command}: ${result.stderr}`);
        assert.equal(result.stderr, 'fedsync: sets[0].owner: no user named "nosuchuser" on this machine\n');
      }
    } finally {
      b.writeConfig();
    }
  });

  test("a known owner and group are given to every file the set receives", async () => {
    writeTree(a.root(), { "site/index.html": "home" });
    await fed.sync(a);
    b.writeConfig([{ name: "web", owner: "www-data", group: "www-data" }]);
    try {
      await fed.sync(b);
      const www = ids("www-data");
      for (const path of [b.path("site"), b.path("site/index.html")]) {
        const stats = statSync(path);
        assert.deepEqual({ uid: stats.uid, gid: stats.gid }, www, path);
      }
    } finally {
      b.writeConfig();
    }
  });
});
