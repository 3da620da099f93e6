package tui

import (
	"context"
	"io"

	"gasper/api"
)

// Client is what the dashboard needs of the master: api/client's *Client
// satisfies it, and tuitest.Fake stands in for it in tests (both keep
// tuitest.Contract).
type Client interface {
	WhoAmI(ctx context.Context) (*api.User, error)

	Apps(ctx context.Context) ([]api.App, error)
	CreateApp(ctx context.Context, req api.CreateAppRequest) (*api.App, error)
	UploadSource(ctx context.Context, app string, archive io.Reader) (*api.Release, error)
	DeleteApp(ctx context.Context, name string) error
	Restart(ctx context.Context, app string) error
	Scale(ctx context.Context, app string, replicas int) (*api.App, error)
	Rebuild(ctx context.Context, app string) (*api.Release, error)
	Rollback(ctx context.Context, app string, n int) (*api.Release, error)
	Releases(ctx context.Context, app string) ([]api.Release, error)
	Logs(ctx context.Context, app string, follow bool, tail int) (io.ReadCloser, error)

	Databases(ctx context.Context) ([]api.Database, error)
	CreateDatabase(ctx context.Context, req api.CreateDatabaseRequest) (*api.Database, error)
	DeleteDatabase(ctx context.Context, name string, withBackups bool) error
	LinkDatabase(ctx context.Context, db, app string) (*api.Database, error)
	UnlinkDatabase(ctx context.Context, db, app string) error

	Nodes(ctx context.Context) ([]api.Node, error)
	RemoveNode(ctx context.Context, node string) error
	CordonNode(ctx context.Context, node string, cordon bool) (*api.Node, error)
	DrainNode(ctx context.Context, node string) (*api.DrainResult, error)
	Users(ctx context.Context) ([]api.User, error)
}

// Packer packs a directory into a gzip'd tar for UploadSource; the caller
// of the returned func closes and removes what it made. cmd/gasper passes
// its sourcearchive-backed packer, so the dashboard deploys exactly what
// `gasper app create --from` would.
type Packer func(dir string) (archive io.Reader, done func(), err error)
