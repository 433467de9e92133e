-- Paths are entry keys (trailing `/` for directories). The BINARY collation orders them by UTF-8 bytes,
-- the order of S3 listings and of the local scan, so both can be merge-joined with `ORDER BY path`.

CREATE TABLE files (
  set_name TEXT NOT NULL,
  path TEXT NOT NULL,
  type TEXT NOT NULL CHECK (type IN ('file', 'symlink', 'dir')),
  size INTEGER NOT NULL,
  mtime_ms INTEGER NOT NULL,
  mtime_ns INTEGER NOT NULL,
  ctime_ns INTEGER NOT NULL,
  inode INTEGER NOT NULL,
  mode INTEGER NOT NULL,
  owner TEXT,
  grp TEXT,
  sha256 TEXT,
  target TEXT,
  remote_etag TEXT,
  remote_last_modified INTEGER,
  synced_at INTEGER NOT NULL,
  PRIMARY KEY (set_name, path)
) WITHOUT ROWID;

-- last_seen lets a consumer remove only the entries it has processed, not ones re-dirtied meanwhile.
CREATE TABLE pending (
  set_name TEXT NOT NULL,
  path TEXT NOT NULL,
  reason TEXT NOT NULL,
  first_seen INTEGER NOT NULL,
  last_seen INTEGER NOT NULL,
  PRIMARY KEY (set_name, path)
) WITHOUT ROWID;

CREATE TABLE sets (
  name TEXT PRIMARY KEY NOT NULL,
  last_full_pass INTEGER,
  last_log_key TEXT,
  last_good_sync INTEGER,
  last_error TEXT,
  last_pass_ms INTEGER
) WITHOUT ROWID;

CREATE TABLE conflicts (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  set_name TEXT NOT NULL,
  path TEXT NOT NULL,
  copy_path TEXT NOT NULL,
  winner TEXT NOT NULL,
  loser TEXT NOT NULL,
  at INTEGER NOT NULL
);

CREATE INDEX conflicts_by_set ON conflicts (set_name, at);

CREATE TABLE applied_log (
  set_name TEXT NOT NULL,
  log_key TEXT NOT NULL,
  PRIMARY KEY (set_name, log_key)
) WITHOUT ROWID;
