import type { CommandModel, OptionModel, ProgramModel } from "./command-model.js";

/** Text for a roff line: backslashes escaped, and no line may start with a control character. */
function roff(text: string): string {
  const escaped = text.replace(/\\/g, "\\e").replace(/-/g, "\\-");
  return /^[.']/.test(escaped) ? `\\&${escaped}` : escaped;
}

function optionTerm(option: OptionModel): string {
  const flags = [option.short, option.long]
    .filter((flag): flag is string => flag !== undefined)
    .map((flag) => `\\fB${roff(flag)}\\fR`)
    .join(", ");
  return option.value ? `${flags} \\fI${roff(option.value.name)}\\fR` : flags;
}

function sentence(text: string): string {
  return `${text.charAt(0).toUpperCase()}${text.slice(1)}.`;
}

function optionDescription(option: OptionModel): string {
  const choices = option.value?.kind === "choice" ? `; one of: ${option.value.choices.join(", ")}` : "";
  const fallback = option.defaultValue === undefined ? "" : ` (default ${String(option.defaultValue)})`;
  return roff(sentence(`${option.description}${choices}${fallback}`));
}

function options(list: OptionModel[]): string[] {
  return list.flatMap((option) => [".TP", optionTerm(option), optionDescription(option)]);
}

function command(program: ProgramModel, model: CommandModel): string[] {
  const own = model.options.filter((option) => option.long !== "--help");
  return [
    `.SS "${roff(`${program.name} ${model.name} ${model.usage}`)}"`,
    roff(sentence(model.description)),
    ...model.arguments.flatMap((argument) => [
      ".TP",
      `\\fI${roff(argument.value.name)}\\fR`,
      roff(
        sentence(
          `${argument.description || argument.value.name}` +
            (argument.value.kind === "choice" ? `: one of ${argument.value.choices.join(", ")}` : ""),
        ),
      ),
    ]),
    ...options(own),
  ];
}

const EXIT_STATUS = [
  ["0", "Success."],
  ["1", "A failure: a set failed, the datastore is unreachable, a guard tripped."],
  ["2", "A usage or configuration error; the message names the option or the config key path."],
  [
    "130, 143",
    "fedsync sync stopped by SIGINT (Ctrl\\-C) or SIGTERM, after its transfers in flight finished.",
  ],
];

/** The man page fedsync(1), in roff (man macros), from the same definitions as the help and the completion. */
export function renderManPage(program: ProgramModel): string {
  const name = program.name;
  const commands = program.commands.filter((model) => model.name !== "help");
  return [
    `.TH ${name.toUpperCase()} 1 "" "${name} ${program.version}" "User Commands"`,
    ".SH NAME",
    `${name} \\- ${roff(program.description.replace(/\.$/, "").replace(/^./, (c) => c.toLowerCase()))}`,
    ".SH SYNOPSIS",
    `.B ${name}`,
    "[\\fIglobal options\\fR] \\fIcommand\\fR [\\fIoptions\\fR] [\\fIarguments\\fR]",
    ".SH DESCRIPTION",
    roff(
      `${program.description} One agent per machine (${name} run, under systemd) keeps every configured ` +
        "set in step; the other commands inspect it, run one pass, and bring old versions back.",
    ),
    ".SH GLOBAL OPTIONS",
    "Accepted before or after the command.",
    ...options(program.globals),
    ".SH COMMANDS",
    ...commands.flatMap((model) => command(program, model)),
    ".SH EXIT STATUS",
    ...EXIT_STATUS.flatMap(([code, meaning]) => [".TP", `\\fB${code}\\fR`, meaning!]),
    ".SH ENVIRONMENT",
    ".TP",
    "\\fBFEDSYNC_CONFIG\\fR",
    "The config file, when \\fB\\-\\-config\\fR is not given.",
    ".TP",
    "\\fBFEDSYNC_SECRET_ACCESS_KEY\\fR",
    "The secret key, when the config sets no \\fBdatastore.secret_access_key_file\\fR.",
    ".SH FILES",
    ".TP",
    "\\fI/etc/fedsync/fedsync.yaml\\fR",
    "The default config file.",
    ".TP",
    "\\fI/var/lib/fedsync\\fR",
    "The default state directory: the journal, the trash and the agent's status file.",
    ".SH SEE ALSO",
    ".BR systemctl (1),",
    ".BR journalctl (1).",
    `The documentation shipped with ${name}: README.md and docs/ (configuration, operations, install).`,
    "",
  ].join("\n");
}
