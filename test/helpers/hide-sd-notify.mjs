// Preloaded with `node --import` to make the optional sd-notify binding unavailable, the way it is when the
// package or its native build is missing: `require("sd-notify")` fails with MODULE_NOT_FOUND.
import Module from "node:module";

const load = Module._load;
Module._load = function (request, ...rest) {
  if (request === "sd-notify") {
    throw Object.assign(new Error("Cannot find module 'sd-notify'"), { code: "MODULE_NOT_FOUND" });
  }
  return load.call(this, request, ...rest);
};
