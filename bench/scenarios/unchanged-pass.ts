import { join } from "node:path";
import { expectObjects } from "../bucket.js";
import { verdict, type BenchContext, type Row, type ScenarioResult } from "../context.js";
import { FedsyncMachine, formatRequests, type SyncRun } from "../fedsync.js";
import { removeTree } from "../process.js";
import { formatNumber, formatRatio, formatSummary, summarize } from "../stats.js";
import { rewriteTreeFiles, writeTreeFiles } from "../trees.js";

const FILE_SIZE = 4096;
const PAGE = 1000;

function count(n: number): string {
  return n.toLocaleString("en-US");
}

/**
 * Scenarios 3 and 4 on one tree: a heavyweight pass with nothing changed (fedsync sync vs rclone check), then
 * passes with 1% of the files rewritten.
 */
export async function unchangedPass(ctx: BenchContext): Promise<ScenarioResult> {
  const { unchangedFiles: files, unchangedReps: reps, changedReps } = ctx.sizes;
  const root = join(ctx.work, "unchanged-tree");
  ctx.log(`unchanged pass: writing ${files} files of 4 KiB`);
  writeTreeFiles(root, files, FILE_SIZE);
  const bucket = await ctx.newBucket();
  const machine = new FedsyncMachine(ctx.cli, join(ctx.work, "unchanged-fedsync"), ctx.minio, bucket, [
    { name: "tree", path: root, method: "heavyweight" },
  ]);
  ctx.log(`unchanged pass: first pass (uploads ${files} files)`);
  const first = await machine.sync();
  await expectObjects(ctx.minio, bucket, "tree/", files, "first pass");
  // The first pass after an upload lists with metadata, to learn each new object's Last-Modified.
  const settling = await machine.sync();

  const fedsync: SyncRun[] = [];
  const rclone: number[] = [];
  const target = `bench:${bucket}/tree`;
  const runRclone = async () => rclone.push((await ctx.rclone.run(["check", root, target])).seconds);
  for (let rep = 0; rep < reps; rep++) {
    ctx.log(`unchanged pass: run ${rep + 1} of ${reps}`);
    if (rep % 2 === 0) {
      fedsync.push(await machine.sync());
      await runRclone();
    } else {
      await runRclone();
      fedsync.push(await machine.sync());
    }
  }
  const counted = await ctx.rclone.run(["check", root, target], { countRequests: true });
  const ours = summarize(fedsync.map((run) => run.seconds));
  const theirs = summarize(rclone);
  const ratio = theirs.median / ours.median;
  const requests = fedsync[0]!.totalRequests;
  const listPages = Math.ceil((files * 1.001) / PAGE);
  const noPerFile = fedsync.every((run) => run.totalRequests <= listPages + 10);
  const rss = summarize(fedsync.map((run) => run.peakRssMiB));

  // Scenario 4: rewrite 1% of the files (different ones each time), then a pass.
  const changed = Math.max(1, Math.round(files / 100));
  const changedRuns: SyncRun[] = [];
  for (let rep = 0; rep < changedReps; rep++) {
    ctx.log(`1% changed: run ${rep + 1} of ${changedReps}`);
    const stride = Math.floor(files / changed);
    const indices = Array.from({ length: changed }, (_, i) => (i * stride + rep) % files);
    rewriteTreeFiles(root, indices, FILE_SIZE, rep + 1);
    const run = await machine.sync();
    if ((run.requests.PutObject ?? 0) < changed) {
      throw new Error(`1% changed: ${run.requests.PutObject ?? 0} uploads for ${changed} changed files`);
    }
    changedRuns.push(run);
  }
  await removeTree(root);
  const changedSeconds = summarize(changedRuns.map((run) => run.seconds));
  const changedRequests = changedRuns[0]!.requests;
  const perFileMs = ((changedSeconds.median - ours.median) / changed) * 1000;
  const scales = changedRuns.every(
    (run) =>
      run.totalRequests <= fedsync[0]!.totalRequests + changed + 5 &&
      !run.requests.HeadObject &&
      !run.requests.GetObject,
  );

  const rows: Row[] = [
    {
      scenario: `3. unchanged pass, ${count(files)} files`,
      metric: "seconds",
      fedsync: formatSummary(ours, "s"),
      reference: `rclone check: ${formatSummary(theirs, "s")}`,
      ratio: formatRatio(ratio),
      target: "faster than rclone (> 1.0x)",
      verdict: verdict(ratio > 1),
    },
    {
      scenario: `3. unchanged pass, ${count(files)} files`,
      metric: "S3 requests",
      fedsync: count(requests),
      reference: `rclone check: ${count(counted.totalRequests ?? 0)}`,
      ratio: "",
      target: "no per-file request",
      verdict: verdict(noPerFile),
    },
    {
      scenario: `4. 1% of ${count(files)} files changed (${count(changed)})`,
      metric: "seconds; S3 requests",
      fedsync: `${formatSummary(changedSeconds, "s")}; ${count(changedRuns[0]!.totalRequests)} requests`,
      reference: `unchanged pass: ${formatNumber(ours.median)} s, ${count(requests)} requests`,
      ratio: "",
      target: "requests and local reads scale with the changes",
      verdict: verdict(scales),
    },
  ];
  return {
    rows,
    notes: [
      `Unchanged pass: fedsync requests ${formatRequests(fedsync[0]!.requests)}; rclone check requests ${formatRequests(counted.requests ?? {})}. fedsync peak RSS ${formatSummary(rss, "MiB")}. rclone check reads and MD5-hashes every local file; fedsync skips files whose stat matches the journal.`,
      `Setup of scenario 3: fedsync's first pass uploaded ${count(files)} files in ${formatNumber(first.seconds)} s (${formatNumber(files / first.seconds)} files/s, peak RSS ${formatNumber(first.peakRssMiB)} MiB). The pass after it (not in the table) took ${formatNumber(settling.seconds)} s with ${count(settling.totalRequests)} requests: it lists the new objects with metadata once, to learn their Last-Modified.`,
      `1% changed: requests ${formatRequests(changedRequests)}; about ${formatNumber(perFileMs)} ms of extra pass time per changed file.`,
    ],
  };
}
