import type { SetConfig } from "../config/types.js";
import { formatBytes } from "../log/units.js";
import { removeActiveTemps } from "../reconcile/temp-files.js";
import { describeProgress, runPass, type PassProgress, type PassResult } from "../reconcile/pass.js";
import { logPassSummary } from "../reconcile/summary.js";
import { CliExit, EXIT_FAILURE, EXIT_OK, EXIT_USAGE } from "./exit.js";
import { Interrupt } from "./interrupt.js";
import type { GlobalOptions } from "./load-config.js";
import { ProgressLine } from "./progress.js";
import { openRuntime, type Runtime } from "./runtime.js";

export interface SyncOptions extends GlobalOptions {
  set?: string;
  dryRun?: boolean;
  allowMassDelete?: boolean;
  acceptNewRoot?: boolean;
  fullListing?: boolean;
  json?: boolean;
}

/** `web: 12000 checked, 3 up, 0 down, 1.2 MiB moved, 4.1 MiB/s`. */
export function progressText(set: string, progress: PassProgress, elapsedMs: number): string {
  const moved = progress.counts.bytesUp + progress.counts.bytesDown;
  const rate = elapsedMs > 0 ? `, ${formatBytes(Math.round((moved * 1000) / elapsedMs))}/s` : "";
  return `${set}: ${describeProgress(progress)}, ${formatBytes(moved)} moved${rate}`;
}

function planLines(set: SetConfig, result: PassResult): string {
  if (result.planned.length === 0) return `${set.name}\tnothing to do\n`;
  return result.planned
    .map((step) => `${set.name}\t${step.action}\t${step.key}${step.detail ? `\t${step.detail}` : ""}\n`)
    .join("");
}

/** One set's outcome for `--json`: the plan of a dry run, or the figures of a pass. */
function jsonResult(result: PassResult, dryRun: boolean) {
  const common = { set: result.set, ok: result.ok, error: result.error, interrupted: result.interrupted };
  if (dryRun) {
    return {
      ...common,
      plan: result.planned.map((step) => ({ path: step.key, action: step.action, detail: step.detail })),
    };
  }
  return { ...common, bucket: result.bucket, counts: result.counts, durationMs: result.durationMs };
}

/**
 * Ctrl-C or SIGTERM: the pass starts no new work and stops once its transfers in flight are done. A second
 * signal (or the grace period) ends the process at once: the temp files of unfinished downloads are removed
 * first, and the journal is closed, so nothing partial is left behind.
 */
function interruptFor(runtime: Runtime, progress: ProgressLine | undefined): Interrupt {
  return new Interrupt({
    stopping(signal) {
      runtime.logger.warn(
        `${signal}: stopping once the transfers in flight are done; nothing more starts (again to stop at once)`,
      );
    },
    force(signal, exitCode) {
      progress?.clear();
      removeActiveTemps();
      try {
        runtime.close();
      } finally {
        process.stderr.write(`fedsync: ${signal}: stopped at once; unfinished downloads removed\n`);
        process.exit(exitCode);
      }
    },
  });
}

/** `fedsync sync`: one pass per set (or the named one), then exit; cron-compatible. */
export async function syncCommand(options: SyncOptions): Promise<number> {
  const progress = ProgressLine.onStderr();
  const runtime = await openRuntime(options, progress && { stream: progress.logStream, journald: false });
  const interrupt = interruptFor(runtime, progress);
  try {
    const sets = runtime.config.sets.filter((set) => !options.set || set.name === options.set);
    if (sets.length === 0)
      throw new CliExit(EXIT_USAGE, `no set named ${options.set} in ${runtime.config.source}`);
    let failed = false;
    const results: PassResult[] = [];
    for (const set of sets) {
      if (interrupt.signal.aborted) break;
      const started = Date.now();
      const result = await runPass(
        {
          config: runtime.config,
          set,
          journal: runtime.journal,
          datastore: runtime.datastore,
          logger: runtime.logger,
        },
        {
          dryRun: options.dryRun,
          allowMassDelete: options.allowMassDelete,
          acceptNewRoot: options.acceptNewRoot,
          fullListing: options.fullListing,
          signal: interrupt.signal,
          onProgress: progress && ((p) => progress.update(progressText(set.name, p, Date.now() - started))),
        },
      );
      progress?.clear();
      results.push(result);
      if (!options.dryRun) logPassSummary(runtime.logger.child({ set: set.name }), result);
      if (options.dryRun && !options.json) process.stdout.write(planLines(set, result));
      if (!result.ok) failed = true;
    }
    if (options.json) {
      const sets = results.map((result) => jsonResult(result, options.dryRun === true));
      process.stdout.write(JSON.stringify({ sets }) + "\n");
    }
    return interrupt.exitCode ?? (failed ? EXIT_FAILURE : EXIT_OK);
  } finally {
    progress?.clear();
    interrupt.dispose();
    runtime.close();
  }
}
