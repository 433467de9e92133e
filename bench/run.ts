/**
 * `npm run bench` (add `-- --quick`, `--only 1,3`, `--no-write`, `--cli other/dist/cli.js`, `--scale-files N`,
 * `--markdown FILE` for the results of any run as the page shows them):
 * fedsync against rclone (and sha256sum) on one private MinIO, in one run; prints the table and writes it
 * into docs/benchmarks.md (only after a whole run of this build).
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { performance } from "node:perf_hooks";
import { parseArgs } from "node:util";
import { minioBinary, startMinio } from "../test/helpers/minio.js";
import { SIZES, type BenchContext, type Mode, type Row, type ScenarioResult } from "./context.js";
import { defaultCliPath, repoRoot } from "./fedsync.js";
import { machineFacts } from "./machine.js";
import { removeTree } from "./process.js";
import { Rclone, rcloneBinary } from "./rclone.js";
import { renderReport, textTable, writeReport } from "./report.js";
import { bigFile } from "./scenarios/big-file.js";
import { fleetCost } from "./scenarios/fleet-cost.js";
import { hashing } from "./scenarios/hashing.js";
import { initialUpload } from "./scenarios/initial-upload.js";
import { lean } from "./scenarios/lean.js";
import { propagation } from "./scenarios/propagation.js";
import { scale } from "./scenarios/scale.js";
import { unchangedPass } from "./scenarios/unchanged-pass.js";

interface Scenario {
  id: number;
  title: string;
  /** Compares with rclone, which is then built (once) before the run. */
  rclone: boolean;
  run(ctx: BenchContext): Promise<ScenarioResult>;
}

const SCENARIOS: Scenario[] = [
  { id: 1, title: "initial upload", rclone: true, run: initialUpload },
  { id: 2, title: "one big file", rclone: true, run: bigFile },
  { id: 3, title: "unchanged pass and 1% changed (scenarios 3 and 4)", rclone: true, run: unchangedPass },
  { id: 5, title: "lightweight propagation, idle cost and burst", rclone: false, run: propagation },
  { id: 6, title: "scale", rclone: false, run: scale },
  { id: 7, title: "hashing", rclone: false, run: hashing },
  { id: 8, title: "lean process", rclone: false, run: lean },
  { id: 9, title: "fleet cost", rclone: true, run: fleetCost },
];

async function main() {
  const { values } = parseArgs({
    options: {
      quick: { type: "boolean", default: false },
      only: { type: "string" },
      "no-write": { type: "boolean", default: false },
      cli: { type: "string" },
      "scale-files": { type: "string" },
      markdown: { type: "string" },
    },
  });
  const mode: Mode = values.quick ? "quick" : "full";
  const only = values.only ? new Set(values.only.split(",").map(Number)) : undefined;
  const sizes = { ...SIZES[mode] };
  if (values["scale-files"]) sizes.scaleFiles = Number(values["scale-files"]);
  const selected = SCENARIOS.filter(
    (scenario) => (!only || only.has(scenario.id)) && (scenario.id !== 6 || sizes.scaleFiles > 0),
  );
  const started = performance.now();
  const log = (message: string) =>
    process.stderr.write(`[bench ${((performance.now() - started) / 1000).toFixed(0)}s] ${message}\n`);

  const withRclone = selected.some((scenario) => scenario.rclone);
  const rcloneBin = withRclone ? rcloneBinary() : undefined;
  const minio = await startMinio();
  const rclone = rcloneBin ? new Rclone(rcloneBin, minio) : undefined;
  const facts = await machineFacts(minioBinary(), rclone ? await rclone.version() : "rclone not used");
  const work = mkdtempSync(join(tmpdir(), "fedsync-bench-"));
  let buckets = 0;
  const ctx: BenchContext = {
    mode,
    sizes,
    minio,
    get rclone(): Rclone {
      if (!rclone) throw new Error("rclone is built only for the scenarios that compare with it");
      return rclone;
    },
    cli: values.cli ? resolve(values.cli) : defaultCliPath,
    work,
    newBucket: () => minio.createBucket(`bench-${++buckets}`),
    log,
  };
  const rows: Row[] = [];
  const notes: string[] = [];
  const failures: string[] = [];
  try {
    for (const scenario of selected) {
      log(`scenario ${scenario.id}: ${scenario.title}`);
      try {
        const result = await scenario.run(ctx);
        rows.push(...result.rows);
        notes.push(...result.notes);
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error);
        log(`scenario ${scenario.id} failed: ${message}`);
        failures.push(`${scenario.id}. ${scenario.title}: ${message.split("\n").slice(0, 6).join(" ")}`);
      }
    }
  } finally {
    await minio.stop();
    await removeTree(work);
  }
  const report = {
    mode,
    sizes,
    facts,
    rows,
    notes,
    failures,
    totalSeconds: (performance.now() - started) / 1000,
  };
  process.stdout.write(`\n${textTable(rows)}\n\n`);
  for (const note of notes) process.stdout.write(`- ${note}\n`);
  for (const failure of failures) process.stdout.write(`FAILED ${failure}\n`);
  // A partial run's results as the page would show them, to read or to merge by hand.
  if (values.markdown) writeFileSync(values.markdown, renderReport(report));
  if (!only && !values.cli && !values["no-write"]) {
    const path = join(repoRoot, "docs/benchmarks.md");
    writeReport(path, renderReport(report));
    log(`wrote ${path}`);
  }
  process.exitCode = failures.length > 0 ? 1 : 0;
}

await main();
