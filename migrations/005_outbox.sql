-- Change-log records not yet published. A record is noted before its upload or deletion mark is written and
-- removed once a change-log object holding it is in the bucket, so a crash between the two never leaves a
-- change that peers only find at their next full listing. `ready` is 0 while the change is in flight in the
-- process that noted it; a record left at 0 by a process that died is published by the next one, since its
-- change may have reached the bucket (a record is a hint: readers look the path up).
CREATE TABLE outbox (
  id INTEGER PRIMARY KEY,
  set_name TEXT NOT NULL,
  path TEXT NOT NULL,
  op TEXT NOT NULL,
  sha256 TEXT,
  etag TEXT,
  ready INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX outbox_by_set ON outbox (set_name, ready, id);
