import { Argument, Command, InvalidArgumentError, Option } from "commander";
import { TIME_SPEC_HELP } from "../history/time.js";
import { FEDSYNC_VERSION } from "../version.js";

/**
 * Every `fedsync` command: its definition (name, arguments, options, help) and a loader for the module that
 * does the work. Only the module of the command being run is imported, so `fedsync --version` or a shell
 * completion loads none of the S3 client, the journal or the logger. The help, the shell completion
 * scripts and the man page are all generated from these definitions.
 *
 * A new command is one more entry here. Conventions the completion scripts rely on: a value named `<file>`
 * or an argument named `<path>` completes file names, a value named `<set>` completes the set names of the
 * config, and `.choices()` complete themselves.
 */

/** A command's work: its positional arguments, then its options merged with the global ones; the exit code. */
export type Handler = (...args: never[]) => number | Promise<number>;

export interface CommandEntry {
  /** Declares the command on `program` and returns it. */
  define(program: Command): Command;
  load(): Promise<Handler>;
}

const DEFAULT_LOG_LIMIT = 200;

export const SHELLS = ["bash", "zsh"] as const;

/** The hidden command the completion scripts run to list the config's set names. */
export const COMPLETE_SETS_COMMAND = "__complete-sets";

function wholeNumber(text: string): number {
  if (!/^\d+$/.test(text)) throw new InvalidArgumentError("expected a whole number");
  return Number(text);
}

const setOption = () => new Option("-s, --set <set>", "only this set");
const jsonOption = () => new Option("--json", "machine-readable output");

export const COMMANDS: CommandEntry[] = [
  {
    define: (program) =>
      program
        .command("run")
        .description("run the agent: every set, on its schedule or its file events, until stopped"),
    load: async () => (await import("./run.js")).runCommand,
  },
  {
    define: (program) =>
      program
        .command("sync")
        .description("run one pass over every set (or one), then exit")
        .addOption(setOption())
        .option("-n, --dry-run", "print the plan, change nothing")
        .option("--allow-mass-delete", "let this pass delete past the deletion guard")
        .option(
          "--accept-new-root",
          "take the set root as it is now after it became another directory (or a sub-mount went for good)",
        )
        .option(
          "--full-listing",
          "list the bucket even when the change log shows no other writer since the last listing",
        )
        .option("--json", "print the plan (with --dry-run) or each set's result as JSON")
        .addHelpText(
          "after",
          "\nCtrl-C or SIGTERM stops it cleanly: transfers in flight finish, nothing is deleted.",
        ),
    load: async () => (await import("./sync.js")).syncCommand,
  },
  {
    define: (program) =>
      program
        .command("status")
        .description(
          "per set: state, last pass, pending changes, errors, conflicts; and the federation's machines, each with its lag behind the newest change",
        )
        .addOption(jsonOption()),
    load: async () => (await import("./status.js")).statusCommand,
  },
  {
    define: (program) =>
      program
        .command("conflicts")
        .description("list the conflict copies made on this machine")
        .addOption(setOption())
        .addOption(jsonOption()),
    load: async () => (await import("./conflicts.js")).conflictsCommand,
  },
  {
    define: (program) =>
      program
        .command("log")
        .description("the changes this machine applied or published, newest first")
        .addOption(setOption())
        .option("-p, --path <glob>", "only paths matching this glob, or this path and everything under it")
        .option("--since <time>", `only changes since then: ${TIME_SPEC_HELP}`)
        .option("-m, --machine <name>", "only changes that came from this machine")
        .option("--limit <count>", "at most this many, 0 for all", wholeNumber, DEFAULT_LOG_LIMIT)
        .addOption(jsonOption()),
    load: async () => (await import("./log.js")).logCommand,
  },
  {
    define: (program) =>
      program
        .command("history")
        .description("the known versions of a file, newest first: bucket versions, trash copies, deletions")
        .argument("<path>", "a file inside a set root, or set:relative/path")
        .addOption(jsonOption()),
    load: async () => (await import("./history.js")).historyCommand,
  },
  {
    define: (program) =>
      program
        .command("restore")
        .description("write a version of a file back: in place (it then syncs like an edit) or to a new file")
        .argument("<path>", "a file inside a set root, or set:relative/path")
        .addOption(
          new Option("--version-id <id>", "this version (as `fedsync history` lists them)").conflicts("at"),
        )
        .option("--at <time>", `the version current then: ${TIME_SPEC_HELP}`)
        .option("--to <file>", "write it to this new file instead of in place"),
    load: async () => (await import("./restore.js")).restoreCommand,
  },
  {
    define: (program) =>
      program
        .command("check-config")
        .description("validate the config and exit (2 when it is invalid)")
        .option("--json", "the problems with their key paths, or the resolved config without secrets"),
    load: async () => (await import("./check-config.js")).checkConfigCommand,
  },
  {
    define: (program) =>
      program
        .command("install-unit")
        .description("print the systemd drop-in that makes the set roots writable (ReadWritePaths=)"),
    load: async () => (await import("./install-unit.js")).installUnitCommand,
  },
  {
    define: (program) =>
      program
        .command("rebuild-journal")
        .description("replace a lost or damaged journal with one rebuilt from the trees and the bucket"),
    load: async () => (await import("./rebuild-journal.js")).rebuildJournalCommand,
  },
  {
    define: (program) =>
      program
        .command("doctor")
        .description(
          "check the config, secret, datastore, clock, limits and journal; exit 1 if a check fails",
        )
        .addOption(jsonOption()),
    load: async () => (await import("./doctor.js")).doctorCommand,
  },
  {
    define: (program) =>
      program
        .command("forget-machine")
        .description("remove a retired machine's heartbeats, once it has been offline past offline_after")
        .addArgument(new Argument("<name>", "the machine's name (machine: in its config)")),
    load: async () => (await import("./forget-machine.js")).forgetMachineCommand,
  },
  {
    define: (program) =>
      program
        .command("completion")
        .description("print the shell completion script (bash or zsh)")
        .addArgument(new Argument("<shell>", "the shell").choices(SHELLS))
        .addHelpText(
          "after",
          "\nbash: fedsync completion bash > /etc/bash_completion.d/fedsync\n" +
            'zsh:  fedsync completion zsh > "${fpath[1]}/_fedsync"',
        ),
    load: async () => (await import("./completion.js")).completionCommand,
  },
  {
    define: (program) => program.command(COMPLETE_SETS_COMMAND, { hidden: true }),
    load: async () => (await import("./complete-sets.js")).completeSetsCommand,
  },
];

/**
 * The whole command line: global options (accepted before or after the command) and every command. `done`
 * receives a command's exit code; without it the program only describes itself (help, completion, man page).
 */
export function defineProgram(done?: (code: number) => void): Command {
  const program = new Command("fedsync")
    .description("Keeps directories identical across a federation of Linux machines through one S3 bucket.")
    .version(FEDSYNC_VERSION, "-V, --version", "print the version")
    .option("-c, --config <file>", "config file (default: $FEDSYNC_CONFIG, then /etc/fedsync/fedsync.yaml)")
    .helpOption("-h, --help", "print help")
    .configureHelp({ showGlobalOptions: true })
    .exitOverride()
    .showHelpAfterError("(add --help for usage)");
  for (const entry of COMMANDS) {
    const command = entry.define(program);
    command.action(async (...args: unknown[]) => {
      const handler = (await entry.load()) as unknown as (...args: unknown[]) => number | Promise<number>;
      // Commander passes the positional arguments, then the command's options, then the command itself.
      const self = args.at(-1) as Command;
      done?.(await handler(...args.slice(0, -2), self.optsWithGlobals()));
    });
  }
  return program;
}
