package dbs

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"gasper/engines"
	"gasper/internal/container"
	"gasper/internal/image"
	"gasper/proto"
)

const testSocket = "/run/containerd/containerd.sock"

// hostIP is where the test publishes databases: not 127.0.0.1, where other packages' test
// servers listen.
const hostIP = "127.0.1.3"

func requireContainerd(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(testSocket); err != nil || os.Geteuid() != 0 {
		if os.Getenv("CI") != "" {
			t.Fatalf("database tests need root and containerd at %s (CI is set, so this is a failure)", testSocket)
		}
		t.Skip("database tests need root and a running containerd; `make test` provides both")
	}
}

// client is how a user talks to one engine: real clients, connected with the credentials the
// master would print.
type client interface {
	write(t *testing.T, value string) error
	read(t *testing.T) (string, error)
	drop(t *testing.T) error
}

type target struct {
	name, password string
	port           int
}

func (tg target) db() string { return engines.DBName(tg.name) }

func run(t *testing.T, env []string, name string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("%s %s: %v: %s", name, strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out)), nil
}

type pg struct{ target }

func (c pg) sql(t *testing.T, q string) (string, error) {
	url := fmt.Sprintf("postgres://%s:%s@%s:%d/%s", c.db(), c.password, hostIP, c.port, c.db())
	return run(t, nil, "psql", "-X", "-q", url, "-tAc", q)
}
func (c pg) write(t *testing.T, v string) error {
	_, err := c.sql(t, "CREATE TABLE IF NOT EXISTS kv (k text primary key, v text); INSERT INTO kv VALUES ('k', '"+v+"') ON CONFLICT (k) DO UPDATE SET v = excluded.v")
	return err
}
func (c pg) read(t *testing.T) (string, error) { return c.sql(t, "SELECT v FROM kv WHERE k = 'k'") }
func (c pg) drop(t *testing.T) error {
	_, err := c.sql(t, "DROP TABLE kv")
	return err
}

type my struct{ target }

func (c my) sql(t *testing.T, q string) (string, error) {
	return run(t, []string{"MYSQL_PWD=" + c.password}, "mariadb", "-h", hostIP, "-P", strconv.Itoa(c.port), "-u", c.db(), "-N", "-B", c.db(), "-e", q)
}
func (c my) write(t *testing.T, v string) error {
	_, err := c.sql(t, "CREATE TABLE IF NOT EXISTS kv (k varchar(64) primary key, v text); REPLACE INTO kv VALUES ('k', '"+v+"')")
	return err
}
func (c my) read(t *testing.T) (string, error) { return c.sql(t, "SELECT v FROM kv WHERE k = 'k'") }
func (c my) drop(t *testing.T) error {
	_, err := c.sql(t, "DROP TABLE kv")
	return err
}

type rd struct{ target }

func (c rd) cmd(t *testing.T, args ...string) (string, error) {
	return run(t, []string{"REDISCLI_AUTH=" + c.password}, "redis-cli", append([]string{"-h", hostIP, "-p", strconv.Itoa(c.port)}, args...)...)
}
func (c rd) check(out string, err error) error {
	if err == nil && (strings.Contains(out, "ERR") || strings.Contains(out, "NOAUTH") || strings.Contains(out, "WRONGPASS")) {
		return fmt.Errorf("redis: %s", out)
	}
	return err
}
func (c rd) write(t *testing.T, v string) error { return c.check(c.cmd(t, "SET", "k", v)) }
func (c rd) read(t *testing.T) (string, error) {
	out, err := c.cmd(t, "GET", "k")
	return out, c.check(out, err)
}
func (c rd) drop(t *testing.T) error { return c.check(c.cmd(t, "FLUSHALL")) }

type mg struct{ target }

func (c mg) coll(t *testing.T, f func(context.Context, *mongo.Collection) error) error {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	e, _ := engines.Get("mongodb")
	cl, err := mongo.Connect(options.Client().ApplyURI(e.URL(hostIP, c.port, c.name, c.password)).SetTimeout(10 * time.Second))
	if err != nil {
		return err
	}
	defer cl.Disconnect(ctx)
	return f(ctx, cl.Database(c.db()).Collection("kv"))
}
func (c mg) write(t *testing.T, v string) error {
	return c.coll(t, func(ctx context.Context, co *mongo.Collection) error {
		_, err := co.ReplaceOne(ctx, bson.M{"_id": "k"}, bson.M{"_id": "k", "v": v}, options.Replace().SetUpsert(true))
		return err
	})
}
func (c mg) read(t *testing.T) (string, error) {
	var doc struct {
		V string `bson:"v"`
	}
	err := c.coll(t, func(ctx context.Context, co *mongo.Collection) error {
		return co.FindOne(ctx, bson.M{"_id": "k"}).Decode(&doc)
	})
	if err == mongo.ErrNoDocuments {
		return "", nil
	}
	return doc.V, err
}
func (c mg) drop(t *testing.T) error {
	return c.coll(t, func(ctx context.Context, co *mongo.Collection) error { return co.Drop(ctx) })
}

func clientFor(engine string, tg target) client {
	switch engine {
	case "postgresql":
		return pg{tg}
	case "mysql":
		return my{tg}
	case "redis":
		return rd{tg}
	default:
		return mg{tg}
	}
}

func password() string {
	const letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, 24)
	for i := range b {
		n, _ := rand.Int(rand.Reader, big.NewInt(int64(len(letters))))
		b[i] = letters[n.Int64()]
	}
	return string(b)
}

// node is one test node: a driver of its own namespace and bridge, and a manager.
type node struct {
	cfg     Config
	mgr     *Manager
	mux     *http.ServeMux
	cancel  context.CancelFunc
	done    chan struct{}
	reports chan proto.DBReport
}

func newNode(t *testing.T) *node {
	suffix := fmt.Sprintf("%06d", mrand.IntN(1000000))
	ctx := context.Background()
	drv, err := container.New(ctx, container.Config{Socket: testSocket, Namespace: "gasper-test-db" + suffix,
		StateDir: t.TempDir(), Bridge: "gdb" + suffix, Subnet: fmt.Sprintf("10.212.%d.0/24", mrand.IntN(250)+1),
		HostIP: hostIP, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	imgs, err := image.NewBuilder(image.Config{CacheDir: image.DefaultCacheDir, Client: drv.Client(), Namespace: "gasper-test-db" + suffix})
	if err != nil {
		t.Fatal(err)
	}
	n := &node{reports: make(chan proto.DBReport, 100)}
	master := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var rep proto.DBReport
		json.NewDecoder(r.Body).Decode(&rep)
		select {
		case n.reports <- rep:
		default:
		}
	}))
	t.Cleanup(master.Close)
	n.cfg = Config{Driver: drv, Images: imgs, StateDir: t.TempDir(), Advertise: hostIP, ReadyTimeout: 2 * time.Minute,
		Master: func() *http.Client {
			return &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				return (&net.Dialer{}).DialContext(ctx, "tcp", master.Listener.Addr().String())
			}}}
		}}
	n.start(t)
	t.Cleanup(func() {
		n.stop()
		all, _ := drv.List(ctx, nil)
		for _, c := range all {
			drv.Remove(ctx, c.ID)
		}
		if err := drv.Purge(ctx); err != nil {
			t.Logf("purge: %v", err)
		}
		drv.Close()
	})
	return n
}

// start runs a manager (again) on the node's state: an agent (re)start.
func (n *node) start(t *testing.T) {
	mgr, err := New(n.cfg)
	if err != nil {
		t.Fatal(err)
	}
	n.mgr, n.mux = mgr, http.NewServeMux()
	mgr.Register(n.mux)
	ctx, cancel := context.WithCancel(context.Background())
	n.cancel, n.done = cancel, make(chan struct{})
	go func() { mgr.Run(ctx); close(n.done) }()
}

func (n *node) stop() {
	n.cancel()
	<-n.done
}

func (n *node) call(t *testing.T, method, path string, body io.Reader) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, path, body)
	w := httptest.NewRecorder()
	n.mux.ServeHTTP(w, req)
	return w
}

func (n *node) setDesired(t *testing.T, specs []proto.DBSpec) {
	t.Helper()
	b, _ := json.Marshal(specs)
	if w := n.call(t, "PUT", proto.PathDBs, bytes.NewReader(b)); w.Code != http.StatusNoContent {
		t.Fatalf("PUT %s: %d %s", proto.PathDBs, w.Code, w.Body)
	}
}

// waitReady waits until the manager reports every named database ready, and returns their ports.
func (n *node) waitReady(t *testing.T, names ...string) map[string]int {
	t.Helper()
	deadline := time.After(10 * time.Minute) // cold caches build the engine images first
	for {
		select {
		case rep := <-n.reports:
			ports, ready := map[string]int{}, 0
			for _, s := range rep.DBs {
				ports[s.Name] = s.HostPort
				for _, name := range names {
					if s.Name == name && s.State == proto.DBReady {
						ready++
					}
				}
				if s.State == proto.DBFailing && s.Restarts > 2 {
					t.Fatalf("database %s is failing: %s\n%s", s.Name, s.Error, s.LastLog)
				}
			}
			if ready == len(names) {
				return ports
			}
		case <-deadline:
			t.Fatalf("databases %v not ready within 10m (images built, servers started and provisioned)", names)
		}
	}
}

// eventually retries f for a while: a server that was just restarted may refuse a moment.
func eventually(t *testing.T, what string, f func() error) {
	t.Helper()
	var err error
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(300 * time.Millisecond) {
		if err = f(); err == nil {
			return
		}
	}
	t.Fatalf("%s: %v", what, err)
}

func expect(t *testing.T, c client, want string) {
	t.Helper()
	eventually(t, "read "+want, func() error {
		got, err := c.read(t)
		if err == nil && got != want {
			err = fmt.Errorf("read %q, want %q", got, want)
		}
		return err
	})
}

// TestEngines runs every engine for real, as a user would use it: provisioned on first start,
// reached with the real client and the generated credentials, data kept across a container
// restart and an agent restart, backed up, dropped, restored, and restored into a new database.
func TestEngines(t *testing.T) {
	requireContainerd(t)
	n := newNode(t)
	var specs []proto.DBSpec
	for _, e := range engines.All() {
		for _, prefix := range []string{"a-", "b-"} {
			specs = append(specs, proto.DBSpec{Name: prefix + e.Name, ID: fmt.Sprint(mrand.Int64()), Engine: e.Name,
				Password: password(), MemoryBytes: 256 << 20})
		}
	}
	n.setDesired(t, specs)
	var names []string
	for _, s := range specs {
		names = append(names, s.Name)
	}
	ports := n.waitReady(t, names...)
	clients := map[string]client{}
	for _, s := range specs {
		clients[s.Name] = clientFor(s.Engine, target{s.Name, s.Password, ports[s.Name]})
	}
	for _, e := range engines.All() {
		t.Run(e.Name, func(t *testing.T) {
			a, b := clients["a-"+e.Name], clients["b-"+e.Name]
			if err := a.write(t, "v1"); err != nil {
				t.Fatalf("write with the generated credentials: %v", err)
			}
			expect(t, a, "v1")

			// The credentials of one database do not open another.
			var aSpec, bSpec proto.DBSpec
			for _, s := range specs {
				switch s.Name {
				case "a-" + e.Name:
					aSpec = s
				case "b-" + e.Name:
					bSpec = s
				}
			}
			wrong := clientFor(e.Name, target{bSpec.Name, aSpec.Password, ports[bSpec.Name]})
			if err := wrong.write(t, "intruder"); err == nil {
				t.Errorf("a-%s's password opened b-%s", e.Name, e.Name)
			}

			backup := n.call(t, "POST", "/v1/dbs/a-"+e.Name+"/backup", nil)
			if backup.Code != http.StatusOK || backup.Result().Trailer.Get(proto.TrailerDBResult) != "ok" {
				t.Fatalf("backup: %d %q %s", backup.Code, backup.Result().Trailer.Get(proto.TrailerDBResult), backup.Body)
			}
			dump := backup.Body.Bytes()
			if len(dump) == 0 {
				t.Fatal("backup is empty")
			}
			if err := a.drop(t); err != nil {
				t.Fatalf("drop: %v", err)
			}
			if got, _ := a.read(t); got == "v1" {
				t.Fatal("the data is still there after dropping it: the test would prove nothing")
			}
			if w := n.call(t, "POST", "/v1/dbs/a-"+e.Name+"/restore", bytes.NewReader(dump)); w.Code != http.StatusNoContent {
				t.Fatalf("restore: %d %s", w.Code, w.Body)
			}
			expect(t, a, "v1")

			// Into another database, with its own name, user and password.
			if w := n.call(t, "POST", "/v1/dbs/b-"+e.Name+"/restore", bytes.NewReader(dump)); w.Code != http.StatusNoContent {
				t.Fatalf("restore into b-%s: %d %s", e.Name, w.Code, w.Body)
			}
			expect(t, b, "v1")

			// A dump that is not one is refused, and the data stays.
			if w := n.call(t, "POST", "/v1/dbs/a-"+e.Name+"/restore", strings.NewReader("not a dump at all")); w.Code == http.StatusNoContent {
				t.Errorf("restoring garbage succeeded")
			}
			expect(t, a, "v1")
		})
	}

	// Container restart: the manager starts it again; the data is on the volume.
	ctx := context.Background()
	for _, e := range engines.All() {
		if err := n.cfg.Driver.Stop(ctx, "db-a-"+e.Name, 20*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	for _, e := range engines.All() {
		expect(t, clients["a-"+e.Name], "v1")
	}

	// Agent restart: a new manager adopts the running containers, same ports.
	n.stop()
	n.start(t)
	if again := n.waitReady(t, names...); fmt.Sprint(again) != fmt.Sprint(ports) {
		t.Errorf("ports changed across an agent restart: %v, then %v", ports, again)
	}
	for _, e := range engines.All() {
		expect(t, clients["a-"+e.Name], "v1")
	}
}
