import { readFileSync } from "node:fs";
import { parse } from "yaml";
import { SET_NAME } from "../config/names.js";
import { resolveConfigPath } from "../config/path.js";
import type { GlobalOptions } from "./load-config.js";
import { EXIT_FAILURE, EXIT_OK } from "./exit.js";

/**
 * The hidden command behind shell completion of `--set`: the set names of the config, one a line. It reads
 * only the YAML (no validation, no secret file), so it is quick and works for a user who cannot read the
 * secret; a config it cannot read completes nothing. Only valid set names are printed: the shells expand
 * completion words.
 */
export function completeSetsCommand(options: GlobalOptions): number {
  let document: unknown;
  try {
    document = parse(readFileSync(resolveConfigPath(options.config), "utf8"));
  } catch {
    return EXIT_FAILURE;
  }
  const sets = (document as { sets?: unknown } | null)?.sets;
  const names = Array.isArray(sets) ? sets.map((set) => (set as { name?: unknown } | null)?.name) : [];
  for (const name of names)
    if (typeof name === "string" && SET_NAME.test(name)) process.stdout.write(`${name}\n`);
  return EXIT_OK;
}
