import assert from "node:assert/strict";
import { readdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { describe, test } from "node:test";
import { loadScenario, runScenario, SCENARIO } from "../scenarios/engine.js";

const dir = resolve(import.meta.dirname, "../scenarios");

describe("scenarios (test/scenarios/*.yaml)", () => {
  for (const file of readdirSync(dir)
    .filter((name) => name.endsWith(".yaml"))
    .sort()) {
    const scenario = loadScenario(join(dir, file));
    test(`${file}: ${scenario.about}`, () => runScenario(file, scenario));
  }

  test("the engine fails a scenario whose trees differ from its expectation", async () => {
    const wrong = SCENARIO.parse({
      about: "a wrong expectation",
      machines: 2,
      steps: [
        { write: { on: "a", tree: { "x.txt": "one" } } },
        { sync: ["a", "b"] },
        { expect: { on: "b", tree: { "x.txt": "two" } } },
      ],
    });
    await assert.rejects(runScenario("wrong", wrong), /wrong, step 3 \(expect\): the tree on b/);
  });
});
