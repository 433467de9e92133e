import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { expectObjects } from "../bucket.js";
import { verdict, type BenchContext, type ScenarioResult } from "../context.js";
import { FedsyncMachine } from "../fedsync.js";
import { removeTree } from "../process.js";
import { formatNumber, formatRatio, formatSummary, summarize } from "../stats.js";
import { writeBigFile } from "../trees.js";

const MiB = 1024 * 1024;
/** RSS counts as flat in file size when the big file costs at most this much more than one a quarter its size. */
const FLAT_MARGIN_MiB = 32;

/** Scenario 2: one big file, fedsync sync vs rclone copy: throughput, and fedsync's peak RSS against file size. */
export async function bigFile(ctx: BenchContext): Promise<ScenarioResult> {
  const { bigFileMiB: sizeMiB, bigReps: reps } = ctx.sizes;
  const bytes = sizeMiB * MiB;
  const root = join(ctx.work, "big-tree");
  mkdirSync(root, { recursive: true });
  ctx.log(`big file: writing ${sizeMiB} MiB`);
  writeBigFile(join(root, "big.bin"), bytes);
  const fedsync: number[] = [];
  const rclone: number[] = [];
  const fedsyncRss: number[] = [];
  const rcloneRss: number[] = [];

  const fedsyncRun = async (tree: string, name: string) => {
    const bucket = await ctx.newBucket();
    const machine = new FedsyncMachine(ctx.cli, join(ctx.work, name), ctx.minio, bucket, [
      { name: "big", path: tree, method: "heavyweight" },
    ]);
    const run = await machine.sync();
    await expectObjects(ctx.minio, bucket, "big/", 1, "fedsync big upload");
    await ctx.minio.client.removeObject(bucket, "big/big.bin");
    return run;
  };
  const runRclone = async () => {
    const bucket = await ctx.newBucket();
    const run = await ctx.rclone.run(["copy", root, `bench:${bucket}/big`]);
    await expectObjects(ctx.minio, bucket, "big/", 1, "rclone big upload");
    await ctx.minio.client.removeObject(bucket, "big/big.bin");
    rclone.push(bytes / MiB / run.seconds);
    rcloneRss.push(run.peakRssMiB);
  };
  for (let rep = 0; rep < reps; rep++) {
    ctx.log(`big file: run ${rep + 1} of ${reps}`);
    const runFedsync = async () => {
      const run = await fedsyncRun(root, `big-fedsync-${rep}`);
      fedsync.push(bytes / MiB / run.seconds);
      fedsyncRss.push(run.peakRssMiB);
    };
    if (rep % 2 === 0) {
      await runFedsync();
      await runRclone();
    } else {
      await runRclone();
      await runFedsync();
    }
  }

  // The same upload of a file a quarter the size (still above the part size): peak RSS should not follow the file size.
  const smallRoot = join(ctx.work, "big-tree-small");
  mkdirSync(smallRoot, { recursive: true });
  writeBigFile(join(smallRoot, "big.bin"), bytes / 4);
  const small = await fedsyncRun(smallRoot, "big-fedsync-small");
  await removeTree(smallRoot);
  await removeTree(root);

  const ours = summarize(fedsync);
  const theirs = summarize(rclone);
  const ratio = ours.median / theirs.median;
  const rss = summarize(fedsyncRss);
  const flat = rss.max - small.peakRssMiB <= FLAT_MARGIN_MiB;
  const label = `2. one ${sizeMiB >= 1024 ? `${sizeMiB / 1024} GiB` : `${sizeMiB} MiB`} file`;
  return {
    rows: [
      {
        scenario: label,
        metric: "MB/s (MiB/s)",
        fedsync: formatSummary(ours, "MiB/s"),
        reference: `rclone copy: ${formatSummary(theirs, "MiB/s")}`,
        ratio: formatRatio(ratio),
        target: "≥ 0.9x",
        verdict: verdict(ratio >= 0.9),
      },
      {
        scenario: label,
        metric: "peak RSS",
        fedsync: `${formatSummary(rss, "MiB")}; ${formatNumber(small.peakRssMiB)} MiB for a file of ${sizeMiB / 4} MiB`,
        reference: `rclone copy: ${formatSummary(summarize(rcloneRss), "MiB")}`,
        ratio: "",
        target: `flat in file size (≤ ${FLAT_MARGIN_MiB} MiB more for 4x the size), no more than rclone copy`,
        verdict: verdict(flat && rss.max <= summarize(rcloneRss).max),
      },
    ],
    notes: [],
  };
}
