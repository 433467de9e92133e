/** `3m ago`, `2h ago`, `never`. */
export function formatAgo(at: number | null | undefined, now = Date.now()): string {
  if (at === null || at === undefined) return "never";
  return `${formatSpan(now - at)} ago`;
}

/** `42s`, `3m`, `2h`, `9d`: a span in its largest whole unit (a negative one is `0s`). */
export function formatSpan(ms: number): string {
  const seconds = Math.max(0, Math.round(ms / 1000));
  if (seconds < 60) return `${seconds}s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m`;
  if (seconds < 86400) return `${Math.floor(seconds / 3600)}h`;
  return `${Math.floor(seconds / 86400)}d`;
}

/** `1 file`, `2 files`, `1 directory`, `3 directories`. */
export function plural(count: number, singular: string, pluralForm = `${singular}s`): string {
  return `${count} ${count === 1 ? singular : pluralForm}`;
}

/** `3 files, 1 directory`, with `, 2 symlinks` when there are any. */
export function formatEntryCounts(counts: {
  files: number;
  directories?: number;
  symlinks?: number;
}): string {
  if (counts.directories === undefined) return plural(counts.files, "entry", "entries");
  const parts = [plural(counts.files, "file"), plural(counts.directories, "directory", "directories")];
  if (counts.symlinks) parts.push(plural(counts.symlinks, "symlink"));
  return parts.join(", ");
}
