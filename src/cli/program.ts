import { CommanderError } from "commander";
import { journalDamageHint } from "../journal/errors.js";
import { defineProgram } from "./commands.js";
import { CliExit, EXIT_FAILURE, EXIT_OK, EXIT_USAGE } from "./exit.js";

/** Parses argv, runs the command and returns the exit code; never throws. */
export async function main(argv: string[]): Promise<number> {
  let code = EXIT_OK;
  const program = defineProgram((c) => (code = c));
  try {
    await program.parseAsync(argv);
    return code;
  } catch (error) {
    if (error instanceof CommanderError) {
      return error.exitCode === 0 ? EXIT_OK : EXIT_USAGE;
    }
    if (error instanceof CliExit) {
      process.stderr.write(`fedsync: ${error.message}\n`);
      return error.code;
    }
    const damage = journalDamageHint(error);
    const message = error instanceof Error ? error.message : String(error);
    process.stderr.write(`fedsync: ${message}${damage ? `; ${damage}` : ""}\n`);
    return EXIT_FAILURE;
  }
}
