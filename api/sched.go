package api

// DrainResult is the answer to POST /api/v1/nodes/{node}/drain: the node,
// now cordoned, and the apps being moved off it one at a time.
type DrainResult struct {
	Node Node     `json:"node"`
	Apps []string `json:"apps"`
}
