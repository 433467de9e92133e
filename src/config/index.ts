export { ConfigError, type ConfigIssue } from "./errors.js";
export { formatDuration, parseDuration } from "./duration.js";
export { DEFAULT_CONFIG_PATH, loadConfig, parseConfigText, resolveConfigPath } from "./load.js";
export { MACHINE_NAME, SECRET_ENV } from "./schema.js";
export type * from "./types.js";
