import watcher from "@parcel/watcher";
import { readdir } from "node:fs/promises";
import { basename, relative, sep } from "node:path";
import type { IgnoreTest } from "../scan/ignore.js";
import { TEMP_NAME_PREFIX } from "../config/names.js";

export interface FileEvent {
  /** Relative path, `/`-separated, without a trailing slash (the watcher does not say what type it is). */
  path: string;
  type: "create" | "update" | "delete";
}

export interface TreeWatch {
  close(): Promise<void>;
}

/**
 * Watches a set root recursively (inotify through @parcel/watcher) and hands over batches of relevant
 * events: inside the root, not ignored, not fedsync's own temp files. Events are hints: the watcher can
 * drop them on a burst without saying so, which is why every consumer also scans. `ignored` is asked
 * anew for every event, so it can follow rules that change.
 */
export async function watchTree(
  root: string,
  ignored: IgnoreTest,
  onEvents: (events: FileEvent[]) => void,
  onError: (error: Error) => void,
): Promise<TreeWatch> {
  const subscription = await watcher.subscribe(root, (error, events) => {
    if (error) {
      onError(error);
      return;
    }
    const relevant: FileEvent[] = [];
    for (const event of events) {
      const rel = relative(root, event.path);
      if (rel === "" || rel.startsWith("..") || basename(rel).startsWith(TEMP_NAME_PREFIX)) continue;
      const path = sep === "/" ? rel : rel.split(sep).join("/");
      // The event does not say whether the path is a directory: it is dropped only when ignored either way.
      if (ignored(path) && ignored(`${path}/`)) continue;
      relevant.push({ path, type: event.type });
    }
    if (relevant.length > 0) onEvents(relevant);
  });
  return { close: () => subscription.unsubscribe() };
}

/**
 * Whether the directory holds a directory. @parcel/watcher puts a watch on a directory created under the
 * root, but not on the directories already inside it (`mkdir -p a/b`, a tree moved in): nothing written in
 * those is ever reported until the tree is watched again.
 */
export async function holdsDirectory(path: string): Promise<boolean> {
  try {
    return (await readdir(path, { withFileTypes: true })).some((entry) => entry.isDirectory());
  } catch {
    return false;
  }
}
