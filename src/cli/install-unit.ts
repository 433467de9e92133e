import { renderPathsDropIn } from "../agent/unit.js";
import { EXIT_OK } from "./exit.js";
import { loadConfigOrExit, type GlobalOptions } from "./load-config.js";

/**
 * `fedsync install-unit`: prints the systemd drop-in that makes the configured set roots writable under the
 * unit's ProtectSystem=strict. Redirect it into /etc/systemd/system/fedsync.service.d/10-paths.conf.
 */
export function installUnitCommand(options: GlobalOptions): number {
  process.stdout.write(renderPathsDropIn(loadConfigOrExit(options)));
  return EXIT_OK;
}
