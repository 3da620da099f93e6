-- Scheduling: cordoned nodes take no new placements; an app that no node
-- can take waits with the reason in pending (empty: placed or placeable).
ALTER TABLE nodes ADD COLUMN cordoned INTEGER NOT NULL DEFAULT 0;
ALTER TABLE apps ADD COLUMN pending TEXT NOT NULL DEFAULT '';
-- gasper app info shows the scheduler's last decision about an app.
CREATE INDEX audit_target ON audit(target, id);
