export { ConfigError, type ConfigIssue } from "./errors.js";
export { formatDuration, parseDuration } from "./duration.js";
export { loadConfig, parseConfigText } from "./load.js";
export { DEFAULT_CONFIG_PATH, resolveConfigPath } from "./path.js";
export { MACHINE_NAME } from "./names.js";
export { SECRET_ENV } from "./schema.js";
export { HOOK_SHELL } from "./shell.js";
export type * from "./types.js";
