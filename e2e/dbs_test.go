package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/containerd/containerd/images"
	"github.com/containerd/containerd/images/archive"
	"github.com/containerd/containerd/namespaces"
	"github.com/containerd/containerd/platforms"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/miekg/dns"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"gasper/api"
	"gasper/engines"
	"gasper/internal/container"
	"gasper/internal/image"
	"gasper/internal/registrytest"
)

// dbClient is a user's real client for one database, with the credentials gasper printed.
type dbClient struct {
	t *testing.T
	d api.Database
}

func (c dbClient) hostPort() (string, string) {
	h, p, err := net.SplitHostPort(c.d.Address)
	if err != nil {
		c.t.Fatalf("database %s has no address: %+v", c.d.Name, c.d)
	}
	return h, p
}

func (c dbClient) run(env []string, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	s := strings.TrimSpace(string(out))
	if err == nil && (strings.HasPrefix(s, "ERR") || strings.HasPrefix(s, "NOAUTH") || strings.HasPrefix(s, "WRONGPASS")) {
		err = fmt.Errorf("%s", s)
	}
	if err != nil {
		return "", fmt.Errorf("%s: %v: %s", name, err, s)
	}
	return s, nil
}

// exec runs a statement (SQL; a redis command line) and returns its output.
func (c dbClient) exec(q string) (string, error) {
	h, p := c.hostPort()
	switch c.d.Engine {
	case "postgresql":
		return c.run([]string{"PGPASSWORD=" + c.d.Password}, "psql", "-X", "-q", "-h", h, "-p", p, "-U", c.d.User, "-d", c.d.DBName, "-tAc", q)
	case "mysql":
		return c.run([]string{"MYSQL_PWD=" + c.d.Password}, "mariadb", "-h", h, "-P", p, "-u", c.d.User, "-N", "-B", c.d.DBName, "-e", q)
	case "redis":
		return c.run([]string{"REDISCLI_AUTH=" + c.d.Password}, "redis-cli", append([]string{"-h", h, "-p", p}, strings.Fields(q)...)...)
	}
	c.t.Fatalf("no statement client for %s", c.d.Engine)
	return "", nil
}

func (c dbClient) mongo(f func(context.Context, *mongo.Collection) error) error {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	h, p := c.hostPort()
	uri := fmt.Sprintf("mongodb://%s:%s@%s/%s?authMechanism=SCRAM-SHA-256", c.d.User, c.d.Password, net.JoinHostPort(h, p), c.d.DBName)
	cl, err := mongo.Connect(options.Client().ApplyURI(uri).SetTimeout(10 * time.Second))
	if err != nil {
		return err
	}
	defer cl.Disconnect(ctx)
	return f(ctx, cl.Database(c.d.DBName).Collection("kv"))
}

func (c dbClient) write(v string) error {
	switch c.d.Engine {
	case "postgresql":
		_, err := c.exec("CREATE TABLE IF NOT EXISTS kv (k text primary key, v text); INSERT INTO kv VALUES ('k', '" + v + "') ON CONFLICT (k) DO UPDATE SET v = excluded.v")
		return err
	case "mysql":
		_, err := c.exec("CREATE TABLE IF NOT EXISTS kv (k varchar(64) primary key, v text); REPLACE INTO kv VALUES ('k', '" + v + "')")
		return err
	case "redis":
		_, err := c.exec("SET k " + v)
		return err
	}
	return c.mongo(func(ctx context.Context, co *mongo.Collection) error {
		_, err := co.ReplaceOne(ctx, bson.M{"_id": "k"}, bson.M{"_id": "k", "v": v}, options.Replace().SetUpsert(true))
		return err
	})
}

func (c dbClient) read() (string, error) {
	switch c.d.Engine {
	case "postgresql", "mysql":
		return c.exec("SELECT v FROM kv WHERE k = 'k'")
	case "redis":
		return c.exec("GET k")
	}
	var doc struct {
		V string `bson:"v"`
	}
	err := c.mongo(func(ctx context.Context, co *mongo.Collection) error {
		return co.FindOne(ctx, bson.M{"_id": "k"}).Decode(&doc)
	})
	if err == mongo.ErrNoDocuments {
		return "", nil
	}
	return doc.V, err
}

func (c dbClient) drop() error {
	switch c.d.Engine {
	case "postgresql", "mysql":
		_, err := c.exec("DROP TABLE kv")
		return err
	case "redis":
		_, err := c.exec("FLUSHALL")
		return err
	}
	return c.mongo(func(ctx context.Context, co *mongo.Collection) error { return co.Drop(ctx) })
}

// expectValue waits until the database reads want: a just restarted server may refuse a moment.
func (c dbClient) expectValue(want string) {
	c.t.Helper()
	var got string
	var err error
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(500 * time.Millisecond) {
		if got, err = c.read(); err == nil && got == want {
			return
		}
	}
	c.t.Fatalf("%s (%s): read %q (%v), want %q", c.d.Name, c.d.Engine, got, err, want)
}

func (c *cluster) dbJSON(args ...string) api.Database {
	c.t.Helper()
	var d api.Database
	out := c.ok("", append(args, "--json")...)
	if err := json.Unmarshal([]byte(out), &d); err != nil {
		c.t.Fatalf("gasper %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return d
}

// TestDatabases drives databases the way a user does, through the CLI, with the real clients:
// every engine is created, written, kept across an agent restart, backed up, dropped, restored,
// and restored into a new database on another node; a PostgreSQL database linked to a PHP app
// feeds its page; another user touches none of it; bad names are refused; no password is logged.
func TestDatabases(t *testing.T) {
	needContainerd(t)
	ip := testBridge(t)
	c := newCluster(t)
	c.login()
	// Apps reach databases by name: node1's DNS role must be on port 53 of an address containers reach.
	c.nets["node1"] = nodeNet{ns: fmt.Sprintf("gasper-e2e-dbs-%d", os.Getpid()), bridge: fmt.Sprintf("gd%d", os.Getpid()%100000),
		subnet: fmt.Sprintf("10.214.%d.0/24", nextSubnet()), http: net.JoinHostPort(ip, "80"), https: net.JoinHostPort(ip, "443"), dns: net.JoinHostPort(ip, "53")}
	nn, stateDir := c.nets["node1"], c.dir+"/node1"
	t.Cleanup(func() { cleanupNode(t, nn, stateDir) })
	tok := c.joinToken()
	c.agentRoles("node1", ip, tok, "app,db,proxy,dns")
	c.agentRoles("node2", "127.0.0.3", tok, "db")
	c.waitNode("node1", "ready", 60*time.Second)
	c.waitNode("node2", "ready", 60*time.Second)

	// Names with SQL or shell metacharacters never get past validation, in the CLI or the API.
	for _, name := range []string{"x'; DROP TABLE users; --", "$(touch /tmp/pwned)", "a b", "Upper", "x.y", strings.Repeat("a", 61)} {
		if _, errOut, code := c.gasper("", "db", "create", "postgresql", name); code != 2 || !strings.Contains(errOut, "name") {
			t.Errorf("gasper db create postgresql %q: exit %d, want 2 with a name error: %s", name, code, errOut)
		}
		if st, body := c.apiCall("POST", "/databases", api.CreateDatabaseRequest{Name: name, Engine: "postgresql"}); st != http.StatusBadRequest {
			t.Errorf("POST /databases %q: %d %s, want 400", name, st, body)
		}
	}
	if _, errOut, code := c.gasper("", "db", "create", "oracle", "x"); code != 2 || !strings.Contains(errOut, "postgresql") {
		t.Errorf("unknown engine: exit %d: %s", code, errOut)
	}

	clients := map[string]dbClient{}
	for _, e := range api.Engines {
		start := time.Now()
		d := c.dbJSON("db", "create", e, "e2e-"+e, "--node", "node1")
		if d.Status != api.DBReady || d.Password == "" || !strings.Contains(d.URL, d.Password) || d.Host != "e2e-"+e+".db.gasper.internal" ||
			!strings.Contains(d.URL, fmt.Sprintf("@%s:%d/", d.Host, d.Port)) {
			t.Fatalf("db create %s printed %+v", e, d)
		}
		cl := dbClient{t, d}
		if err := cl.write("v1"); err != nil {
			t.Fatalf("%s: write with the printed credentials: %v", e, err)
		}
		t.Logf("%s: created and written in %s", e, time.Since(start).Round(10*time.Millisecond))
		clients[e] = cl
	}
	if d := c.dbJSON("db", "info", "e2e-redis"); d.Password != "" || strings.Contains(d.URL, clients["redis"].d.Password) {
		t.Errorf("db info shows the password unasked: %+v", d)
	}
	if d := c.dbJSON("db", "info", "e2e-redis", "--show-password"); d.Password != clients["redis"].d.Password {
		t.Errorf("db info --show-password: %q, want the password from create", d.Password)
	}
	// The name resolves through the DNS role to the database's node.
	if rc, ips := lookup(t, nn.dns, "e2e-postgresql.db.gasper.internal"); rc != dns.RcodeSuccess || strings.Join(ips, ",") != ip {
		t.Errorf("e2e-postgresql.db.gasper.internal: rcode %d %v, want %s", rc, ips, ip)
	}
	// One database's credentials do not open another.
	wrong := clients["postgresql"]
	wrong.d.Password = clients["mysql"].d.Password
	if err := wrong.write("intruder"); err == nil {
		t.Error("mysql's password opened postgresql")
	}

	// An agent restart, and a server restart: the data stays.
	c.nodeProc["node1"].stop()
	c.agentRoles("node1", ip, "", "app,db,proxy,dns")
	c.waitNode("node1", "ready", 60*time.Second)
	c.ok("", "db", "restart", "e2e-mysql")
	for _, cl := range clients {
		cl.expectValue("v1")
	}
	// A master restart: databases keep serving meanwhile, and come back ready with the same
	// password (it is sealed in the master's database, not regenerated).
	c.master.stop()
	clients["postgresql"].expectValue("v1")
	c.startMaster()
	waitFor(t, 60*time.Second, "e2e-postgresql to be ready after the master's restart", func() bool {
		out, _, code := c.gasper("", "db", "info", "e2e-postgresql", "--json")
		return code == 0 && strings.Contains(out, `"status": "ready"`)
	})
	if d := c.dbJSON("db", "info", "e2e-postgresql", "--show-password"); d.Password != clients["postgresql"].d.Password {
		t.Errorf("the password changed across a master restart")
	}

	for _, e := range api.Engines {
		cl := clients[e]
		var b api.Backup
		if err := json.Unmarshal([]byte(c.ok("", "db", "backup", cl.d.Name, "--json")), &b); err != nil || b.ID == "" || b.Size == 0 {
			t.Fatalf("%s: backup: %v %+v", e, err, b)
		}
		if err := cl.drop(); err != nil {
			t.Fatalf("%s: drop: %v", e, err)
		}
		if got, _ := cl.read(); got == "v1" {
			t.Fatalf("%s: the value is still there after the drop", e)
		}
		c.ok("", "db", "restore", cl.d.Name, "--backup", b.ID)
		cl.expectValue("v1")
		// Into a new database on the other node, with its own credentials.
		cp := c.dbJSON("db", "restore", cl.d.Name, "--backup", b.ID, "--into", cl.d.Name+"-copy", "--node", "node2")
		if cp.NodeName != "node2" || cp.Password == "" || cp.Password == cl.d.Password {
			t.Fatalf("%s: restore --into printed %+v", e, cp)
		}
		dbClient{t, cp}.expectValue("v1")
	}
	dl := filepath.Join(t.TempDir(), "pg.dump")
	c.ok("", "db", "backup", "e2e-postgresql", "--download", dl)
	if fi, err := os.Stat(dl); err != nil || fi.Size() == 0 {
		t.Errorf("backup --download wrote nothing: %v", err)
	}

	// A linked app reads its greeting from the database, by the database's name.
	if _, err := clients["postgresql"].exec("CREATE TABLE greetings (id INT PRIMARY KEY, message TEXT); INSERT INTO greetings VALUES (1, 'hello from postgres')"); err != nil {
		t.Fatal(err)
	}
	c.ok("", "app", "create", "shop", "--from", copyExample(t, "php-db"), "--wait-timeout", "3m")
	c.ok("", "db", "link", "e2e-postgresql", "shop")
	var body string
	waitFor(t, 3*time.Minute, "the linked app to answer with the database's greeting", func() bool {
		var a api.App
		if json.Unmarshal([]byte(c.ok("", "app", "info", "shop", "--json")), &a) != nil || a.Address == "" {
			return false
		}
		_, body = get(t, a.Address)
		return strings.Contains(body, "hello from postgres")
	})
	if env := c.ok("", "app", "env", "list", "shop"); !strings.Contains(env, "DATABASE_URL") || !strings.Contains(env, "POSTGRES_URL") {
		t.Errorf("the linked app's env lacks DATABASE_URL or POSTGRES_URL:\n%s", env)
	}

	// Another user can neither see nor touch them.
	c.ok("eve-password-1", "user", "create", "eve@example.com", "--password-stdin")
	eve := t.TempDir()
	c.gasperAs(eve, "eve-password-1", "login", "--master", "http://"+c.api, "--email", "eve@example.com", "--password-stdin")
	for _, args := range [][]string{{"db", "info", "e2e-postgresql"}, {"db", "info", "e2e-postgresql", "--show-password"},
		{"db", "backup", "e2e-postgresql"}, {"db", "backups", "e2e-postgresql"}, {"db", "logs", "e2e-postgresql"},
		{"db", "restart", "e2e-postgresql"}, {"db", "link", "e2e-postgresql", "shop"}, {"db", "delete", "e2e-postgresql", "--yes"}} {
		if _, errOut, code := c.gasperAs(eve, "", args...); code != 5 {
			t.Errorf("eve: gasper %s: exit %d, want 5 (not found): %s", strings.Join(args, " "), code, errOut)
		}
	}
	if out, _, _ := c.gasperAs(eve, "", "db", "list", "--json"); strings.Contains(out, "e2e-") {
		t.Errorf("eve's db list shows the admin's databases: %s", out)
	}

	// Delete with its backups: gone, and its data with it.
	c.ok("", "db", "delete", "e2e-redis", "--with-backups", "--yes")
	if out := c.ok("", "db", "list", "--json"); strings.Contains(out, `"e2e-redis"`) {
		t.Errorf("e2e-redis still listed after delete")
	}
	waitFor(t, 30*time.Second, "the deleted database's data to be removed from its node", func() bool {
		m, _ := filepath.Glob(filepath.Join(c.dir, "node1", "dbs", "e2e-redis-d*"))
		return len(m) == 0
	})

	// No password reaches a log.
	logs := c.master.logText() + c.nodeProc["node1"].logText() + c.nodeProc["node2"].logText()
	for _, cl := range clients {
		if strings.Contains(logs, cl.d.Password) {
			t.Errorf("the password of %s is in a log", cl.d.Name)
		}
	}
}

// apiCall calls the REST API as the admin and returns the status and body.
func (c *cluster) apiCall(method, path string, body any) (int, string) {
	c.t.Helper()
	var s api.Session
	b, _ := json.Marshal(api.LoginRequest{Email: adminEmail, Password: adminPassword})
	resp, err := http.Post("http://"+c.api+api.Prefix+"/auth/login", "application/json", strings.NewReader(string(b)))
	if err != nil {
		c.t.Fatal(err)
	}
	json.NewDecoder(resp.Body).Decode(&s)
	resp.Body.Close()
	b, _ = json.Marshal(body)
	req, _ := http.NewRequest(method, "http://"+c.api+api.Prefix+path, strings.NewReader(string(b)))
	req.Header.Set("Authorization", "Bearer "+s.AccessToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	return resp.StatusCode, string(out)
}

// TestDatabaseImageFromRegistry: an operator points an engine at an image of their own, pulled
// from a registry (here one the test serves on loopback): new databases run from it.
func TestDatabaseImageFromRegistry(t *testing.T) {
	needContainerd(t)
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "http://")
	// The operator's image: the redis engine's image, carrying the engine's scripts, pushed
	// under a name of the operator's registry.
	ref := host + "/ops/redis:7"
	pushEngineImage(t, "redis", srv.URL, "ops/redis", "7")

	c := newCluster(t, "--db-image", "redis="+ref)
	c.agentArgs = []string{"--plain-http-registry", host}
	c.login()
	c.agentRoles("node1", "127.0.0.2", c.joinToken(), "db")
	c.waitNode("node1", "ready", 60*time.Second)
	d := c.dbJSON("db", "create", "redis", "ops-cache")
	cl := dbClient{t, d}
	if err := cl.write("from-the-operator-image"); err != nil {
		t.Fatal(err)
	}
	cl.expectValue("from-the-operator-image")

	ctx := context.Background()
	client, err := container.Connect(ctx, containerdSocket, c.nets["node1"].ns)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	ct, err := client.LoadContainer(ctx, "db-ops-cache")
	if err != nil {
		t.Fatal(err)
	}
	if info, err := ct.Info(ctx); err != nil || info.Image != ref {
		t.Errorf("the database runs from %q (%v), want the operator's %q", info.Image, err, ref)
	}
}

// pushEngineImage builds (or takes from the cache) an engine's image, exports it from containerd
// and pushes it to the registry at base as repo:tag.
func pushEngineImage(t *testing.T, engine, base, repo, tag string) {
	t.Helper()
	ctx := context.Background()
	ns := fmt.Sprintf("gasper-e2e-export-%d", os.Getpid())
	client, err := container.Connect(ctx, containerdSocket, ns)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	b, err := image.NewBuilder(image.Config{CacheDir: image.DefaultCacheDir, Client: client, Namespace: ns})
	if err != nil {
		t.Fatal(err)
	}
	e, _ := engines.Get(engine)
	name, err := b.Ensure(ctx, e.Recipe, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	nctx := namespaces.WithNamespace(ctx, ns)
	t.Cleanup(func() {
		client.ImageService().Delete(nctx, name, images.SynchronousDelete())
		// The namespace empties once containerd's GC has dropped the image's content.
		for try := 0; try < 40 && client.NamespaceService().Delete(nctx, ns) != nil; try++ {
			time.Sleep(250 * time.Millisecond)
		}
	})
	tarPath := filepath.Join(t.TempDir(), "image.tar")
	f, err := os.Create(tarPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := client.Export(nctx, f, archive.WithImage(client.ImageService(), name), archive.WithPlatform(platforms.Default())); err != nil {
		t.Fatalf("export %s: %v", name, err)
	}
	f.Close()
	img, err := tarball.ImageFromPath(tarPath, nil)
	if err != nil {
		t.Fatalf("read the exported %s: %v", name, err)
	}
	registrytest.Push(t, base, repo, tag, img)
}
