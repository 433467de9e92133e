import { Command, CommanderError, Option } from "commander";
import { FEDSYNC_VERSION } from "../version.js";
import { checkConfigCommand } from "./check-config.js";
import { conflictsCommand } from "./conflicts.js";
import { CliExit, EXIT_FAILURE, EXIT_OK, EXIT_USAGE } from "./exit.js";
import { statusCommand } from "./status.js";
import { syncCommand } from "./sync.js";
import type { GlobalOptions } from "./runtime.js";

function buildProgram(done: (code: number) => void): Command {
  const program = new Command("fedsync")
    .description("Keeps directories identical across a federation of Linux machines through one S3 bucket.")
    .version(FEDSYNC_VERSION, "-V, --version")
    .option("-c, --config <path>", "config file (default: $FEDSYNC_CONFIG or /etc/fedsync/fedsync.yaml)")
    .exitOverride()
    .showHelpAfterError();
  const globals = () => program.opts<GlobalOptions>();

  program
    .command("run")
    .description("run the agent: every set, on its schedule or its file events, until stopped")
    .action(async () => {
      const { runCommand } = await import("../agent/run.js");
      done(await runCommand(globals()));
    });
  program
    .command("sync")
    .description("run one pass over every set (or one), then exit")
    .option("-s, --set <name>", "only this set")
    .option("-n, --dry-run", "print the plan, change nothing")
    .option("--allow-mass-delete", "let this pass delete past the deletion guard")
    .action(async (options: { set?: string; dryRun?: boolean; allowMassDelete?: boolean }) => {
      done(await syncCommand({ ...globals(), ...options }));
    });
  program
    .command("status")
    .description(
      "per set: state, last pass, pending changes, errors, conflicts; and the federation's machines",
    )
    .option("--json", "machine-readable output")
    .action(async (options: { json?: boolean }) => done(await statusCommand({ ...globals(), ...options })));
  program
    .command("conflicts")
    .description("list the conflict copies made on this machine")
    .option("--json", "machine-readable output")
    .addOption(new Option("-s, --set <name>", "only this set"))
    .action((options: { json?: boolean; set?: string }) =>
      done(conflictsCommand({ ...globals(), ...options })),
    );
  program
    .command("check-config")
    .description("validate the config and exit (2 when it is invalid)")
    .action(() => done(checkConfigCommand(globals())));
  return program;
}

/** Parses argv, runs the command and returns the exit code; never throws. */
export async function main(argv: string[]): Promise<number> {
  let code = EXIT_OK;
  const program = buildProgram((c) => (code = c));
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
    process.stderr.write(`fedsync: ${error instanceof Error ? error.message : String(error)}\n`);
    return EXIT_FAILURE;
  }
}
