package dbs

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"gasper/api"
	"gasper/master/store"
	"gasper/proto"
)

func (s *Service) backupPath(id string) string { return filepath.Join(s.cfg.BackupDir, id+".dump") }

// Backup takes a consistent dump of the database on its node and stores it on the master.
func (s *Service) Backup(ctx context.Context, who store.User, name string) (api.Backup, error) {
	d, err := s.db(ctx, who, name)
	if err != nil {
		return api.Backup{}, err
	}
	start := time.Now()
	resp, err := s.call(ctx, d, "POST", strings.Replace(proto.PathDBBackup, "{db}", d.Name, 1), nil)
	if err != nil {
		return api.Backup{}, err
	}
	defer resp.Body.Close()
	b := store.Backup{Backup: api.Backup{ID: store.NewID("b-"), Database: d.Name, Engine: d.Engine}, OwnerID: d.OwnerID}
	tmp, err := os.CreateTemp(s.cfg.BackupDir, "incoming-*")
	if err != nil {
		return api.Backup{}, err
	}
	defer os.Remove(tmp.Name())
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(tmp, h), resp.Body)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return api.Backup{}, api.Errorf(api.CodeUnavailable, "backup of %s: receiving the dump: %v", d.Name, err)
	}
	if result := resp.Trailer.Get(proto.TrailerDBResult); result != "ok" {
		if result == "" {
			result = "the node did not finish the dump"
		}
		return api.Backup{}, api.Errorf(api.CodeUnavailable, "backup of %s: %s", d.Name, result)
	}
	b.Size, b.SHA256, b.CreatedAt = n, hex.EncodeToString(h.Sum(nil)), time.Now().UTC()
	took := time.Since(start)
	if err := os.Rename(tmp.Name(), s.backupPath(b.ID)); err != nil {
		return api.Backup{}, err
	}
	if err := s.cfg.Store.AddBackup(ctx, b, took); err != nil {
		os.Remove(s.backupPath(b.ID))
		return api.Backup{}, err
	}
	b.Duration = took.Round(time.Millisecond).String()
	s.audit(ctx, who, "db.backup", d.Name, fmt.Sprintf("id=%s size=%d", b.ID, n))
	return b.Backup, nil
}

// Backups lists a database's backups, newest first. They outlive the database, so the name of a
// deleted database still lists them for its owner.
func (s *Service) Backups(ctx context.Context, who store.User, name string) ([]api.Backup, error) {
	if err := api.ValidName("database", name); err != nil {
		return nil, err
	}
	bs, err := s.cfg.Store.Backups(ctx, name)
	if err != nil {
		return nil, err
	}
	out := []api.Backup{}
	for _, b := range bs {
		if b.OwnerID == who.ID || who.Admin {
			out = append(out, b.Backup)
		}
	}
	if len(out) == 0 {
		if _, err := s.db(ctx, who, name); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// backup returns a backup who may read.
func (s *Service) backup(ctx context.Context, who store.User, id string) (store.Backup, error) {
	b, err := s.cfg.Store.BackupByID(ctx, id)
	if err == nil && b.OwnerID != who.ID && !who.Admin {
		err = api.Errorf(api.CodeNotFound, "backup %s not found", id)
	}
	return b, err
}

// OpenBackup opens a backup's file for download.
func (s *Service) OpenBackup(ctx context.Context, who store.User, id string) (api.Backup, io.ReadCloser, error) {
	b, err := s.backup(ctx, who, id)
	if err != nil {
		return api.Backup{}, nil, err
	}
	f, err := os.Open(s.backupPath(b.ID))
	if err != nil {
		return api.Backup{}, nil, api.Errorf(api.CodeNotFound, "backup %s: its file is missing on the master: %v", id, err)
	}
	s.audit(ctx, who, "db.backup-download", b.Database, "id="+b.ID)
	return b.Backup, f, nil
}

// Restore loads a backup (of a database of the same engine that who owns) into the database,
// replacing its data.
func (s *Service) Restore(ctx context.Context, who store.User, name, backupID string) error {
	d, err := s.db(ctx, who, name)
	if err != nil {
		return err
	}
	if backupID == "" {
		return api.Errorf(api.CodeBadRequest, "which backup? pass its id (gasper db backups %s lists them)", d.Name)
	}
	b, err := s.backup(ctx, who, backupID)
	if err != nil {
		return err
	}
	if b.Engine != d.Engine {
		return api.Errorf(api.CodeBadRequest, "backup %s is of a %s database; %s is %s", b.ID, b.Engine, d.Name, d.Engine)
	}
	f, err := os.Open(s.backupPath(b.ID))
	if err != nil {
		return api.Errorf(api.CodeNotFound, "backup %s: its file is missing on the master: %v", b.ID, err)
	}
	defer f.Close()
	resp, err := s.call(ctx, d, "POST", strings.Replace(proto.PathDBRestore, "{db}", d.Name, 1), f)
	if err != nil {
		return err
	}
	resp.Body.Close()
	s.audit(ctx, who, "db.restore", d.Name, "backup="+b.ID+" of "+b.Database)
	return nil
}
