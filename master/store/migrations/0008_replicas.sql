-- Replicas: an app runs replicas instances (0: scaled down). nodes holds the
-- node id of each placed replica, as a JSON array (one entry per replica,
-- repeated when a node runs several); node_id stays the first of them.
ALTER TABLE apps ADD COLUMN replicas INTEGER NOT NULL DEFAULT 1;
ALTER TABLE apps ADD COLUMN nodes TEXT NOT NULL DEFAULT '[]';
UPDATE apps SET nodes = json_array(node_id) WHERE node_id != '';
