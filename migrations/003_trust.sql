-- The set root's identity (device and inode) at the last full pass, and the mount points met inside the tree
-- (JSON list of directory keys), so a pass can tell an unmounted or replaced root or sub-mount from deletions.
-- last_full_pass_started is when the last full pass began listing: a tombstone older than that was seen by it.
ALTER TABLE sets ADD COLUMN root_dev TEXT;
ALTER TABLE sets ADD COLUMN root_ino TEXT;
ALTER TABLE sets ADD COLUMN mounts TEXT;
ALTER TABLE sets ADD COLUMN last_full_pass_started INTEGER;

-- Deletion marks this machine has applied (by the tombstone object's Last-Modified), so one never deletes a
-- file created here again later.
CREATE TABLE applied_tombstones (
  set_name TEXT NOT NULL,
  path TEXT NOT NULL,
  tombstone_modified INTEGER NOT NULL,
  applied_at INTEGER NOT NULL,
  PRIMARY KEY (set_name, path)
) WITHOUT ROWID;
