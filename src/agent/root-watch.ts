import { stat } from "node:fs/promises";
import type { SetConfig } from "../config/types.js";
import type { Logger } from "../log/index.js";
import type { IgnoreTest } from "../scan/ignore.js";
import { watchTree, type FileEvent, type TreeWatch } from "../watch/watcher.js";

export interface RootWatchDeps {
  set: SetConfig;
  logger: Logger;
  /** File events of the tree, for a lightweight set; a heavyweight set only follows the root itself. */
  events?: {
    /** The set's ignore rules as they stand (they may change between passes). */
    ignored: IgnoreTest;
    onEvents: (events: FileEvent[]) => void;
    onError: (error: Error) => void;
  };
  /** The root appeared, or became another directory, after the start: the runner runs a full pass. */
  onChanged: (reason: string) => void;
}

/** Which directory the root is (`dev:ino`), or undefined when there is no directory there. */
async function identityOf(path: string): Promise<string | undefined> {
  try {
    const stats = await stat(path, { bigint: true });
    return stats.isDirectory() ? `${stats.dev}:${stats.ino}` : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Follows a set root: whether it is there and which directory it is. A watch on the tree lives as long as the
 * directory it was set on, so a root that is missing at the start, deleted, unmounted or replaced gets a new
 * watch as soon as a directory is there again (`check`, called on a timer).
 */
export class RootWatch {
  private identity?: string;
  private watch?: TreeWatch;
  private checking?: Promise<boolean>;
  private stopped = false;

  constructor(private readonly deps: RootWatchDeps) {}

  /** Looks at the root once and watches it when it is there. */
  async start(): Promise<void> {
    this.identity = await identityOf(this.deps.set.path);
    if (this.identity !== undefined) await this.arm();
  }

  /** Whether the root is there now; re-arms the watch and tells the runner when it appeared or changed. */
  check(): Promise<boolean> {
    this.checking ??= this.recheck().finally(() => (this.checking = undefined));
    return this.checking;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.checking;
    await this.disarm();
  }

  private async recheck(): Promise<boolean> {
    const current = await identityOf(this.deps.set.path);
    if (current === this.identity || this.stopped) return current !== undefined;
    const appeared = this.identity === undefined;
    this.identity = current;
    await this.disarm();
    if (current === undefined) {
      this.deps.logger.warn(`set root ${this.deps.set.path} is gone; waiting for it to come back`);
      return false;
    }
    await this.arm();
    this.deps.onChanged(appeared ? "set root appeared" : "set root became another directory");
    return true;
  }

  /**
   * Watches the tree afresh: for directories created inside a new directory before it was watched, which the
   * watch never sees. @parcel/watcher reuses the tree it knows while any watch on the root is open, so the old
   * watch goes first; what changes before the new one is set up is the caller's to scan.
   */
  async rearm(): Promise<void> {
    if (this.stopped || !this.watch) return;
    await this.disarm();
    await this.arm();
  }

  private async arm(): Promise<void> {
    const { set, events, logger } = this.deps;
    if (!events) return;
    try {
      this.watch = await watchTree(set.path, events.ignored, events.onEvents, events.onError);
    } catch (error) {
      logger.error(
        `cannot watch ${set.path}: ${error instanceof Error ? error.message : String(error)}; relying on passes`,
      );
    }
  }

  private async disarm(): Promise<void> {
    const watch = this.watch;
    this.watch = undefined;
    await watch?.close().catch(() => undefined);
  }
}
