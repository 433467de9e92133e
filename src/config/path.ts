import { resolve } from "node:path";

export const DEFAULT_CONFIG_PATH = "/etc/fedsync/fedsync.yaml";

/** The config file to read: `--config`, else FEDSYNC_CONFIG, else /etc/fedsync/fedsync.yaml. */
export function resolveConfigPath(cliPath?: string, env: NodeJS.ProcessEnv = process.env): string {
  return resolve(cliPath || env.FEDSYNC_CONFIG || DEFAULT_CONFIG_PATH);
}
