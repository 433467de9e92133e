import type { core } from "zod";

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
}

/** `["sets", 1, "interval"]` -> `sets[1].interval`. */
export function keyPath(path: readonly PropertyKey[]): string {
  return path
    .map((key, index) =>
      typeof key === "number" ? `[${key}]` : index === 0 ? String(key) : `.${String(key)}`,
    )
    .join("");
}

/** Zod issues as config issues; an issue about the whole document is attributed to `source`. */
export function toConfigIssues(issues: readonly core.$ZodIssue[], source: string): ConfigIssue[] {
  return issues.flatMap((issue) =>
    issue.code === "unrecognized_keys"
      ? issue.keys.map((key) => ({ path: keyPath([...issue.path, key]), message: "unknown key" }))
      : [{ path: keyPath(issue.path) || source, message: issue.message }],
  );
}
