/** The shell's convention: 128 + the signal's number. */
const SIGNAL_EXIT_CODES = { SIGINT: 130, SIGTERM: 143 } as const;

type StopSignal = keyof typeof SIGNAL_EXIT_CODES;

/** Longest wait for the work in flight after the first signal, as the agent allows on SIGTERM. */
export const STOP_GRACE_MS = 20_000;

export interface InterruptHandlers {
  /** The first signal: the work is asked to stop (see `signal`). */
  stopping(signal: StopSignal): void;
  /** A second signal, or the grace period over: the process must end now with `exitCode`. */
  force(signal: StopSignal, exitCode: number): void;
}

/**
 * Ctrl-C and SIGTERM for a one-shot command: the first one aborts `signal`, so no new work starts and what is
 * in flight finishes; a second one, or STOP_GRACE_MS without an end, calls `force`.
 */
export class Interrupt {
  private readonly controller = new AbortController();
  private received?: StopSignal;
  private timer?: NodeJS.Timeout;
  private readonly listeners: [StopSignal, () => void][];

  constructor(
    private readonly handlers: InterruptHandlers,
    graceMs = STOP_GRACE_MS,
  ) {
    this.listeners = (Object.keys(SIGNAL_EXIT_CODES) as StopSignal[]).map((name) => [
      name,
      () => {
        if (this.received !== undefined) {
          this.handlers.force(this.received, SIGNAL_EXIT_CODES[this.received]);
          return;
        }
        this.received = name;
        this.controller.abort();
        this.handlers.stopping(name);
        this.timer = setTimeout(() => this.handlers.force(name, SIGNAL_EXIT_CODES[name]), graceMs).unref();
      },
    ]);
    for (const [name, listener] of this.listeners) process.on(name, listener);
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /** 130 after SIGINT, 143 after SIGTERM; undefined when no signal came. */
  get exitCode(): number | undefined {
    return this.received === undefined ? undefined : SIGNAL_EXIT_CODES[this.received];
  }

  /** Gives the signals back to their default action. */
  dispose(): void {
    clearTimeout(this.timer);
    for (const [name, listener] of this.listeners) process.off(name, listener);
  }
}
