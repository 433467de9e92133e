/** Build step (`npm run build`): writes the man page generated from the command definitions to argv[2]. */
import { writeFileSync } from "node:fs";
import { describeProgram } from "./command-model.js";
import { defineProgram } from "./commands.js";
import { renderManPage } from "./manpage.js";

const target = process.argv[2];
if (!target) throw new Error("usage: write-manpage.js <file>");
writeFileSync(target, renderManPage(describeProgram(defineProgram())));
