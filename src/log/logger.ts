import { fstatSync } from "node:fs";
import winston from "winston";
import {
  formatLine,
  LEVEL_SEVERITY,
  type Figures,
  type LogFields,
  type LogFormat,
  type LogLevel,
} from "./format.js";

export type { Figures, LogFields, LogFormat, LogLevel };

/** Each method logs one event: a message, fields, and figures written once (see Figures). */
export interface Logger {
  error(message: string, fields?: LogFields, figures?: Figures): void;
  warn(message: string, fields?: LogFields, figures?: Figures): void;
  info(message: string, fields?: LogFields, figures?: Figures): void;
  debug(message: string, fields?: LogFields, figures?: Figures): void;
  /** A logger that adds `fields` to every event (call-time fields win on a clash). */
  child(fields: LogFields): Logger;
}

export interface LoggerOptions {
  level?: LogLevel;
  format?: LogFormat;
  /** Where lines go; default stderr, so stdout stays free for command output. */
  stream?: NodeJS.WritableStream;
  /** `<N>` priority prefixes and no timestamps. Default: the stream is the one named by JOURNAL_STREAM. */
  journald?: boolean;
}

// winston and logform key their records by these registered symbols (triple-beam).
const MESSAGE = Symbol.for("message");
const FIELDS = Symbol("fedsync.fields");
const TIME = Symbol("fedsync.time");
const FIGURES = Symbol("fedsync.figures");

interface WinstonRecord {
  level: LogLevel;
  message: string;
  [FIELDS]: LogFields;
  [TIME]: Date;
  [FIGURES]?: Figures;
  [MESSAGE]?: string;
}

export function createLogger(options: LoggerOptions = {}): Logger {
  const level = options.level ?? "info";
  const stream = options.stream ?? process.stderr;
  const style = { format: options.format ?? "plain", journald: options.journald ?? isJournalStream(stream) };
  const render = winston.format((info) => {
    const record = info as unknown as WinstonRecord;
    record[MESSAGE] = formatLine(
      {
        time: record[TIME],
        level: record.level,
        message: record.message,
        fields: record[FIELDS],
        figures: record[FIGURES],
      },
      style,
    );
    return info;
  });
  const backend = winston.createLogger({
    levels: LEVEL_SEVERITY,
    level,
    format: render(),
    transports: [new winston.transports.Stream({ stream, eol: "\n" })],
    exitOnError: false,
  });
  const threshold = LEVEL_SEVERITY[level];

  const build = (bound: LogFields): Logger => {
    const emit = (eventLevel: LogLevel, message: string, fields?: LogFields, figures?: Figures) => {
      if (LEVEL_SEVERITY[eventLevel] > threshold) return;
      const record: WinstonRecord = {
        level: eventLevel,
        message,
        [FIELDS]: fields ? { ...bound, ...fields } : bound,
        [TIME]: new Date(),
        [FIGURES]: figures,
      };
      backend.log(record as unknown as winston.LogEntry);
    };
    return {
      error: (message, fields, figures) => emit("error", message, fields, figures),
      warn: (message, fields, figures) => emit("warn", message, fields, figures),
      info: (message, fields, figures) => emit("info", message, fields, figures),
      debug: (message, fields, figures) => emit("debug", message, fields, figures),
      child: (fields) => build({ ...bound, ...fields }),
    };
  };
  return build({});
}

/**
 * systemd sets JOURNAL_STREAM to `<device>:<inode>` of the journal connection it gave us on stdout/stderr.
 * As sd-daemon(3) advises, compare it with the stream's descriptor: a command whose output a user redirected
 * (e.g. `fedsync install-unit > file` run from a service shell) inherits the variable but not the journal.
 */
function isJournalStream(stream: NodeJS.WritableStream): boolean {
  const journal = process.env.JOURNAL_STREAM;
  if (!journal) return false;
  const { fd } = stream as { fd?: unknown };
  if (typeof fd !== "number") return true;
  try {
    const stat = fstatSync(fd, { bigint: true });
    return journal === `${stat.dev}:${stat.ino}`;
  } catch {
    return false;
  }
}

const loggedOnce = new Set<string>();

/** Logs an event the first time `key` is seen in this process; later calls with the same key are dropped. */
export function logOnce(
  logger: Logger,
  key: string,
  level: LogLevel,
  message: string,
  fields?: LogFields,
): void {
  if (loggedOnce.has(key)) return;
  loggedOnce.add(key);
  logger[level](message, fields);
}
