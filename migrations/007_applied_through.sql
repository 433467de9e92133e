-- How far this machine has applied the change log (the log's time, ms since the epoch), carried in its
-- heartbeat so `fedsync status` can show each machine's lag behind the newest change.
ALTER TABLE sets ADD COLUMN applied_through INTEGER;
