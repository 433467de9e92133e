import { join } from "node:path";
import { verdict, type BenchContext, type ScenarioResult } from "../context.js";
import { FedsyncMachine, formatRequests } from "../fedsync.js";
import { removeTree } from "../process.js";
import { formatNumber } from "../stats.js";
import { writeTreeFiles } from "../trees.js";

const FILE_SIZE = 100;
const RSS_LIMIT_MiB = 300;

/** Scenario 6: one set of a million small files: first pass, unchanged pass, peak RSS, journal size. */
export async function scale(ctx: BenchContext): Promise<ScenarioResult> {
  const files = ctx.sizes.scaleFiles;
  const root = join(ctx.work, "scale-tree");
  ctx.log(`scale: writing ${files} files of ${FILE_SIZE} bytes`);
  writeTreeFiles(root, files, FILE_SIZE);
  const bucket = await ctx.newBucket();
  const machine = new FedsyncMachine(ctx.cli, join(ctx.work, "scale-fedsync"), ctx.minio, bucket, [
    { name: "scale", path: root, method: "heavyweight" },
  ]);
  ctx.log("scale: first pass");
  const first = await machine.sync();
  ctx.log("scale: unchanged passes");
  // The first pass after the upload lists with metadata, to learn each new object's Last-Modified.
  const learning = await machine.sync();
  const unchanged = await machine.sync();
  const listing = await machine.sync("--full-listing");
  const journalMiB = machine.journalBytes() / 1024 / 1024;
  await removeTree(root);
  const peak = Math.max(first.peakRssMiB, learning.peakRssMiB, unchanged.peakRssMiB, listing.peakRssMiB);
  const label = `6. scale, ${files.toLocaleString("en-US")} files of ${FILE_SIZE} B`;
  return {
    rows: [
      {
        scenario: label,
        metric: "first pass; unchanged pass; unchanged pass listing the bucket",
        fedsync: `${formatNumber(first.seconds)} s (${formatNumber(files / first.seconds)} files/s); ${formatNumber(unchanged.seconds)} s; ${formatNumber(listing.seconds)} s`,
        reference: "",
        ratio: "",
        target: "",
        verdict: "",
      },
      {
        scenario: label,
        metric: "peak RSS; journal on disk",
        fedsync: `first ${formatNumber(first.peakRssMiB)} MiB, second ${formatNumber(learning.peakRssMiB)} MiB, unchanged ${formatNumber(unchanged.peakRssMiB)} MiB, listing ${formatNumber(listing.peakRssMiB)} MiB; journal ${formatNumber(journalMiB)} MiB`,
        reference: "",
        ratio: "",
        target: `RSS < ${RSS_LIMIT_MiB} MiB`,
        verdict: verdict(peak < RSS_LIMIT_MiB),
      },
    ],
    notes: [
      `Scale: the second pass took ${formatNumber(learning.seconds)} s; the unchanged pass made ${formatRequests(unchanged.requests)}, the one listing the bucket ${formatRequests(listing.requests)}.`,
    ],
  };
}
