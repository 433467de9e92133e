-- The audit trail: one row per change this machine applied or published, newest last (`id` grows).
-- `origin` is the machine whose change it was; `trash` is where the replaced or deleted local version was
-- kept (`keep_deleted`), if anywhere. The indexes serve `fedsync log`, newest first, by time, set, machine
-- and path; housekeeping prunes rows by age and count.

CREATE TABLE history (
  id INTEGER PRIMARY KEY,
  at INTEGER NOT NULL,
  set_name TEXT NOT NULL,
  path TEXT NOT NULL,
  action TEXT NOT NULL,
  origin TEXT NOT NULL,
  sha256 TEXT,
  size INTEGER,
  detail TEXT,
  trash TEXT
);

CREATE INDEX history_by_time ON history (at);
CREATE INDEX history_by_set ON history (set_name, at);
CREATE INDEX history_by_origin ON history (origin, at);
CREATE INDEX history_by_path ON history (path, at);
