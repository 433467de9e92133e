/**
 * Counts events in a sliding one-second window and says when a set sees a burst: more events per second than
 * the threshold, the situation in which the kernel's inotify queue overflows and events are lost unseen.
 */
export class BurstDetector {
  private windowStart = 0;
  private inWindow = 0;

  constructor(
    private readonly threshold: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** Records `count` events; true when the current second has gone past the threshold. */
  record(count: number): boolean {
    const now = this.now();
    if (now - this.windowStart >= 1000) {
      this.windowStart = now;
      this.inWindow = 0;
    }
    this.inWindow += count;
    return this.inWindow > this.threshold;
  }
}
