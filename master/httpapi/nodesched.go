package httpapi

import (
	"net/http"
	"strings"

	"gasper/api"
)

// cordonNode returns the handler that cordons (or uncordons) a node.
func (s *Server) cordonNode(cordon bool) func(*http.Request, *caller) (any, error) {
	return func(r *http.Request, c *caller) (any, error) {
		n, err := s.cfg.Nodes.Node(r.Context(), r.PathValue("node"))
		if err != nil {
			return nil, err
		}
		if err := s.cfg.Nodes.SetCordoned(r.Context(), n.ID, cordon); err != nil {
			return nil, err
		}
		action := "node.cordon"
		if !cordon {
			action = "node.uncordon"
		}
		s.audit(r.Context(), c, action, n.ID, n.Hostname)
		return s.cfg.Nodes.Node(r.Context(), n.ID)
	}
}

// drainNode cordons a node and starts moving its apps elsewhere.
func (s *Server) drainNode(r *http.Request, c *caller) (any, error) {
	n, err := s.cfg.Nodes.Node(r.Context(), r.PathValue("node"))
	if err != nil {
		return nil, err
	}
	if err := s.cfg.Nodes.SetCordoned(r.Context(), n.ID, true); err != nil {
		return nil, err
	}
	moving, err := s.cfg.Apps.Drain(r.Context(), n.ID)
	if err != nil {
		return nil, err
	}
	s.audit(r.Context(), c, "node.drain", n.ID, n.Hostname+": "+strings.Join(moving, " "))
	n, err = s.cfg.Nodes.Node(r.Context(), n.ID)
	if err != nil {
		return nil, err
	}
	return api.DrainResult{Node: n, Apps: moving}, nil
}
