-- Writes this machine made without their condition, because the bucket refused a condition its own HEAD
-- showed to hold (an object a distributed MinIO has not healed yet). Another machine in the same state can
-- replace such a write without having seen it: while the note lasts, a pass that finds the object replaced
-- keeps this machine's version as a conflict copy instead of downloading over it (docs/design.md).
CREATE TABLE unconfirmed_writes (
  set_name TEXT NOT NULL,
  path TEXT NOT NULL,
  etag TEXT NOT NULL,
  written_at INTEGER NOT NULL,
  PRIMARY KEY (set_name, path)
) WITHOUT ROWID;
