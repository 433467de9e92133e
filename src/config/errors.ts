import type { core } from "zod";
import { closest } from "./suggest.js";

/** One problem in a config file: `path` is the YAML key path (`sets[1].interval`), or the file for file-level problems. */
export interface ConfigIssue {
  path: string;
  message: string;
}

/** A config that cannot be used. The message lists every issue, one `<key path>: <problem>` per line. */
export class ConfigError extends Error {
  override readonly name = "ConfigError";

  constructor(
    readonly issues: ConfigIssue[],
    /** The file (or other source) the config came from. */
    readonly source: string,
  ) {
    super(issues.map((issue) => `${issue.path}: ${issue.message}`).join("\n"));
  }

  /** The issues on one line, for a log line: `sets[0].interval: ...; datastore.bucket: required`. */
  inline(): string {
    return this.issues.map((issue) => `${issue.path}: ${issue.message}`).join("; ");
  }
}

/** `["sets", 1, "interval"]` -> `sets[1].interval`. */
export function keyPath(path: readonly PropertyKey[]): string {
  return path
    .map((key, index) =>
      typeof key === "number" ? `[${key}]` : index === 0 ? String(key) : `.${String(key)}`,
    )
    .join("");
}

function unknownKey(key: string, known: readonly string[]): string {
  const meant = closest(key, known);
  return meant === undefined ? "unknown key" : `unknown key (did you mean ${meant}?)`;
}

/**
 * Zod issues as config issues; an issue about the whole document is attributed to `source`. `knownKeys`
 * gives the keys allowed where an unknown one was found, to suggest the one meant.
 */
export function toConfigIssues(
  issues: readonly core.$ZodIssue[],
  source: string,
  knownKeys: (path: readonly PropertyKey[]) => readonly string[] = () => [],
): ConfigIssue[] {
  return issues.flatMap((issue) =>
    issue.code === "unrecognized_keys"
      ? issue.keys.map((key) => ({
          path: keyPath([...issue.path, key]),
          message: unknownKey(key, knownKeys(issue.path)),
        }))
      : [{ path: keyPath(issue.path) || source, message: issue.message }],
  );
}
