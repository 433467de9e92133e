import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { startFederation, writeTree, type Agent, type Federation } from "../helpers/federation.js";
import { AgentProcess } from "../helpers/agent-process.js";

describe("fedsync sync --dry-run", () => {
  let fed: Federation;
  let a: Agent;
  let b: Agent;

  before(async () => {
    fed = await startFederation(2, [{ name: "web", interval: "2s" }]);
    [a, b] = fed.agents as [Agent, Agent];
    const tree: Record<string, string> = {};
    for (let i = 0; i < 20; i++) tree[`page-${i}.html`] = `<p>${i}</p>`;
    writeTree(a.root(), tree);
    await fed.sync(a);
  });
  after(async () => {
    await fed?.close();
  });

  test("on a machine that never synced: the plan, and no state dir, journal or file created", async () => {
    assert.equal(existsSync(b.stateDir), false);
    const dry = await fed.run(b, ["sync", "--dry-run"]);
    assert.equal(dry.code, 0, dry.stderr);
    assert.equal(dry.stdout.split("\n").filter((line) => /\tdownload\tpage-\d+\.html/.test(line)).length, 20);
    assert.equal(existsSync(b.stateDir), false, "the dry run created the state dir");
    assert.deepEqual(readdirSync(b.root()), []);
  });

  test("a pass the deletion guard would stop: the dry run says so, exits 1 and deletes nothing", async () => {
    for (let i = 0; i < 15; i++) rmSync(a.path(`page-${i}.html`));
    const dry = await fed.run(a, ["sync", "--dry-run"]);
    assert.equal(dry.code, 1, dry.stderr);
    assert.match(
      dry.stderr,
      /deletion guard: this pass would delete 15 of 20 .*\(dry run: nothing changed\)/,
    );
    const real = await fed.run(a, ["sync"]);
    assert.equal(real.code, 1, "the real pass trips the same guard");
    const allowed = await fed.run(a, ["sync", "--dry-run", "--allow-mass-delete"]);
    assert.equal(allowed.code, 0, allowed.stderr);
    assert.equal(allowed.stdout.split("\n").filter((line) => line.includes("\tdelete-remote\t")).length, 15);
  });

  test("beside a running agent: the dry run needs no lock; the flag file lets the agent's next pass delete", async () => {
    const agent = new AgentProcess(fed.spawnAgent(a));
    try {
      await agent.waitForLog(
        /deletion guard: this pass would delete 15 of 20 .*touch \S+allow-mass-delete\.web` while the agent runs/,
      );
      const dry = await fed.run(a, ["sync", "--dry-run", "--allow-mass-delete"]);
      assert.equal(dry.code, 0, dry.stderr);
      assert.match(dry.stdout, /\tdelete-remote\tpage-0\.html/);
      const flag = join(a.stateDir, "allow-mass-delete.web");
      writeFileSync(flag, "");
      await agent.waitForLog(
        /found \S+allow-mass-delete\.web: this pass may delete past the deletion guard/,
        200_000,
      );
      await agent.waitForLog(/pass complete: 0 up, 0 down, 0 deleted here, 15 deleted remotely/);
      assert.equal(existsSync(flag), false, "the flag is good for one pass");
    } finally {
      assert.equal(await agent.stop(), 0);
    }
    await fed.sync(b);
    assert.equal(readdirSync(b.root()).length, 5);
  });
});
