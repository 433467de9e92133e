import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { LineCounter, parseDocument } from "yaml";
import { ConfigError, toConfigIssues } from "./errors.js";
import { describeFsError } from "./files.js";
import { baseMessages, configSchema } from "./schema.js";
import type { Config } from "./types.js";

export const DEFAULT_CONFIG_PATH = "/etc/fedsync/fedsync.yaml";

/** The config file to read: `--config`, else FEDSYNC_CONFIG, else /etc/fedsync/fedsync.yaml. */
export function resolveConfigPath(cliPath?: string, env: NodeJS.ProcessEnv = process.env): string {
  return resolve(cliPath || env.FEDSYNC_CONFIG || DEFAULT_CONFIG_PATH);
}

/** Reads, validates and completes the config file; throws ConfigError listing every problem. */
export function loadConfig(path: string, env: NodeJS.ProcessEnv = process.env): Config {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    throw new ConfigError([{ path, message: `cannot read config file (${describeFsError(error)})` }], path);
  }
  return parseConfigText(text, path, env);
}

/** Validates config text; `source` names it in messages and becomes `Config.source`. */
export function parseConfigText(text: string, source: string, env: NodeJS.ProcessEnv = process.env): Config {
  const result = configSchema(env).safeParse(parseYaml(text, source), { error: baseMessages });
  if (!result.success) throw new ConfigError(toConfigIssues(result.error.issues, source), source);
  return { ...result.data, source };
}

function parseYaml(text: string, source: string): unknown {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false });
  if (doc.errors.length > 0) {
    const issues = doc.errors.map((error) => {
      const { line, col } = lineCounter.linePos(error.pos[0]);
      return { path: `${source}:${line}:${col}`, message: `YAML syntax error: ${error.message}` };
    });
    throw new ConfigError(issues, source);
  }
  try {
    // An empty file is an empty mapping, so the missing keys are named.
    return doc.toJS() ?? {};
  } catch (error) {
    throw new ConfigError([{ path: source, message: `YAML error: ${(error as Error).message}` }], source);
  }
}
