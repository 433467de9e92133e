import { join } from "node:path";
import { expectObjects } from "../bucket.js";
import { verdict, type BenchContext, type ScenarioResult } from "../context.js";
import { FedsyncMachine, formatRequests } from "../fedsync.js";
import { formatRatio, formatSummary, summarize } from "../stats.js";
import { writeTreeFiles } from "../trees.js";

const FILE_SIZE = 4096;

/** Scenario 1: the first upload of many small files, fedsync sync vs rclone copy. */
export async function initialUpload(ctx: BenchContext): Promise<ScenarioResult> {
  const { uploadFiles: count, uploadReps: reps } = ctx.sizes;
  const root = join(ctx.work, "upload-tree");
  ctx.log(`initial upload: writing ${count} files of 4 KiB`);
  writeTreeFiles(root, count, FILE_SIZE);
  const fedsync: number[] = [];
  const rclone: number[] = [];
  const fedsyncRss: number[] = [];
  let fedsyncRequests = "";

  const runFedsync = async (rep: number) => {
    const bucket = await ctx.newBucket();
    const machine = new FedsyncMachine(ctx.cli, join(ctx.work, `upload-fedsync-${rep}`), ctx.minio, bucket, [
      { name: "up", path: root, method: "heavyweight" },
    ]);
    const run = await machine.sync();
    fedsync.push(count / run.seconds);
    fedsyncRss.push(run.peakRssMiB);
    fedsyncRequests = formatRequests(run.requests);
    if (rep === 0) await expectObjects(ctx.minio, bucket, "up/", count, "fedsync upload");
  };
  const runRclone = async (rep: number) => {
    const bucket = await ctx.newBucket();
    const target = `bench:${bucket}/up`;
    const run = await ctx.rclone.run(["copy", root, target, "--transfers", "16", "--checkers", "16"]);
    rclone.push(count / run.seconds);
    if (rep === 0) await expectObjects(ctx.minio, bucket, "up/", count, "rclone copy");
  };
  for (let rep = 0; rep < reps; rep++) {
    ctx.log(`initial upload: run ${rep + 1} of ${reps}`);
    // Alternate who goes first, so a slow spell of the machine does not always hit the same tool.
    if (rep % 2 === 0) {
      await runFedsync(rep);
      await runRclone(rep);
    } else {
      await runRclone(rep);
      await runFedsync(rep);
    }
  }
  const ours = summarize(fedsync);
  const theirs = summarize(rclone);
  const ratio = ours.median / theirs.median;
  return {
    rows: [
      {
        scenario: `1. initial upload, ${count.toLocaleString("en-US")} × 4 KiB`,
        metric: "files/s",
        fedsync: formatSummary(ours, "files/s"),
        reference: `rclone copy --transfers 16 --checkers 16: ${formatSummary(theirs, "files/s")}`,
        ratio: formatRatio(ratio),
        target: "≥ 1.0x",
        verdict: verdict(ratio >= 1),
      },
    ],
    notes: [
      `Initial upload: fedsync peak RSS ${formatSummary(summarize(fedsyncRss), "MiB")}; requests per run: ${fedsyncRequests}.`,
    ],
  };
}
