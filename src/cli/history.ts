import { createMinioDatastore } from "../datastore/index.js";
import { DatastoreError } from "../datastore/errors.js";
import type { BucketVersioning, Datastore } from "../datastore/types.js";
import { resolveTarget, TargetError, type FileTarget } from "../history/target.js";
import { fileVersions, type FileVersion, type FileVersions } from "../history/versions.js";
import { Journal } from "../journal/journal.js";
import type { Config } from "../config/types.js";
import { CliExit, EXIT_FAILURE, EXIT_OK, EXIT_USAGE } from "./exit.js";
import { shortHash } from "../log/index.js";
import { formatBytes } from "../log/units.js";
import { loadConfigOrExit, type GlobalOptions } from "./load-config.js";

export interface HistoryOptions extends GlobalOptions {
  json?: boolean;
}

/** The named file of a set, or exit 2 when it is outside every set root. */
export function targetOrExit(config: Config, path: string): FileTarget {
  try {
    return resolveTarget(config, path);
  } catch (error) {
    if (error instanceof TargetError) throw new CliExit(EXIT_USAGE, error.message);
    throw error;
  }
}

/** The versions of a file, with this machine's journal for trash origins when it can be read. */
export async function versionsOrExit(
  config: Config,
  datastore: Datastore,
  target: FileTarget,
): Promise<FileVersions> {
  let journal: Journal | undefined;
  try {
    journal = Journal.open(config.stateDir, { readonly: true });
  } catch {
    // No journal yet, or one the agent has not upgraded: trash copies then show no origin.
  }
  try {
    return await fileVersions({ config, datastore, journal }, target);
  } catch (error) {
    if (error instanceof DatastoreError) throw new CliExit(EXIT_FAILURE, error.message);
    throw error;
  } finally {
    journal?.close();
  }
}

const VERSIONING_NOTE: Record<BucketVersioning, string> = {
  enabled: "bucket versioning is on: every version published is kept",
  suspended: "bucket versioning is suspended: versions kept while it was on are listed",
  off: "bucket versioning is off: the bucket keeps only the current version",
};

function row(version: FileVersion): string[] {
  const what = version.deleted ? "deleted" : version.source;
  const state = version.current ? "current" : "";
  return [
    new Date(version.time).toISOString(),
    what,
    version.id ?? "-",
    version.origin ?? "unknown",
    version.deleted ? "-" : formatBytes(version.size),
    version.sha256 === null ? "-" : shortHash(version.sha256),
    state,
  ];
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((cells) => cells[column]!.length)));
  return rows
    .map((cells) =>
      cells
        .map((cell, column) => cell.padEnd(widths[column]!))
        .join("  ")
        .trimEnd(),
    )
    .join("\n");
}

function json(target: FileTarget, result: FileVersions) {
  return {
    set: target.set.name,
    path: target.key,
    versioning: result.versioning,
    versions: result.versions.map((version) => ({
      id: version.id,
      source: version.source,
      deleted: version.deleted,
      time: new Date(version.time).toISOString(),
      origin: version.origin,
      size: version.size,
      sha256: version.sha256,
      current: version.current,
      trashedAt: version.trashedAt === undefined ? undefined : new Date(version.trashedAt).toISOString(),
    })),
  };
}

/** `fedsync history PATH`: the known versions of one file, newest first. */
export async function historyCommand(path: string, options: HistoryOptions): Promise<number> {
  const config = loadConfigOrExit(options);
  const target = targetOrExit(config, path);
  const datastore = createMinioDatastore(config.datastore);
  const result = await versionsOrExit(config, datastore, target);
  if (options.json) {
    process.stdout.write(JSON.stringify(json(target, result)) + "\n");
    return EXIT_OK;
  }
  const out: string[] = [`${target.set.name}:${target.key} (${VERSIONING_NOTE[result.versioning]})`];
  if (result.versions.length === 0) out.push("no versions known");
  else {
    const header = ["TIME", "SOURCE", "VERSION", "ORIGIN", "SIZE", "SHA256", ""];
    out.push(table([header, ...result.versions.map(row)]));
  }
  if (result.versioning === "off" && !target.set.keepDeleted) {
    out.push(
      "older versions are not kept: turn on bucket versioning or keep_deleted (see docs/operations.md)",
    );
  }
  process.stdout.write(out.join("\n") + "\n");
  return EXIT_OK;
}
