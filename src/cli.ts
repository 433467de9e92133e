#!/usr/bin/env node
import { main } from "./cli/program.js";

// Exit explicitly: a one-shot command is done once main returns, whatever idle sockets remain.
process.exit(await main(process.argv));
