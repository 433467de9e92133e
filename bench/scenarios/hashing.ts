import { dirname, join } from "node:path";
import { verdict, type BenchContext, type ScenarioResult } from "../context.js";
import { measure, removeTree } from "../process.js";
import { formatNumber, formatRatio, formatSummary, summarize } from "../stats.js";
import { writeBigFile } from "../trees.js";

const MiB = 1024 * 1024;

/** Times sha256File in its own process, from inside (node's start-up is not hashing). */
const HASH_SCRIPT = `
const { sha256File } = await import(process.argv[1]);
const started = performance.now();
const digest = await sha256File(process.argv[2]);
process.stdout.write(JSON.stringify({ digest, seconds: (performance.now() - started) / 1000 }));
`;

/** SHA-256 speed of one core on data in memory, from `openssl speed` (reported in 1000s of bytes per second). */
async function cpuLimitMiBs(): Promise<number> {
  const run = await measure("openssl", ["speed", "-seconds", "2", "-evp", "sha256", "-bytes", String(MiB)]);
  const line = run.stdout.split("\n").find((text) => text.startsWith("sha256"));
  const kilobytes = Number(line?.trim().split(/\s+/).pop()?.replace(/k$/, ""));
  if (!Number.isFinite(kilobytes)) throw new Error(`cannot read openssl speed output: ${run.stdout}`);
  return (kilobytes * 1000) / MiB;
}

/** Scenario 7: SHA-256 throughput of fedsync's file hashing vs sha256sum, and against the CPU's limit. */
export async function hashing(ctx: BenchContext): Promise<ScenarioResult> {
  const { hashMiB: sizeMiB, hashReps: reps } = ctx.sizes;
  const file = join(ctx.work, "hash.bin");
  ctx.log(`hashing: writing ${sizeMiB} MiB`);
  writeBigFile(file, sizeMiB * MiB);
  const hashModule = join(dirname(ctx.cli), "scan/hash.js");
  const ours: number[] = [];
  const sha256sum: number[] = [];
  // Warm the page cache, so every tool reads from memory.
  await measure("cat", [file]).catch(() => undefined);
  for (let rep = 0; rep < reps; rep++) {
    ctx.log(`hashing: run ${rep + 1} of ${reps}`);
    const node = await measure(process.execPath, [
      "--input-type=module",
      "-e",
      HASH_SCRIPT,
      hashModule,
      file,
    ]);
    const result = JSON.parse(node.stdout) as { digest: string; seconds: number };
    ours.push(sizeMiB / result.seconds);
    const coreutils = await measure("sha256sum", [file]);
    sha256sum.push(sizeMiB / coreutils.seconds);
    if (coreutils.stdout.split(" ")[0] !== result.digest) throw new Error("sha256sum and fedsync disagree");
  }
  await removeTree(file);
  const limit = await cpuLimitMiBs();
  const mine = summarize(ours);
  const theirs = summarize(sha256sum);
  const ratio = mine.median / theirs.median;
  return {
    rows: [
      {
        scenario: `7. SHA-256 of a ${sizeMiB >= 1024 ? `${sizeMiB / 1024} GiB` : `${sizeMiB} MiB`} file`,
        metric: "MiB/s",
        fedsync: formatSummary(mine, "MiB/s"),
        reference: `sha256sum: ${formatSummary(theirs, "MiB/s")}`,
        ratio: formatRatio(ratio),
        target: "≥ 1.0x",
        verdict: verdict(ratio >= 1),
      },
    ],
    notes: [
      `Hashing: the file is read from the page cache. The CPU's limit, \`openssl speed -evp sha256\` on 1 MiB blocks in memory, is ${formatNumber(limit)} MiB/s; fedsync reaches ${Math.round((mine.median / limit) * 100)}% of it, reading the file included.`,
    ],
  };
}
