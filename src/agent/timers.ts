import { jittered } from "./jitter.js";

/** One-shot and repeating timers that all stop at once and never fire after `stop()`. */
export class Timers {
  private stopped = false;
  private readonly armed = new Set<NodeJS.Timeout>();

  after(delayMs: number, fn: () => void): void {
    const timer = setTimeout(() => {
      this.armed.delete(timer);
      if (!this.stopped) fn();
    }, delayMs);
    this.armed.add(timer);
  }

  /** Calls `fn` every `intervalMs` ±10 %, so a fleet's timers do not fire in step. */
  every(intervalMs: number, fn: () => void): void {
    this.after(jittered(intervalMs), () => {
      fn();
      this.every(intervalMs, fn);
    });
  }

  stop(): void {
    this.stopped = true;
    for (const timer of this.armed) clearTimeout(timer);
    this.armed.clear();
  }
}
