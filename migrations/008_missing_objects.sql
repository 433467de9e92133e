-- Objects found gone from the bucket without a deletion mark while this machine still has their file: the
-- file is deleted only once full passes have kept finding the object gone for a while (docs/design.md,
-- "Listings are checked, not trusted").
CREATE TABLE missing_objects (
  set_name TEXT NOT NULL,
  path TEXT NOT NULL,
  first_seen INTEGER NOT NULL,
  last_seen INTEGER NOT NULL,
  PRIMARY KEY (set_name, path)
) WITHOUT ROWID;
