import { readFileSync } from "node:fs";
import { join } from "node:path";

/** The package version, read from package.json (one directory above both src/ and dist/). */
export const FEDSYNC_VERSION: string = (
  JSON.parse(readFileSync(join(import.meta.dirname, "..", "package.json"), "utf8")) as { version: string }
).version;
