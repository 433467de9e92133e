import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { lookupAccount } from "../../src/config/accounts.js";
import { OwnerNames } from "../../src/reconcile/owners.js";

/** What the system's resolver says, straight from getent, for comparison. */
function getent(database: string, key: string): string[] {
  return execFileSync("getent", [database, key], { encoding: "utf8" }).split("\n")[0]!.split(":");
}

test("names and ids resolve through the system's name service, both ways", () => {
  const owners = new OwnerNames();
  const [, , wwwUid] = getent("passwd", "www-data");
  const [, , wwwGid] = getent("group", "www-data");
  assert.equal(owners.uid("www-data"), Number(wwwUid));
  assert.equal(owners.gid("www-data"), Number(wwwGid));
  assert.equal(owners.uid("root"), 0);
  assert.equal(owners.userName(0), "root");
  assert.equal(owners.groupName(0), getent("group", "0")[0]);
  assert.equal(owners.userName(Number(wwwUid)), "www-data");
});

test("unknown names are undefined, unknown ids become #id, and #id names are ids", () => {
  const owners = new OwnerNames();
  assert.equal(owners.uid("nosuchuser"), undefined);
  assert.equal(owners.gid("nosuchgroup"), undefined);
  assert.equal(owners.userName(4_000_000_000), "#4000000000");
  assert.equal(owners.groupName(4_000_000_000), "#4000000000");
  assert.equal(owners.uid("#1234"), 1234);
  assert.deepEqual(lookupAccount("passwd", "nosuchuser"), undefined);
  assert.deepEqual(lookupAccount("passwd", "root"), { name: "root", id: 0 });
});

test("every account of /etc/passwd and /etc/group resolves as getent resolves it, by name and by id", () => {
  for (const database of ["passwd", "group"] as const) {
    const names = execFileSync("getent", [database], { encoding: "utf8" })
      .split("\n")
      .filter(Boolean)
      .map((line) => line.split(":")[0]!);
    assert.ok(names.length > 5, `${database} lists accounts`);
    for (const name of names) {
      const [gotName, , gotId] = getent(database, name);
      assert.deepEqual(lookupAccount(database, name), { name: gotName, id: Number(gotId) }, name);
      const [idName] = getent(database, gotId!);
      assert.deepEqual(lookupAccount(database, gotId!), { name: idName, id: Number(gotId) }, gotId);
    }
  }
});
