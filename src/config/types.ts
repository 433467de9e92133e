/** The validated configuration, with every default filled in. Produced by `loadConfig`. */

export type SyncMethod = "lightweight" | "heavyweight";
export type ConflictPolicy = "keep-both" | "newest-wins";
export type DeletionPolicy = "propagate" | "keep";

export interface DatastoreConfig {
  /** Full URL, e.g. `http://127.0.0.1:9000` or `https://minio.internal:9000`. */
  endpoint: string;
  region: string;
  bucket: string;
  accessKeyId: string;
  /** Resolved secret (from `secret_access_key_file` or FEDSYNC_SECRET_ACCESS_KEY). Never logged. */
  secretAccessKey: string;
  /** PEM text of `ca_file`, when set. */
  ca?: string;
  /** Path of `ca_file`, for messages. */
  caFile?: string;
}

export interface SetConfig {
  name: string;
  /** Absolute path of the set root. */
  path: string;
  method: SyncMethod;
  /** Key prefix in the bucket, always ending in `/`. Default `<name>/`. */
  prefix: string;
  /** Heavyweight pass interval, ms (default 2m). */
  intervalMs: number;
  /** Ignore rules in gitignore syntax, one rule per item, applied in order (see src/scan/ignore.ts). */
  ignore: string[];
  /** Name of a file at the set root whose gitignore rules apply after `ignore`, when set. */
  ignoreFile?: string;
  /** Owner and group of every file fedsync writes, when it runs as root. */
  owner?: string;
  group?: string;
  /** Apply the owner and group names that come with an object (never root's) instead of the root's owner. */
  preserveOwner: boolean;
  /** Permission bits a mode from the bucket may keep (default 0o1775: nothing world-writable). */
  modeMask: number;
  deletions: DeletionPolicy;
  conflicts: ConflictPolicy;
  /** Deletion guard: a fraction in (0, 1]; 0.5 for "50%". */
  maxDelete: number;
  /** Lightweight: debounce of watcher events, ms (default 50). */
  debounceMs: number;
  /** Lightweight: change-log poll interval, ms (default 2s). */
  pollIntervalMs: number;
  /** Lightweight: safety pass interval, ms (default 10m). */
  safetyIntervalMs: number;
  /**
   * A full pass lists the bucket when this long has passed since the last pass that did (default 1h);
   * before that, only when the change log shows another writer.
   */
  fullListingIntervalMs: number;
  /** Lightweight: events per second that count as a burst (default 1000). */
  burstThreshold: number;
  /** Keep files the agent deletes or overwrites in `<state_dir>/trash/<set>/` (default false). */
  keepDeleted: boolean;
  /** Accept remote symlinks whose target leaves the set root (default false). */
  allowExternalSymlinks: boolean;
  /** Create the set root when it is missing, instead of failing the set (default false). */
  create: boolean;
  /** Shell command run (with /bin/sh) after passes that changed local files; changed paths on stdin. */
  onChange?: string;
  /** Shell command run after passes that made conflict copies; the copies' paths on stdin. */
  onConflict?: string;
  /** A hook still running after this long is killed with its process group, ms (default 60s). */
  hookTimeoutMs: number;
  /** A hook runs once the set has been quiet (no pass) this long after changes, ms (default 2s). */
  hookDebounceMs: number;
}

export interface Config {
  /** Unique machine name in the federation (default: hostname). */
  machine: string;
  stateDir: string;
  datastore: DatastoreConfig;
  sets: SetConfig[];
  /** Transfers running at once per pass (default 16). */
  concurrency: number;
  /** A machine whose last good pass is older than this runs in catch-up mode (default 1h). */
  offlineAfterMs: number;
  tombstoneRetentionMs: number;
  logRetentionMs: number;
  historyRetentionMs: number;
  trashRetentionMs: number;
  /** Clock-skew window for the change-log poll (default 5m). */
  clockSkewMs: number;
  /** How long an object gone from the bucket without a deletion mark must stay gone before its file goes. */
  unmarkedDeletionDelayMs: number;
  /** How long syncing waits after the datastore answers again following an outage (it may be healing). */
  settleAfterOutageMs: number;
  log: { level: "error" | "warn" | "info" | "debug"; format: "plain" | "json" };
  metrics?: { listen: string };
  /** Where the config was read from, for messages. */
  source: string;
}
