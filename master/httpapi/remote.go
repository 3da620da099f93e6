package httpapi

import (
	"net/http"
	"strconv"

	"gasper/api"
)

func (s *Server) listSSHKeys(r *http.Request, c *caller) (any, error) {
	return s.cfg.Remote.Keys(r.Context(), c.User)
}

func (s *Server) addSSHKey(r *http.Request, c *caller) (any, error) {
	var req api.AddSSHKeyRequest
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	return s.cfg.Remote.AddKey(r.Context(), c.User, req)
}

func (s *Server) removeSSHKey(r *http.Request, c *caller) (any, error) {
	return nil, s.cfg.Remote.RemoveKey(r.Context(), c.User, r.PathValue("key"))
}

func (s *Server) getAppSSH(r *http.Request, c *caller) (any, error) {
	return s.cfg.Remote.AppSSH(r.Context(), c.User, r.PathValue("app"))
}

func (s *Server) updateAppSSH(r *http.Request, c *caller) (any, error) {
	var req api.UpdateAppSSHRequest
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	return s.cfg.Remote.UpdateAppSSH(r.Context(), c.User, r.PathValue("app"), req)
}

func (s *Server) execApp(w http.ResponseWriter, r *http.Request, c *caller) error {
	n := 0
	if v := r.URL.Query().Get("instance"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 1 {
			return errorf(api.CodeBadRequest, "instance must be a number from 1, as gasper app info lists the instances")
		}
	}
	return s.cfg.Remote.Exec(w, r, c.User, r.PathValue("app"), n)
}
