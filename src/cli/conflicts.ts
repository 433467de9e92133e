import { Journal } from "../journal/journal.js";
import type { ConflictRow } from "../journal/types.js";
import { parseConflictCopy } from "../reconcile/conflict-name.js";
import { EXIT_OK } from "./exit.js";
import { loadConfigOrExit, type GlobalOptions } from "./load-config.js";

/** A conflict copy in this machine's tree, as the conflicts table or the copy's own name tells it. */
interface ConflictListing extends Omit<ConflictRow, "id"> {
  /** Made by this machine's pass, or synced from the machine that settled the conflict. */
  madeHere: boolean;
}

/**
 * `fedsync conflicts`: the conflict copies in this machine's trees, newest first: those its passes made, and
 * those made elsewhere that synced here (the machine whose version lost sees its copy too).
 */
export function conflictsCommand(options: GlobalOptions & { json?: boolean; set?: string }): number {
  const config = loadConfigOrExit(options);
  const journal = Journal.open(config.stateDir, { readonly: true });
  try {
    const made = journal.listConflicts(options.set);
    // Copies another machine made, synced here like any file: this machine's version may be the one copied.
    const known = new Set(made.map((c) => `${c.set}\0${c.copyPath}`));
    const synced = journal
      .conflictCopyFiles(options.set)
      .filter((file) => !known.has(`${file.set}\0${file.path}`))
      .flatMap((file) => {
        const parsed = parseConflictCopy(file.path);
        if (!parsed) return [];
        const conflict: ConflictListing = {
          set: file.set,
          path: parsed.original,
          copyPath: file.path,
          winner: "another machine",
          loser: parsed.machine,
          at: file.syncedAt,
          madeHere: false,
        };
        return [conflict];
      });
    const conflicts: ConflictListing[] = [
      ...made.map(({ id: _id, ...row }) => ({ ...row, madeHere: true })),
      ...synced,
    ].sort((a, b) => b.at - a.at);
    if (options.json) {
      process.stdout.write(
        JSON.stringify(conflicts.map((c) => ({ ...c, at: new Date(c.at).toISOString() }))) + "\n",
      );
    } else if (conflicts.length === 0) {
      process.stdout.write("no conflicts\n");
    } else {
      for (const c of conflicts) {
        const kept = c.madeHere ? `kept: ${c.winner}` : "made on another machine";
        process.stdout.write(
          `${new Date(c.at).toISOString()}  ${c.set}  ${c.path}  ${kept}  copy: ${c.copyPath} (${c.loser})\n`,
        );
      }
    }
    return EXIT_OK;
  } finally {
    journal.close();
  }
}
