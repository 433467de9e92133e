import { PassRun } from "./pass/context.js";
import { Evaluation } from "./pass/evaluate.js";
import { execute } from "./pass/execute.js";
import { finishPass } from "./pass/finish.js";
import { joinSources } from "./pass/join.js";
import { openPass } from "./pass/open.js";
import { PassRecorder } from "./pass/record.js";
import type { PassDeps, PassOptions, PassResult } from "./pass/types.js";

export type { PassScope } from "./sources.js";
export { GUARD_MIN_DELETIONS, type RecentDeletions } from "./guards.js";
export {
  describeProgress,
  type PassDeps,
  type PassOptions,
  type PassProblems,
  type PassProgress,
  type PassResult,
  type PlannedAction,
} from "./pass/types.js";

/**
 * One reconcile pass over a set (DESIGN §5), or over part of it, in steps (pass/): the checks before it,
 * the merge-join of the local scan, the journal and the bucket, each key evaluated (hashed when its stat
 * changed, planned) and executed with bounded concurrency, then the guards, the deletions, the change log,
 * housekeeping and the heartbeat.
 */
export async function runPass(deps: PassDeps, options: PassOptions = {}): Promise<PassResult> {
  const run = new PassRun(deps, options);
  const opened = await openPass(run);
  if ("stopped" in opened) return opened.stopped;
  const record = new PassRecorder(run);
  const sources = await joinSources(run, opened, record);
  const executed = await execute(run, sources, new Evaluation(run), record);
  record.learn();
  await sources.settle();
  return finishPass(run, opened, sources, executed, record);
}
