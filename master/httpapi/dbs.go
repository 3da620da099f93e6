package httpapi

import (
	"io"
	"net/http"
	"strconv"

	"gasper/api"
)

func (s *Server) listDatabases(r *http.Request, c *caller) (any, error) {
	return s.cfg.DBs.List(r.Context(), c.User)
}

func (s *Server) createDatabase(r *http.Request, c *caller) (any, error) {
	var req api.CreateDatabaseRequest
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	return s.cfg.DBs.Create(r.Context(), c.User, req)
}

func (s *Server) getDatabase(r *http.Request, c *caller) (any, error) {
	return s.cfg.DBs.Get(r.Context(), c.User, r.PathValue("db"), r.URL.Query().Get("show_password") == "1")
}

func (s *Server) deleteDatabase(r *http.Request, c *caller) (any, error) {
	return nil, s.cfg.DBs.Delete(r.Context(), c.User, r.PathValue("db"), r.URL.Query().Get("with_backups") == "1")
}

func (s *Server) restartDatabase(r *http.Request, c *caller) (any, error) {
	return nil, s.cfg.DBs.Restart(r.Context(), c.User, r.PathValue("db"))
}

func (s *Server) databaseLogs(w http.ResponseWriter, r *http.Request, c *caller) error {
	tail := 100
	if v := r.URL.Query().Get("tail"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > 100000 {
			return errorf(api.CodeBadRequest, "tail must be a whole number from 0 to 100000")
		}
		tail = n
	}
	return s.cfg.DBs.Logs(r.Context(), c.User, r.PathValue("db"), r.URL.Query().Get("follow") == "1", tail, w)
}

func (s *Server) linkDatabase(r *http.Request, c *caller) (any, error) {
	var req api.LinkRequest
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	return s.cfg.DBs.Link(r.Context(), c.User, r.PathValue("db"), req.App)
}

func (s *Server) unlinkDatabase(r *http.Request, c *caller) (any, error) {
	return nil, s.cfg.DBs.Unlink(r.Context(), c.User, r.PathValue("db"), r.PathValue("app"))
}

func (s *Server) backupDatabase(r *http.Request, c *caller) (any, error) {
	return s.cfg.DBs.Backup(r.Context(), c.User, r.PathValue("db"))
}

func (s *Server) listBackups(r *http.Request, c *caller) (any, error) {
	return s.cfg.DBs.Backups(r.Context(), c.User, r.PathValue("db"))
}

func (s *Server) restoreDatabase(r *http.Request, c *caller) (any, error) {
	var req api.RestoreRequest
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	return nil, s.cfg.DBs.Restore(r.Context(), c.User, r.PathValue("db"), req.Backup)
}

func (s *Server) downloadBackup(w http.ResponseWriter, r *http.Request, c *caller) error {
	b, f, err := s.cfg.DBs.OpenBackup(r.Context(), c.User, r.PathValue("id"))
	if err != nil {
		return err
	}
	defer f.Close()
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Length", strconv.FormatInt(b.Size, 10))
	w.Header().Set("Content-Disposition", `attachment; filename="`+b.Database+"-"+b.ID+`.dump"`)
	_, err = io.Copy(w, f)
	return err
}
