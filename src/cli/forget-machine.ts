import { formatDuration, MACHINE_NAME } from "../config/index.js";
import { createMinioDatastore } from "../datastore/index.js";
import { readHeartbeat, type StoredHeartbeat } from "../reconcile/heartbeat.js";
import { recordedSets } from "../reconcile/housekeeping.js";
import { CliExit, EXIT_FAILURE, EXIT_OK, EXIT_USAGE } from "./exit.js";
import { formatAgo, plural } from "./format.js";
import { loadConfigOrExit, type GlobalOptions } from "./load-config.js";

/**
 * `fedsync forget-machine NAME`: removes a retired machine's heartbeats from the bucket, so `fedsync status`
 * stops listing it. Refused for this machine, and for one whose latest heartbeat is within `offline_after`.
 */
export async function forgetMachineCommand(name: string, options: GlobalOptions): Promise<number> {
  const config = loadConfigOrExit(options);
  if (!MACHINE_NAME.test(name)) throw new CliExit(EXIT_USAGE, `"${name}" is not a machine name`);
  if (name === config.machine) {
    throw new CliExit(
      EXIT_USAGE,
      `${name} is this machine (machine: in ${config.source}); it cannot forget itself`,
    );
  }
  const datastore = createMinioDatastore(config.datastore);
  const sets = new Set([...config.sets.map((set) => set.name), ...(await recordedSets(datastore))]);
  const found: { set: string; heartbeat: StoredHeartbeat }[] = [];
  for (const set of [...sets].sort()) {
    const heartbeat = await readHeartbeat(datastore, set, name);
    if (heartbeat) found.push({ set, heartbeat });
  }
  if (found.length === 0) {
    throw new CliExit(EXIT_USAGE, `no machine named ${name} in the federation (no heartbeat in any set)`);
  }
  const lastSeen = Math.max(...found.map(({ heartbeat: h }) => Math.max(h.lastGoodPass, h.writtenAt)));
  const offlineAfter = formatDuration(config.offlineAfterMs);
  if (Date.now() - lastSeen <= config.offlineAfterMs) {
    process.stderr.write(
      `fedsync: ${name} was last seen ${formatAgo(lastSeen)}, within offline_after (${offlineAfter}): ` +
        `it may still be running; stop its agent and try again once it has been offline longer than that\n`,
    );
    return EXIT_FAILURE;
  }
  await datastore.delete(found.map(({ heartbeat }) => heartbeat.key));
  const setNames = found.map(({ set }) => set).join(", ");
  process.stdout.write(
    `forgot ${name} (last seen ${formatAgo(lastSeen)}): removed its heartbeat from ${plural(found.length, "set")} (${setNames})\n`,
  );
  return EXIT_OK;
}
