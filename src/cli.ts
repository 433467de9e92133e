#!/usr/bin/env node
import { FEDSYNC_VERSION } from "./version.js";

const args = process.argv.slice(2);
if (args.length === 1 && (args[0] === "--version" || args[0] === "-V")) {
  // Answered before the command line's modules load: scripts and monitoring call this often.
  process.stdout.write(`${FEDSYNC_VERSION}\n`);
} else {
  const { main } = await import("./cli/program.js");
  // Exit explicitly: a one-shot command is done once main returns, whatever idle sockets remain.
  process.exitCode = await main(process.argv);
}
process.exit();
