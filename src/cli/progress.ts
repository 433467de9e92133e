import { Writable } from "node:stream";

/** Redraws at most this often, so a fast pass does not spend its time on the terminal. */
const REDRAW_MS = 100;

const CLEAR_LINE = "\r\x1b[K";

/**
 * A progress line at the bottom of a terminal, redrawn in place. Log lines written to `logStream` appear
 * above it: the line is cleared, the log line written, the line drawn again.
 */
export class ProgressLine {
  private text = "";
  private shown = false;
  private lastDraw = 0;
  private pending?: NodeJS.Timeout;

  readonly logStream: Writable;

  constructor(private readonly terminal: NodeJS.WriteStream) {
    this.logStream = new Writable({
      write: (chunk: Buffer, _encoding, callback) => {
        this.terminal.write((this.shown ? CLEAR_LINE : "") + chunk.toString("utf8"));
        this.shown = false;
        this.draw();
        callback();
      },
    });
  }

  /** A progress line on stderr when it is a terminal (and not a dumb one), otherwise none. */
  static onStderr(): ProgressLine | undefined {
    if (!process.stderr.isTTY || process.env.TERM === "dumb") return undefined;
    return new ProgressLine(process.stderr);
  }

  update(text: string): void {
    this.text = text;
    const wait = this.lastDraw + REDRAW_MS - Date.now();
    if (wait <= 0) this.draw();
    else this.pending ??= setTimeout(() => this.draw(), wait).unref();
  }

  /** Removes the line, leaving the terminal as if it had never been there. */
  clear(): void {
    clearTimeout(this.pending);
    this.pending = undefined;
    this.text = "";
    if (this.shown) this.terminal.write(CLEAR_LINE);
    this.shown = false;
  }

  private draw(): void {
    clearTimeout(this.pending);
    this.pending = undefined;
    if (this.text === "") return;
    // A line longer than the terminal would wrap, and \r would then redraw only its last row.
    const width = Math.max(10, (this.terminal.columns || 80) - 1);
    const line = this.text.length > width ? `${this.text.slice(0, width - 1)}…` : this.text;
    this.terminal.write(CLEAR_LINE + line);
    this.shown = true;
    this.lastDraw = Date.now();
  }
}
