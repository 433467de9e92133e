import { Command, CommanderError, Option } from "commander";
import { FEDSYNC_VERSION } from "../version.js";
import { journalDamageHint } from "../journal/errors.js";
import { checkConfigCommand } from "./check-config.js";
import { conflictsCommand } from "./conflicts.js";
import { CliExit, EXIT_FAILURE, EXIT_OK, EXIT_USAGE } from "./exit.js";
import { historyCommand } from "./history.js";
import { installUnitCommand } from "./install-unit.js";
import { DEFAULT_LOG_LIMIT, logCommand, type LogOptions } from "./log.js";
import { restoreCommand, type RestoreOptions } from "./restore.js";
import { statusCommand } from "./status.js";
import { syncCommand } from "./sync.js";
import type { GlobalOptions } from "./runtime.js";

function buildProgram(done: (code: number) => void): Command {
  const program = new Command("fedsync")
    .description("Keeps directories identical across a federation of Linux machines through one S3 bucket.")
    .version(FEDSYNC_VERSION, "-V, --version")
    .option("-c, --config <path>", "config file (default: $FEDSYNC_CONFIG or /etc/fedsync/fedsync.yaml)")
    .exitOverride()
    .showHelpAfterError()
    // Program options go before the command, so `restore --version ID` is not the program's --version.
    .enablePositionalOptions();
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
  program
    .command("install-unit")
    .description("print the systemd drop-in that makes the set roots writable (ReadWritePaths=)")
    .action(() => done(installUnitCommand(globals())));
  program
    .command("rebuild-journal")
    .description("replace a lost or damaged journal with one rebuilt from the trees and the bucket")
    .action(async () => {
      const { rebuildJournalCommand } = await import("./rebuild-journal.js");
      done(await rebuildJournalCommand(globals()));
    });
  program
    .command("doctor")
    .description("check the config, secret, datastore, clock, limits and journal; exit 1 if a check fails")
    .option("--json", "machine-readable output")
    .action(async (options: { json?: boolean }) => {
      const { doctorCommand } = await import("./doctor.js");
      done(await doctorCommand({ ...globals(), ...options }));
    });
  program
    .command("forget-machine")
    .argument("<name>", "the machine's name (machine: in its config)")
    .description("remove a retired machine's heartbeats, once it has been offline past offline_after")
    .action(async (name: string) => {
      const { forgetMachineCommand } = await import("./forget-machine.js");
      done(await forgetMachineCommand(name, globals()));
    });
  program
    .command("log")
    .description("the changes this machine applied or published, newest first")
    .option("-s, --set <name>", "only this set")
    .option("-p, --path <glob>", "only paths matching this glob, or this path and everything under it")
    .option("--since <time>", "only changes since then: a duration ago (2h, 7d) or a date and time")
    .option("-m, --machine <name>", "only changes that came from this machine")
    .option("-n, --limit <count>", `at most this many, 0 for all (default ${DEFAULT_LOG_LIMIT})`)
    .option("--json", "machine-readable output")
    .action((options: Omit<LogOptions, "config">) => done(logCommand({ ...globals(), ...options })));
  program
    .command("history")
    .argument("<path>", "a file inside a set root, or set:relative/path")
    .description("the known versions of one file: this machine's trash and the bucket's versions")
    .option("--json", "machine-readable output")
    .action(async (path: string, options: { json?: boolean }) =>
      done(await historyCommand(path, { ...globals(), ...options })),
    );
  program
    .command("restore")
    .argument("<path>", "a file inside a set root, or set:relative/path")
    .description(
      "bring back a version of a file (by default the newest that differs from the local one), in place or elsewhere",
    )
    .option("--version <id>", "this version (as `fedsync history` lists them)")
    .option("--at <time>", "the version current then: a duration ago (2h, 7d) or a date and time")
    .option("--to <file>", "write it to this new file instead of in place")
    .action(async (path: string, options: Omit<RestoreOptions, "config">) =>
      done(await restoreCommand(path, { ...globals(), ...options })),
    );
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
    const damage = journalDamageHint(error);
    const message = error instanceof Error ? error.message : String(error);
    process.stderr.write(`fedsync: ${message}${damage ? `; ${damage}` : ""}\n`);
    return EXIT_FAILURE;
  }
}
