import { runPass, type PassResult } from "../reconcile/pass.js";
import type { Logger } from "../log/index.js";
import { formatBytes } from "./format.js";
import { CliExit, EXIT_FAILURE, EXIT_OK, EXIT_USAGE } from "./exit.js";
import { openRuntime, type GlobalOptions } from "./runtime.js";

export interface SyncOptions extends GlobalOptions {
  set?: string;
  dryRun?: boolean;
  allowMassDelete?: boolean;
}

/**
 * One line per pass: at info when it changed something, at error when something failed, at debug when it
 * changed nothing (the journal still records the pass). A guard trip was already logged by the pass itself.
 */
export function logPassSummary(logger: Logger, result: PassResult): void {
  if (result.guardTripped) return;
  const { counts } = result;
  const changed =
    counts.uploaded + counts.downloaded + counts.deletedLocal + counts.deletedRemote + counts.conflicts > 0;
  const text =
    `pass ${result.ok ? "complete" : "finished with errors"}: ${counts.uploaded} up, ${counts.downloaded} down, ` +
    `${counts.deletedLocal} deleted here, ${counts.deletedRemote} deleted remotely, ${counts.conflicts} conflicts, ` +
    `${counts.failed} failed, ${formatBytes(counts.bytesUp)} up, ${formatBytes(counts.bytesDown)} down, ` +
    `${(result.durationMs / 1000).toFixed(2)} s`;
  // The figures are in the text, each once; only what it leaves out goes into fields.
  logger[!result.ok ? "error" : changed ? "info" : "debug"](text, {
    set: result.set,
    skipped: counts.skipped || undefined,
    catchUp: result.catchUp || undefined,
  });
}

/** `fedsync sync`: one pass per set (or the named one), then exit; cron-compatible. */
export async function syncCommand(options: SyncOptions): Promise<number> {
  const runtime = await openRuntime(options);
  try {
    const sets = runtime.config.sets.filter((set) => !options.set || set.name === options.set);
    if (sets.length === 0)
      throw new CliExit(EXIT_USAGE, `no set named ${options.set} in ${runtime.config.source}`);
    let failed = false;
    for (const set of sets) {
      const result = await runPass(
        {
          config: runtime.config,
          set,
          journal: runtime.journal,
          datastore: runtime.datastore,
          logger: runtime.logger,
        },
        { dryRun: options.dryRun, allowMassDelete: options.allowMassDelete },
      );
      if (options.dryRun) {
        for (const step of result.planned) {
          process.stdout.write(
            `${set.name}\t${step.action}\t${step.key}${step.detail ? `\t${step.detail}` : ""}\n`,
          );
        }
        if (result.planned.length === 0) process.stdout.write(`${set.name}\tnothing to do\n`);
      } else {
        logPassSummary(runtime.logger.child({ set: set.name }), result);
      }
      if (!result.ok) failed = true;
    }
    return failed ? EXIT_FAILURE : EXIT_OK;
  } finally {
    runtime.close();
  }
}
