/** `npm run docs:decisions`: writes the decision table of test/unit/decision-table.ts into docs/design.md. */
import { readFileSync, writeFileSync } from "node:fs";
import { resolve } from "node:path";
import { renderDecisionTable } from "./unit/decision-table.js";

const file = resolve(import.meta.dirname, "../docs/design.md");
const text = readFileSync(file, "utf8");
const section = text.indexOf("### The decision table");
const start = text.indexOf("\n| L ", section) + 1;
const end = text.indexOf("\n\n", start);
if (section < 0 || start <= 0 || end < 0) throw new Error(`no decision table found in ${file}`);
writeFileSync(file, text.slice(0, start) + renderDecisionTable() + text.slice(end));
