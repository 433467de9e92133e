import { pathToFileURL } from "node:url";
import { resolve } from "node:path";

/** Node arguments that make `require("sd-notify")` fail in the child as if the package were missing. */
export const hideSdNotify = [
  "--import",
  pathToFileURL(resolve(import.meta.dirname, "hide-sd-notify.mjs")).href,
];
