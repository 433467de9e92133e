import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describeProgram, type OptionModel } from "../../src/cli/command-model.js";
import { defineProgram } from "../../src/cli/commands.js";
import { bashScript, zshScript } from "../../src/cli/completion.js";
import { renderManPage } from "../../src/cli/manpage.js";
import { progressText } from "../../src/cli/sync.js";
import { emptyCounts } from "../../src/reconcile/counts.js";

const program = describeProgram(defineProgram());
const commands = program.commands.map((command) => command.name);
const longFlags = (options: OptionModel[]) => options.flatMap((option) => option.long ?? []);

function checkSyntax(shell: string, script: string): { status: number | null; stderr: string } {
  const dir = mkdtempSync(join(tmpdir(), "fedsync-completion-"));
  try {
    const file = join(dir, "script");
    writeFileSync(file, script);
    const result = spawnSync(shell, ["-n", file], { encoding: "utf8" });
    assert.ifError(result.error);
    return { status: result.status, stderr: result.stderr };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test("the program lists every command once, the hidden completion helper excepted", () => {
  assert.deepEqual(commands, [
    "run",
    "sync",
    "status",
    "conflicts",
    "log",
    "history",
    "restore",
    "check-config",
    "install-unit",
    "rebuild-journal",
    "doctor",
    "forget-machine",
    "completion",
    "help",
  ]);
  assert.deepEqual(longFlags(program.globals), ["--version", "--config", "--help"]);
});

test("a short option means the same long option in every command, and -n means --dry-run", () => {
  const meaning = new Map<string, Set<string>>();
  for (const options of [program.globals, ...program.commands.map((command) => command.options)]) {
    for (const option of options) {
      if (option.short === undefined) continue;
      const longs = meaning.get(option.short) ?? new Set<string>();
      longs.add(option.long ?? option.short);
      meaning.set(option.short, longs);
    }
  }
  for (const [short, longs] of meaning)
    assert.equal(longs.size, 1, `${short} means ${[...longs].join(" and ")}`);
  assert.deepEqual([...meaning.get("-n")!], ["--dry-run"]);
});

test("no command option shadows a global option, so globals work after the command", () => {
  const globals = new Set(program.globals.flatMap((option) => [option.short, option.long]));
  globals.delete("-h");
  globals.delete("--help");
  for (const command of program.commands) {
    for (const option of command.options) {
      for (const flag of [option.short, option.long]) {
        assert.ok(
          flag === undefined || !globals.has(flag),
          `${command.name} ${flag} clashes with a global option`,
        );
      }
    }
  }
  const restore = program.commands.find((command) => command.name === "restore")!;
  assert.ok(longFlags(restore.options).includes("--version-id"));
});

test("the bash completion script is valid bash and offers every command and option", () => {
  const script = bashScript(program);
  const { status, stderr } = checkSyntax("bash", script);
  assert.equal(status, 0, stderr);
  for (const command of program.commands) {
    assert.match(script, new RegExp(`^    ${command.name}\\)$`, "m"), `no case for ${command.name}`);
    for (const flag of longFlags(command.options))
      assert.ok(script.includes(flag), `${command.name} ${flag}`);
  }
  assert.ok(script.includes(`'${commands.join(" ")}'`));
});

test("the zsh completion script is valid zsh and describes every command and option", () => {
  const script = zshScript(program);
  const { status, stderr } = checkSyntax("zsh", script);
  assert.equal(status, 0, stderr);
  assert.match(script, /^#compdef fedsync$/m);
  for (const command of program.commands) {
    assert.ok(script.includes(`'${command.name}:`), `command list lacks ${command.name}`);
    assert.match(script, new RegExp(`^        ${command.name}\\)$`, "m"), `no case for ${command.name}`);
    for (const option of command.options) {
      assert.ok(script.includes(option.long!), `${command.name} ${option.long}`);
    }
  }
  assert.ok(script.includes("{-s,--set}'[only this set]:set:_fedsync_sets'"));
  assert.match(script, /\{-c,--config\}'\[config file [^\]]*\]:file:_files'/);
  assert.match(script, /'1:shell:\(bash zsh\)'/);
});

test("the man page renders without warnings and documents every command and option", () => {
  const dir = mkdtempSync(join(tmpdir(), "fedsync-man-"));
  try {
    const file = join(dir, "fedsync.1");
    writeFileSync(file, renderManPage(program));
    const warnings = spawnSync("groff", ["-man", "-Tascii", "-ww", "-z", file], { encoding: "utf8" });
    assert.ifError(warnings.error);
    assert.equal(warnings.stderr, "");
    const rendered = spawnSync("groff", ["-man", "-Tascii", "-P-cbou", file], { encoding: "utf8" });
    // Lines are filled and hyphenated: compare the text with the line breaks and hyphenations taken out.
    const text = rendered.stdout.replace(/-\n\s*/g, "").replace(/\s+/g, " ");
    for (const heading of ["NAME", "SYNOPSIS", "GLOBAL OPTIONS", "COMMANDS", "EXIT STATUS", "ENVIRONMENT"]) {
      assert.ok(text.includes(heading), heading);
    }
    for (const command of program.commands.filter((c) => c.name !== "help")) {
      assert.ok(text.includes(`fedsync ${command.name} `), `command ${command.name}`);
      for (const flag of longFlags(command.options))
        assert.ok(text.includes(flag), `${command.name} ${flag}`);
    }
    assert.ok(text.includes("--limit count At most this many, 0 for all (default 200)."));
    assert.ok(text.includes("shell The shell: one of bash, zsh."));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("the progress line counts files and bytes and gives the rate", () => {
  const counts = {
    ...emptyCounts(),
    uploaded: 3,
    downloaded: 1,
    bytesUp: 3 * 1024 * 1024,
    bytesDown: 1024 * 1024,
  };
  assert.equal(
    progressText("web", { checked: 12000, counts }, 2000),
    "web: 12000 checked, 3 up, 1 down, 4.0 MiB moved, 2.0 MiB/s",
  );
  assert.equal(
    progressText("web", { checked: 0, counts: emptyCounts() }, 0),
    "web: 0 checked, 0 up, 0 down, 0 B moved",
  );
});
