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
  // The first pass after the upload: no other writer, so it need not list either.
  const settling = await machine.sync();

  const target = `bench:${bucket}/tree`;
  const { fedsync, rclone } = await alternate(ctx, machine, root, target, reps, "unchanged pass");
  // The same tree and bucket, listed every time (as every full_listing_interval, or --full-listing).
  const listed = await alternate(ctx, machine, root, target, reps, "listing pass", ["--full-listing"]);
  const counted = await ctx.rclone.run(["check", root, target], { countRequests: true });
  const ours = summarize(fedsync.map((run) => run.seconds));
  const theirs = summarize(rclone);
  const ratio = theirs.median / ours.median;
  const requests = fedsync[0]!.totalRequests;
  const listPages = Math.ceil((files * 1.001) / PAGE);
  const noPerFile = fedsync.every((run) => run.totalRequests <= 3);
  const listing = summarize(listed.fedsync.map((run) => run.seconds));
  const listingRatio = summarize(listed.rclone).median / listing.median;
  const listingPerFile = listed.fedsync.every((run) => run.totalRequests <= listPages + 10);
  const rss = summarize([...fedsync, ...listed.fedsync].map((run) => run.peakRssMiB));
  const afterUpload = settling.seconds / ours.median;

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
  const small = await smallTree(ctx, reps);
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
      scenario: `3. unchanged pass, ${count(files)} files (no other writer: not listed)`,
      metric: "seconds",
      fedsync: formatSummary(ours, "s"),
      reference: `rclone check: ${formatSummary(theirs, "s")}`,
      ratio: formatRatio(ratio),
      target: "≥ 5x faster than rclone check",
      verdict: verdict(ratio >= 5),
    },
    {
      scenario: `3. unchanged pass, ${count(files)} files (no other writer: not listed)`,
      metric: "S3 requests",
      fedsync: count(requests),
      reference: `rclone check: ${count(counted.totalRequests ?? 0)}`,
      ratio: "",
      target: "the change-log check and the heartbeat only",
      verdict: verdict(noPerFile),
    },
    {
      scenario: `3. unchanged pass, ${count(files)} files, listing the bucket`,
      metric: "seconds; S3 requests",
      fedsync: `${formatSummary(listing, "s")}; ${count(listed.fedsync[0]!.totalRequests)} requests`,
      reference: `rclone check: ${formatSummary(summarize(listed.rclone), "s")}`,
      ratio: formatRatio(listingRatio),
      target: "faster than rclone, no per-file request",
      verdict: verdict(listingRatio > 1 && listingPerFile),
    },
    {
      scenario: `3. first pass after uploading ${count(files)} files`,
      metric: "seconds",
      fedsync: `${formatNumber(settling.seconds)} s`,
      reference: `steady state: ${formatNumber(ours.median)} s`,
      ratio: "",
      target: "as fast as the steady state (≤ 1.2x)",
      verdict: verdict(afterUpload <= 1.2),
    },
    {
      scenario: `3. unchanged pass, ${count(files)} files`,
      metric: "peak RSS",
      fedsync: formatSummary(rss, "MiB"),
      reference: "",
      ratio: "",
      target: "under 150 MiB",
      verdict: verdict(rss.max < 150),
    },
    {
      scenario: `3. one-shot fedsync sync, ${count(SMALL_FILES)} unchanged files`,
      metric: "seconds",
      fedsync: formatSummary(small.ours, "s"),
      reference: `rclone check: ${formatSummary(small.theirs, "s")}`,
      ratio: formatRatio(small.theirs.median / small.ours.median),
      target: "faster than rclone check (> 1.0x)",
      verdict: verdict(small.theirs.median / small.ours.median > 1),
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
      `Setup of scenario 3: fedsync's first pass uploaded ${count(files)} files in ${formatNumber(first.seconds)} s (${formatNumber(files / first.seconds)} files/s, peak RSS ${formatNumber(first.peakRssMiB)} MiB). The pass right after it took ${formatNumber(settling.seconds)} s with ${count(settling.totalRequests)} requests. A listing pass made ${formatRequests(listed.fedsync[0]!.requests)}.`,
      `1% changed: requests ${formatRequests(changedRequests)}; about ${formatNumber(perFileMs)} ms of extra pass time per changed file.`,
    ],
  };
}

/** fedsync sync and rclone check over the same tree, alternating which goes first. */
async function alternate(
  ctx: BenchContext,
  machine: FedsyncMachine,
  root: string,
  target: string,
  reps: number,
  label: string,
  args: string[] = [],
): Promise<{ fedsync: SyncRun[]; rclone: number[] }> {
  const fedsync: SyncRun[] = [];
  const rclone: number[] = [];
  const runRclone = async () => rclone.push((await ctx.rclone.run(["check", root, target])).seconds);
  for (let rep = 0; rep < reps; rep++) {
    ctx.log(`${label}: run ${rep + 1} of ${reps}`);
    if (rep % 2 === 0) {
      fedsync.push(await machine.sync(...args));
      await runRclone();
    } else {
      await runRclone();
      fedsync.push(await machine.sync(...args));
    }
  }
  return { fedsync, rclone };
}

const SMALL_FILES = 5000;

/** A small set synced once by hand (cron): `fedsync sync` against `rclone check` over 5,000 files. */
async function smallTree(ctx: BenchContext, reps: number) {
  const root = join(ctx.work, "small-tree");
  writeTreeFiles(root, SMALL_FILES, FILE_SIZE);
  const bucket = await ctx.newBucket();
  const machine = new FedsyncMachine(ctx.cli, join(ctx.work, "small-fedsync"), ctx.minio, bucket, [
    { name: "tree", path: root, method: "heavyweight" },
  ]);
  await machine.sync();
  await machine.sync();
  const runs = await alternate(ctx, machine, root, `bench:${bucket}/tree`, reps, "5,000 files");
  await removeTree(root);
  return {
    ours: summarize(runs.fedsync.map((run) => run.seconds)),
    theirs: summarize(runs.rclone),
  };
}
