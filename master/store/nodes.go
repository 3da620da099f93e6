package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"gasper/api"
)

// Node is a node row.
type Node struct {
	ID             string
	Hostname       string
	Advertise      string
	Roles          []string
	State          string
	CredentialHash string
	Facts          api.NodeFacts
	JoinedAt       time.Time
	LastSeen       *time.Time
	// Cordoned nodes take no new placements.
	Cordoned bool
}

const nodeCols = `id, hostname, advertise, roles, state, credential_hash, facts, joined_at, last_seen, cordoned`

func scanNode(row interface{ Scan(...any) error }) (Node, error) {
	var n Node
	var roles, facts string
	var joined int64
	var seen sql.NullInt64
	if err := row.Scan(&n.ID, &n.Hostname, &n.Advertise, &roles, &n.State, &n.CredentialHash, &facts, &joined, &seen, &n.Cordoned); err != nil {
		return Node{}, err
	}
	if roles != "" {
		n.Roles = strings.Split(roles, ",")
	}
	if err := json.Unmarshal([]byte(facts), &n.Facts); err != nil {
		return Node{}, fmt.Errorf("node %s: decode facts: %w", n.ID, err)
	}
	n.JoinedAt, n.LastSeen = fromMS(joined), fromNullMS(seen)
	return n, nil
}

// CreateNode records a node that has just joined.
func (s *Store) CreateNode(ctx context.Context, n Node) error {
	facts, err := json.Marshal(n.Facts)
	if err != nil {
		return err
	}
	_, err = s.db.ExecContext(ctx, `INSERT INTO nodes(`+nodeCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		n.ID, n.Hostname, n.Advertise, strings.Join(n.Roles, ","), n.State, n.CredentialHash, string(facts),
		ms(n.JoinedAt), nullMS(n.LastSeen), n.Cordoned)
	return err
}

// Node returns a node by id.
func (s *Store) Node(ctx context.Context, id string) (Node, error) {
	n, err := scanNode(s.db.QueryRowContext(ctx, `SELECT `+nodeCols+` FROM nodes WHERE id = ?`, id))
	return n, notFound(err, "node "+id)
}

// Nodes lists every node, by hostname.
func (s *Store) Nodes(ctx context.Context) ([]Node, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+nodeCols+` FROM nodes ORDER BY hostname, id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Node
	for rows.Next() {
		n, err := scanNode(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, rows.Err()
}

// UpdateNodeFacts records what a returning node reports about itself.
func (s *Store) UpdateNodeFacts(ctx context.Context, id, hostname, advertise string, roles []string, facts api.NodeFacts) error {
	b, err := json.Marshal(facts)
	if err != nil {
		return err
	}
	res, err := s.db.ExecContext(ctx, `UPDATE nodes SET hostname = ?, advertise = ?, roles = ?, facts = ? WHERE id = ?`,
		hostname, advertise, strings.Join(roles, ","), string(b), id)
	if err != nil {
		return err
	}
	return mustAffect(res, "node "+id)
}

// SetNodeState records a node's state and when it was last seen.
func (s *Store) SetNodeState(ctx context.Context, id, state string, lastSeen time.Time) error {
	res, err := s.db.ExecContext(ctx, `UPDATE nodes SET state = ?, last_seen = ? WHERE id = ?`, state, ms(lastSeen), id)
	if err != nil {
		return err
	}
	return mustAffect(res, "node "+id)
}

// SetNodeCordoned marks a node cordoned (no new placements) or not.
func (s *Store) SetNodeCordoned(ctx context.Context, id string, cordoned bool) error {
	res, err := s.db.ExecContext(ctx, `UPDATE nodes SET cordoned = ? WHERE id = ?`, cordoned, id)
	if err != nil {
		return err
	}
	return mustAffect(res, "node "+id)
}

// TouchNodes records last-seen times of many nodes in one transaction.
func (s *Store) TouchNodes(ctx context.Context, seen map[string]time.Time) error {
	if len(seen) == 0 {
		return nil
	}
	return s.Tx(ctx, func(tx *tx) error {
		for id, t := range seen {
			if _, err := tx.ExecContext(ctx, `UPDATE nodes SET last_seen = ? WHERE id = ?`, ms(t), id); err != nil {
				return err
			}
		}
		return nil
	})
}

// DeleteNode forgets a node.
func (s *Store) DeleteNode(ctx context.Context, id string) error {
	res, err := s.db.ExecContext(ctx, `DELETE FROM nodes WHERE id = ?`, id)
	if err != nil {
		return err
	}
	return mustAffect(res, "node "+id)
}
