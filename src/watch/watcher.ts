import watcher from "@parcel/watcher";
import { basename, relative, sep } from "node:path";
import { compileIgnore, isIgnoredKey } from "../scan/ignore.js";
import { TEMP_NAME_PREFIX } from "../scan/keys.js";

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
 * drop them on a burst without saying so, which is why every consumer also scans.
 */
export async function watchTree(
  root: string,
  ignore: string[],
  onEvents: (events: FileEvent[]) => void,
  onError: (error: Error) => void,
): Promise<TreeWatch> {
  const test = compileIgnore(ignore);
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
      if (isIgnoredKey(test, path)) continue;
      relevant.push({ path, type: event.type });
    }
    if (relevant.length > 0) onEvents(relevant);
  });
  return { close: () => subscription.unsubscribe() };
}
