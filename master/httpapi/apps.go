package httpapi

import (
	"net/http"
	"strconv"

	"gasper/api"
)

func (s *Server) listApps(r *http.Request, c *caller) (any, error) {
	return s.cfg.Apps.List(r.Context(), c.User)
}

func (s *Server) createApp(r *http.Request, c *caller) (any, error) {
	var req api.CreateAppRequest
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	return s.cfg.Apps.Create(r.Context(), c.User, req)
}

func (s *Server) getApp(r *http.Request, c *caller) (any, error) {
	return s.cfg.Apps.Get(r.Context(), c.User, r.PathValue("app"))
}

func (s *Server) updateApp(r *http.Request, c *caller) (any, error) {
	var req api.UpdateAppRequest
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	return s.cfg.Apps.Update(r.Context(), c.User, r.PathValue("app"), req)
}

func (s *Server) deleteApp(r *http.Request, c *caller) (any, error) {
	return nil, s.cfg.Apps.Delete(r.Context(), c.User, r.PathValue("app"))
}

func (s *Server) uploadSource(r *http.Request, c *caller) (any, error) {
	return s.cfg.Apps.UploadSource(r.Context(), c.User, r.PathValue("app"), r.Body)
}

func (s *Server) rebuildApp(r *http.Request, c *caller) (any, error) {
	return s.cfg.Apps.Rebuild(r.Context(), c.User, r.PathValue("app"))
}

func (s *Server) listReleases(r *http.Request, c *caller) (any, error) {
	return s.cfg.Apps.Releases(r.Context(), c.User, r.PathValue("app"))
}

func releaseNumber(r *http.Request) (int, error) {
	n, err := strconv.Atoi(r.PathValue("n"))
	if err != nil || n < 1 {
		return 0, errorf(api.CodeBadRequest, "release number %q is not a positive whole number", r.PathValue("n"))
	}
	return n, nil
}

func (s *Server) getRelease(r *http.Request, c *caller) (any, error) {
	n, err := releaseNumber(r)
	if err != nil {
		return nil, err
	}
	return s.cfg.Apps.Release(r.Context(), c.User, r.PathValue("app"), n)
}

func (s *Server) buildLog(w http.ResponseWriter, r *http.Request, c *caller) error {
	n, err := releaseNumber(r)
	if err != nil {
		return err
	}
	return s.cfg.Apps.BuildLog(r.Context(), c.User, r.PathValue("app"), n, r.URL.Query().Get("follow") == "1", w)
}

func (s *Server) rollbackApp(r *http.Request, c *caller) (any, error) {
	var req api.RollbackRequest
	if r.ContentLength != 0 {
		if err := decode(r, &req); err != nil {
			return nil, err
		}
	}
	if req.Release < 0 {
		return nil, errorf(api.CodeBadRequest, "release must be positive, or 0 for the one before the current")
	}
	return s.cfg.Apps.Rollback(r.Context(), c.User, r.PathValue("app"), req.Release)
}

func (s *Server) scaleApp(r *http.Request, c *caller) (any, error) {
	var req api.ScaleRequest
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	return s.cfg.Apps.Scale(r.Context(), c.User, r.PathValue("app"), req.Replicas)
}

func (s *Server) restartApp(r *http.Request, c *caller) (any, error) {
	return nil, s.cfg.Apps.Restart(r.Context(), c.User, r.PathValue("app"))
}

func (s *Server) appLogs(w http.ResponseWriter, r *http.Request, c *caller) error {
	tail := 100
	if v := r.URL.Query().Get("tail"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > 100000 {
			return errorf(api.CodeBadRequest, "tail must be a whole number from 0 to 100000")
		}
		tail = n
	}
	return s.cfg.Apps.Logs(r.Context(), c.User, r.PathValue("app"), r.URL.Query().Get("follow") == "1", tail, w)
}

func (s *Server) getEnv(r *http.Request, c *caller) (any, error) {
	return s.cfg.Apps.Env(r.Context(), c.User, r.PathValue("app"))
}

func (s *Server) setEnv(r *http.Request, c *caller) (any, error) {
	var req api.EnvRequest
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	return s.cfg.Apps.SetEnv(r.Context(), c.User, r.PathValue("app"), req)
}

func (s *Server) addDomain(r *http.Request, c *caller) (any, error) {
	var req api.DomainRequest
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	return s.cfg.Apps.AddDomain(r.Context(), c.User, r.PathValue("app"), req.Domain)
}

func (s *Server) removeDomain(r *http.Request, c *caller) (any, error) {
	return nil, s.cfg.Apps.RemoveDomain(r.Context(), c.User, r.PathValue("app"), r.PathValue("domain"))
}

func (s *Server) cloudCA(w http.ResponseWriter, _ *http.Request, _ *caller) error {
	w.Header().Set("Content-Type", "application/x-pem-file")
	_, err := w.Write(s.cfg.CloudCA)
	return err
}
