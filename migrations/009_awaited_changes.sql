-- Changes another writer's change-log record names that neither a listing nor a direct look-up showed yet
-- (a distributed MinIO node back from a failure can miss objects written while it was down): full passes
-- look again until the bucket shows them or the wait runs out (docs/design.md, "Listings are checked, not
-- trusted").
CREATE TABLE awaited_changes (
  set_name TEXT NOT NULL,
  path TEXT NOT NULL,
  op TEXT NOT NULL,
  etag TEXT,
  first_seen INTEGER NOT NULL,
  PRIMARY KEY (set_name, path)
) WITHOUT ROWID;
