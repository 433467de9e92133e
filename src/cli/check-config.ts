import { ConfigError, loadConfig, resolveConfigPath } from "../config/index.js";
import { resolvedConfig } from "../config/resolved.js";
import { redactText, registerSecret } from "../log/redact.js";
import { EXIT_OK, EXIT_USAGE } from "./exit.js";
import { loadConfigOrExit, type GlobalOptions } from "./load-config.js";

export interface CheckConfigOptions extends GlobalOptions {
  json?: boolean;
}

/** `--json`: `{source, ok, problems: [{key, message}]}` or `{source, ok, config}`; exit 2 when invalid. */
function checkConfigJson(options: CheckConfigOptions): number {
  const source = resolveConfigPath(options.config);
  const print = (value: object) => process.stdout.write(redactText(JSON.stringify(value)) + "\n");
  try {
    const config = loadConfig(source);
    registerSecret(config.datastore.secretAccessKey);
    print({ source, ok: true, config: resolvedConfig(config) });
    return EXIT_OK;
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    print({ source, ok: false, problems: error.issues.map(({ path, message }) => ({ key: path, message })) });
    return EXIT_USAGE;
  }
}

/** `fedsync check-config`: validates the config, prints a summary; errors exit 2 with every problem. */
export function checkConfigCommand(options: CheckConfigOptions): number {
  if (options.json) return checkConfigJson(options);
  const config = loadConfigOrExit(options);
  process.stdout.write(`${config.source}: ok (machine ${config.machine}, ${config.sets.length} set(s))\n`);
  for (const set of config.sets) {
    process.stdout.write(
      `  ${set.name}: ${set.path} <-> s3://${config.datastore.bucket}/${set.prefix} (${set.method})\n`,
    );
  }
  return EXIT_OK;
}
