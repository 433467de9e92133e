// Preloaded with `node --import`: appends the URL of every module the process loads to $IMPORT_TRACE_FILE.
import { register } from "node:module";

register("./import-trace-hooks.mjs", import.meta.url);
