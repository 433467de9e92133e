// Module hooks (they run on the loader thread) for import-trace.mjs.
import { appendFileSync } from "node:fs";

export async function load(url, context, nextLoad) {
  if (process.env.IMPORT_TRACE_FILE) appendFileSync(process.env.IMPORT_TRACE_FILE, `${url}\n`);
  return nextLoad(url, context);
}
