import { lstat } from "node:fs/promises";
import { createMinioDatastore } from "../datastore/index.js";
import { DatastoreError } from "../datastore/errors.js";
import { chooseVersion, restoreVersion, RestoreError } from "../reconcile/restore.js";
import { parseTimeSpec, TIME_SPEC_HELP } from "../history/time.js";
import type { FileTarget } from "../history/target.js";
import { RefusedError } from "../reconcile/localfs.js";
import { sha256File } from "../scan/hash.js";
import { CliExit, EXIT_FAILURE, EXIT_OK, EXIT_USAGE } from "./exit.js";
import { formatBytes } from "../log/units.js";
import { targetOrExit, versionsOrExit } from "./history.js";
import { loadConfigOrExit, type GlobalOptions } from "./load-config.js";

export interface RestoreOptions extends GlobalOptions {
  versionId?: string;
  at?: string;
  to?: string;
}

/** SHA-256 of the local file, or null when there is no regular file there. */
async function currentSha256(target: FileTarget): Promise<string | null> {
  try {
    if (!(await lstat(target.path)).isFile()) return null;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw error;
  }
  return sha256File(target.path);
}

/**
 * `fedsync restore PATH [--version-id ID | --at TIME] [--to FILE]`: writes a known version of a file back, in
 * place (a local change that the agent then publishes) or to a new file.
 */
export async function restoreCommand(path: string, options: RestoreOptions): Promise<number> {
  const config = loadConfigOrExit(options);
  let at: number | undefined;
  if (options.at !== undefined) {
    at = parseTimeSpec(options.at);
    if (at === undefined) throw new CliExit(EXIT_USAGE, `--at: expected ${TIME_SPEC_HELP}`);
  }
  const target = targetOrExit(config, path);
  const name = `${target.set.name}:${target.key}`;
  const datastore = createMinioDatastore(config.datastore);
  const { versions } = await versionsOrExit(config, datastore, target);
  try {
    const version = chooseVersion(versions, { id: options.versionId, at }, await currentSha256(target), name);
    const restored = await restoreVersion({ config, datastore }, target, version, options.to);
    const origin = version.origin ? ` by ${version.origin}` : "";
    process.stdout.write(
      `restored ${name} version ${version.id} (${new Date(version.time).toISOString()}${origin}, ` +
        `${formatBytes(version.size)}) to ${restored.path}\n`,
    );
    if (options.to === undefined) {
      if (restored.droppedTombstone) {
        process.stdout.write("removed the deletion mark, so the other machines get the file back\n");
      }
      process.stdout.write("it syncs like any local change on the agent's next pass (or `fedsync sync`)\n");
    }
    return EXIT_OK;
  } catch (error) {
    if (error instanceof RestoreError || error instanceof RefusedError) {
      throw new CliExit(EXIT_FAILURE, error.message);
    }
    if (error instanceof DatastoreError) throw new CliExit(EXIT_FAILURE, error.message);
    throw error;
  }
}
