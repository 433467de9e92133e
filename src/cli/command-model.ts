import type { Argument, Command, Option } from "commander";

/** What a value on the command line completes to (see the conventions in commands.ts). */
export type ValueKind = "file" | "set" | "choice" | "text";

export interface ValueModel {
  /** The placeholder: `file` for `--config <file>`. */
  name: string;
  kind: ValueKind;
  choices: readonly string[];
}

export interface OptionModel {
  short?: string;
  long?: string;
  description: string;
  /** Undefined for a flag without a value. */
  value?: ValueModel;
  defaultValue?: unknown;
}

export interface ArgumentModel {
  description: string;
  required: boolean;
  value: ValueModel;
}

export interface CommandModel {
  name: string;
  description: string;
  /** `[options] <path>` */
  usage: string;
  options: OptionModel[];
  arguments: ArgumentModel[];
}

export interface ProgramModel {
  name: string;
  description: string;
  version: string;
  /** Options accepted before or after any command. */
  globals: OptionModel[];
  commands: CommandModel[];
}

function valueModel(name: string, choices: readonly string[] | undefined, commands: string[]): ValueModel {
  if (choices?.length) return { name, kind: "choice", choices };
  if (name === "command") return { name, kind: "choice", choices: commands };
  if (name === "file" || name === "path") return { name, kind: "file", choices: [] };
  if (name === "set") return { name, kind: "set", choices: [] };
  return { name, kind: "text", choices: [] };
}

function optionModel(option: Option, commands: string[]): OptionModel {
  const placeholder = /[<[](\S+?)[>\]]/.exec(option.flags)?.[1];
  return {
    short: option.short,
    long: option.long,
    description: option.description,
    value: placeholder === undefined ? undefined : valueModel(placeholder, option.argChoices, commands),
    defaultValue: option.defaultValue,
  };
}

function argumentModel(argument: Argument, commands: string[]): ArgumentModel {
  return {
    description: argument.description,
    required: argument.required,
    value: valueModel(argument.name(), argument.argChoices, commands),
  };
}

/** The visible commands and options of a commander program, in the order its help lists them. */
export function describeProgram(program: Command): ProgramModel {
  const help = program.createHelp();
  const visible = help.visibleCommands(program);
  const names = visible.map((command) => command.name());
  return {
    name: program.name(),
    description: program.description(),
    version: program.version() ?? "",
    globals: help.visibleOptions(program).map((option) => optionModel(option, names)),
    commands: visible.map((command) => ({
      name: command.name(),
      description: command.description(),
      usage: command.usage(),
      options: help.visibleOptions(command).map((option) => optionModel(option, names)),
      arguments: command.registeredArguments.map((argument) => argumentModel(argument, names)),
    })),
  };
}
