import { Journal } from "../journal/journal.js";
import type { HistoryRow } from "../journal/history.js";
import { pathFilter } from "../history/path-filter.js";
import { parseTimeSpec, TIME_SPEC_HELP } from "../history/time.js";
import { CliExit, EXIT_OK, EXIT_USAGE } from "./exit.js";
import { shortHash } from "../log/index.js";
import { formatBytes } from "../log/units.js";
import { loadConfigOrExit, type GlobalOptions } from "./load-config.js";

export interface LogOptions extends GlobalOptions {
  set?: string;
  path?: string;
  since?: string;
  machine?: string;
  /** At most this many rows; 0 for all. */
  limit: number;
  json?: boolean;
}

function line(row: HistoryRow): string {
  const parts = [
    new Date(row.at).toISOString(),
    row.set,
    row.action.padEnd(13),
    row.path || "-",
    `origin=${row.origin}`,
  ];
  if (row.size !== null) parts.push(`size=${formatBytes(row.size)}`);
  if (row.sha256) parts.push(`sha256=${shortHash(row.sha256)}`);
  if (row.detail) parts.push(row.action === "conflict" ? `copy=${row.detail}` : row.detail);
  if (row.trash) parts.push(`trash=${row.trash}`);
  return parts.join("  ");
}

function json(row: HistoryRow) {
  return { ...row, at: new Date(row.at).toISOString() };
}

/** `fedsync log`: the changes this machine applied or published, newest first. */
export function logCommand(options: LogOptions): number {
  const config = loadConfigOrExit(options);
  const { limit } = options;
  let since: number | undefined;
  if (options.since !== undefined) {
    since = parseTimeSpec(options.since);
    if (since === undefined) throw new CliExit(EXIT_USAGE, `--since: expected ${TIME_SPEC_HELP}`);
  }
  if (options.set !== undefined && !config.sets.some((set) => set.name === options.set)) {
    throw new CliExit(EXIT_USAGE, `no set named ${options.set} in ${config.source}`);
  }
  const filter = options.path === undefined ? undefined : pathFilter(options.path);
  const journal = Journal.open(config.stateDir, { readonly: true });
  try {
    const rows: HistoryRow[] = [];
    let more = false;
    const query = { set: options.set, origin: options.machine, since, pathPrefix: filter?.prefix };
    for (const row of journal.history(query)) {
      if (filter && !filter.matches(row.path)) continue;
      if (limit > 0 && rows.length === limit) {
        more = true;
        break;
      }
      rows.push(row);
    }
    if (options.json) {
      process.stdout.write(JSON.stringify(rows.map(json)) + "\n");
    } else {
      if (rows.length === 0) process.stdout.write("no changes recorded\n");
      for (const row of rows) process.stdout.write(line(row) + "\n");
      if (more) process.stderr.write(`(only the newest ${limit}; use --limit to see more)\n`);
    }
    return EXIT_OK;
  } finally {
    journal.close();
  }
}
