import { readFileSync } from "node:fs";
import { LineCounter, parseDocument } from "yaml";
import { ConfigError, toConfigIssues } from "./errors.js";
import { describeFsError } from "./files.js";
import { baseMessages, configSchema } from "./schema.js";
import { keysAt } from "./suggest.js";
import type { Config } from "./types.js";

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
  const schema = configSchema(env);
  const result = schema.safeParse(parseYaml(text, source), { error: baseMessages });
  if (!result.success) {
    const issues = toConfigIssues(result.error.issues, source, (path) => keysAt(schema, path));
    throw new ConfigError(issues, source);
  }
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
