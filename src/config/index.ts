export { ConfigError, type ConfigIssue } from "./errors.js";
export { formatDuration, parseDuration } from "./duration.js";
export { DEFAULT_CONFIG_PATH, loadConfig, parseConfigText, resolveConfigPath } from "./load.js";
export { SECRET_ENV } from "./schema.js";
export { HOOK_SHELL } from "./shell.js";
export type * from "./types.js";
