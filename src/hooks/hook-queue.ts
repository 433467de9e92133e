import { PathBatch } from "./batch.js";

/** A batch waits at most this many debounce periods after its first change. */
const MAX_WAIT_DEBOUNCES = 10;

/**
 * When one hook runs: once the passes that changed paths have been quiet for `debounceMs` (a burst of passes
 * is one run, waiting at most ten debounce periods), never two runs at once, and a run requested while one
 * is running is queued once, with every path collected meanwhile.
 */
export class HookQueue {
  private batch = new PathBatch();
  /** Paths were added since the last pass ended. */
  private dirty = false;
  private firstChangeAt?: number;
  private timer?: NodeJS.Timeout;
  private running?: Promise<void>;
  private queued = false;
  private stopped = false;

  constructor(
    private readonly debounceMs: number,
    private readonly run: (batch: PathBatch) => Promise<void>,
  ) {}

  add(path: string): void {
    this.batch.add(path);
    this.dirty = true;
  }

  /** A pass ended: when it added paths, the quiet period starts again. */
  passEnded(): void {
    if (!this.dirty || this.stopped) return;
    this.dirty = false;
    const now = Date.now();
    this.firstChangeAt ??= now;
    const latest = this.firstChangeAt + this.debounceMs * MAX_WAIT_DEBOUNCES;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.request(), Math.max(0, Math.min(this.debounceMs, latest - now)));
  }

  private request() {
    this.timer = undefined;
    if (this.running) this.queued = true;
    else this.start();
  }

  private start() {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.queued = false;
    this.firstChangeAt = undefined;
    const batch = this.batch;
    this.batch = new PathBatch();
    this.dirty = false;
    this.running = this.run(batch).finally(() => {
      this.running = undefined;
      if (this.queued && !this.stopped) this.start();
    });
  }

  /** No more debouncing: the paths collected so far run now (the change happened), then this returns. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    while (this.running || this.batch.count > 0) {
      if (!this.running) this.start();
      await this.running;
    }
  }
}
