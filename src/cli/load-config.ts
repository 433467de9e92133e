import { ConfigError, loadConfig, resolveConfigPath, type Config } from "../config/index.js";
import { registerSecret } from "../log/redact.js";
import { CliExit, EXIT_USAGE } from "./exit.js";

/** The options every command accepts, before or after its name. */
export interface GlobalOptions {
  config?: string;
}

/** Loads and validates the config; a bad one ends the command with exit 2 and every problem listed. */
export function loadConfigOrExit(options: GlobalOptions): Config {
  try {
    const config = loadConfig(resolveConfigPath(options.config));
    registerSecret(config.datastore.secretAccessKey);
    return config;
  } catch (error) {
    if (error instanceof ConfigError) throw new CliExit(EXIT_USAGE, error.message);
    throw error;
  }
}
