import type { HistoryAction } from "../journal/history.js";
import type { Journal } from "../journal/journal.js";
import type { LogFields, Logger, LogLevel } from "../log/index.js";

/** One change applied or published by this machine. */
export interface AuditEntry {
  path: string;
  action: HistoryAction;
  /** The machine whose change it was. */
  origin: string;
  sha256?: string | null;
  size?: number | null;
  detail?: string;
  /** Where the replaced or deleted local version was kept. */
  trash?: string;
}

const MESSAGES: Record<HistoryAction, string> = {
  upload: "uploaded",
  download: "downloaded",
  "delete-local": "deleted locally",
  "delete-remote": "deleted remotely",
  conflict: "conflict",
  "guard-trip": "deletion guard tripped",
};

export interface AuditOptions {
  /**
   * Default debug: a pass with changes logs one summary at info instead, and `fedsync log` lists every row.
   * A conflict is a warning and a guard trip an error, one line each.
   */
  level?: LogLevel;
  /** Replaces the default message (the action in words) and the detail field, which it then tells. */
  message?: string;
  /** More fields for the log line. */
  fields?: LogFields;
}

/**
 * The audit trail of one set: each change becomes one log line (set, path, action, origin, sha256, size) and
 * one row of the journal's `history` table.
 */
export class AuditTrail {
  constructor(
    private readonly journal: Journal,
    private readonly logger: Logger,
    private readonly set: string,
    private readonly now: () => number,
    /** Told every entry once it is recorded. */
    private readonly onRecord?: (entry: AuditEntry) => void,
  ) {}

  record(entry: AuditEntry, options: AuditOptions = {}): void {
    const sha256 = entry.sha256 ?? null;
    const size = entry.size ?? null;
    this.logger[options.level ?? "debug"](options.message ?? MESSAGES[entry.action], {
      set: this.set,
      path: entry.path || undefined,
      action: entry.action,
      origin: entry.origin,
      sha256: sha256 ?? undefined,
      size: size ?? undefined,
      detail: options.message === undefined ? entry.detail : undefined,
      trash: entry.trash,
      ...options.fields,
    });
    this.journal.addHistory({
      at: this.now(),
      set: this.set,
      path: entry.path,
      action: entry.action,
      origin: entry.origin,
      sha256,
      size,
      detail: entry.detail ?? null,
      trash: entry.trash ?? null,
    });
    this.onRecord?.(entry);
  }
}
