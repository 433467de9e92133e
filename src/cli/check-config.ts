import { EXIT_OK } from "./exit.js";
import { loadConfigOrExit, type GlobalOptions } from "./runtime.js";

/** `fedsync check-config`: validates the config, prints a summary; errors exit 2 with every problem. */
export function checkConfigCommand(options: GlobalOptions): number {
  const config = loadConfigOrExit(options);
  process.stdout.write(`${config.source}: ok (machine ${config.machine}, ${config.sets.length} set(s))\n`);
  for (const set of config.sets) {
    process.stdout.write(
      `  ${set.name}: ${set.path} <-> s3://${config.datastore.bucket}/${set.prefix} (${set.method})\n`,
    );
  }
  return EXIT_OK;
}
