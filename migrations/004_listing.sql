-- The ignore rules in force at the last pass that listed the bucket (a SHA-256 of them). A pass may take the
-- bucket's side from the journal only while they are the same: rows of ignored paths are dropped, so after a
-- rule changes only a listing shows the objects of the paths it no longer ignores.
ALTER TABLE sets ADD COLUMN listed_ignore_rules TEXT;
