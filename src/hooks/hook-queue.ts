import { PathBatch } from "./batch.js";

/** A batch waits at most this many debounce periods after the first pass that changed paths. */
export const MAX_WAIT_DEBOUNCES = 30;

/**
 * When one hook runs: once the set has been quiet for `debounceMs` — no pass running and none ended in that
 * time — after passes that changed paths, so a burst of passes is one run; but at the latest
 * MAX_WAIT_DEBOUNCES debounce periods after the first of them, so a set that never rests still gets its runs.
 * Never two runs at once: a run due while one is running is queued once, with every path collected meanwhile.
 */
export class HookQueue {
  private batch = new PathBatch();
  /** Paths were added since the last pass ended. */
  private dirty = false;
  /** When the first pass that changed paths of the waiting batch ended. */
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

  /** A pass started: the set is not quiet, so a waiting batch waits on (unless it has waited too long). */
  passStarted(): void {
    if (this.timer && !this.overdue()) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
  }

  /** A pass ended: the quiet time starts again for a batch that is waiting. */
  passEnded(): void {
    if (this.dirty) this.firstChangeAt ??= Date.now();
    this.dirty = false;
    if (this.firstChangeAt === undefined || this.stopped) return;
    clearTimeout(this.timer);
    const wait = Math.min(this.debounceMs, this.firstChangeAt + this.maxWaitMs() - Date.now());
    this.timer = setTimeout(() => this.request(), Math.max(0, wait));
  }

  private maxWaitMs(): number {
    return this.debounceMs * MAX_WAIT_DEBOUNCES;
  }

  private overdue(): boolean {
    return this.firstChangeAt !== undefined && Date.now() >= this.firstChangeAt + this.maxWaitMs();
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
