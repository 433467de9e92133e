import { Journal } from "../journal/journal.js";
import { EXIT_OK } from "./exit.js";
import { loadConfigOrExit, type GlobalOptions } from "./load-config.js";

/** `fedsync conflicts`: the conflict copies made on this machine, newest first. */
export function conflictsCommand(options: GlobalOptions & { json?: boolean; set?: string }): number {
  const config = loadConfigOrExit(options);
  const journal = Journal.open(config.stateDir, { readonly: true });
  try {
    const conflicts = journal.listConflicts(options.set).sort((a, b) => b.at - a.at);
    if (options.json) {
      process.stdout.write(
        JSON.stringify(conflicts.map((c) => ({ ...c, at: new Date(c.at).toISOString() }))) + "\n",
      );
    } else if (conflicts.length === 0) {
      process.stdout.write("no conflicts\n");
    } else {
      for (const c of conflicts) {
        process.stdout.write(
          `${new Date(c.at).toISOString()}  ${c.set}  ${c.path}  kept: ${c.winner}  copy: ${c.copyPath} (${c.loser})\n`,
        );
      }
    }
    return EXIT_OK;
  } finally {
    journal.close();
  }
}
