// Command dbs measures databases on a running Gasper cloud (make up):
//
//   - per engine, the time from `gasper db create` to the first successful query with the real
//     client (median of -runs), beside the floor measured in the same run: the same engine image
//     started with containerd directly (internal/container: Create, Start) with the same start
//     script and volume, until the same query succeeds;
//   - each database container's memory once idle (its cgroup's memory.current);
//   - backup and restore of a PostgreSQL database of -size MiB through gasper, beside pg_dump and
//     pg_restore run directly against the same database.
//
// It uses the cloud the gasper CLI is logged in to, and for the floor its own containerd
// namespace, bridge and subnet on 127.0.1.9, removed at the end. It needs root and containerd.
//
//	make up && go run ./bench/dbs -runs 3
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"gasper/api"
	"gasper/engines"
	"gasper/internal/container"
	"gasper/internal/image"
)

const (
	socket    = "/run/containerd/containerd.sock"
	floorIP   = "127.0.1.9"
	floorNS   = "gasper-bench-dbs"
	nodeNS    = "gasper" // make up's node
	queryWait = 5 * time.Minute
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench/dbs:", err)
		os.Exit(1)
	}
}

type target struct{ engine, host, port, user, db, password string }

// query runs one trivial query with the engine's real client, authenticated.
func query(t target) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var cmd *exec.Cmd
	switch t.engine {
	case "postgresql":
		cmd = exec.CommandContext(ctx, "psql", "-X", "-q", "-h", t.host, "-p", t.port, "-U", t.user, "-d", t.db, "-tAc", "SELECT 1")
		cmd.Env = append(os.Environ(), "PGPASSWORD="+t.password, "PGCONNECT_TIMEOUT=2")
	case "mysql":
		cmd = exec.CommandContext(ctx, "mariadb", "-h", t.host, "-P", t.port, "-u", t.user, t.db, "-e", "SELECT 1")
		cmd.Env = append(os.Environ(), "MYSQL_PWD="+t.password)
	case "redis":
		cmd = exec.CommandContext(ctx, "redis-cli", "-h", t.host, "-p", t.port, "SET", "bench", "1")
		cmd.Env = append(os.Environ(), "REDISCLI_AUTH="+t.password)
	default:
		uri := fmt.Sprintf("mongodb://%s:%s@%s:%s/%s?authMechanism=SCRAM-SHA-256", t.user, t.password, t.host, t.port, t.db)
		cl, err := mongo.Connect(options.Client().ApplyURI(uri).SetTimeout(3 * time.Second))
		if err != nil {
			return err
		}
		defer cl.Disconnect(ctx)
		_, err = cl.Database(t.db).Collection("bench").InsertOne(ctx, bson.M{"x": 1})
		return err
	}
	out, err := cmd.CombinedOutput()
	if err == nil && strings.Contains(string(out), "ERR") {
		err = errors.New(string(out))
	}
	return err
}

func waitQuery(t target) error {
	deadline := time.Now().Add(queryWait)
	for {
		err := query(t)
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no successful %s query within %s: %w", t.engine, queryWait, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func gasper(args ...string) ([]byte, error) {
	out, err := exec.Command("gasper", args...).Output()
	if ee, ok := err.(*exec.ExitError); ok {
		return nil, fmt.Errorf("gasper %s: %v: %s", strings.Join(args, " "), err, ee.Stderr)
	}
	return out, err
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

func run() error {
	runs := flag.Int("runs", 3, "creations per engine (the median is reported)")
	list := flag.String("engines", strings.Join(api.Engines, ","), "engines to measure")
	sizeMiB := flag.Int("size", 100, "MiB of rows in the PostgreSQL database backed up and restored (0: skip)")
	flag.Parse()
	if _, err := os.Stat(socket); err != nil {
		fmt.Printf("bench/dbs: skipped: containerd is not running at %s\n", socket)
		return nil
	}
	if _, err := gasper("whoami"); err != nil {
		return fmt.Errorf("the gasper CLI is not logged in to a cloud (run make up first): %w", err)
	}
	ctx := context.Background()
	floor, err := newFloor(ctx)
	if err != nil {
		return err
	}
	defer floor.close(ctx)

	fmt.Printf("%-11s %12s %12s %7s %14s\n", "engine", "gasper", "floor", "ratio", "idle memory")
	for _, name := range strings.Split(*list, ",") {
		e, ok := engines.Get(name)
		if !ok {
			return fmt.Errorf("no engine %q", name)
		}
		var g, f []time.Duration
		var mem uint64
		for i := range *runs {
			d, took, err := create(e.Name, fmt.Sprintf("bench-%s-%d", e.Name, i))
			if err != nil {
				return err
			}
			g = append(g, took)
			if i == 0 {
				time.Sleep(10 * time.Second) // idle
				mem, _ = memoryOf(ctx, "db-"+d.Name)
			}
			gasper("db", "delete", d.Name, "--yes", "--with-backups")
			ft, err := floor.start(ctx, e, i)
			if err != nil {
				return err
			}
			f = append(f, ft)
		}
		gm, fm := median(g), median(f)
		fmt.Printf("%-11s %12s %12s %6.2fx %10.1f MiB\n", e.Name, gm.Round(time.Millisecond), fm.Round(time.Millisecond),
			float64(gm)/float64(fm), float64(mem)/(1<<20))
	}
	if *sizeMiB > 0 {
		return backupBench(*sizeMiB)
	}
	return nil
}

// create times `gasper db create` (which waits until ready) and the first query after it.
func create(engine, name string) (api.Database, time.Duration, error) {
	start := time.Now()
	out, err := gasper("db", "create", engine, name, "--json")
	if err != nil {
		return api.Database{}, 0, err
	}
	var d api.Database
	if err := json.Unmarshal(out, &d); err != nil {
		return d, 0, err
	}
	host, port, _ := strings.Cut(d.Address, ":")
	if err := waitQuery(target{engine, host, port, d.User, d.DBName, d.Password}); err != nil {
		return d, 0, err
	}
	return d, time.Since(start), nil
}

// memoryOf reads a container's cgroup memory use on the make-up node.
func memoryOf(ctx context.Context, id string) (uint64, error) {
	c, err := container.Connect(ctx, socket, nodeNS)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	ct, err := c.LoadContainer(ctx, id)
	if err != nil {
		return 0, err
	}
	tk, err := ct.Task(ctx, nil)
	if err != nil {
		return 0, err
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", tk.Pid()))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		parts := strings.SplitN(line, ":", 3)
		var p string
		switch {
		case len(parts) == 3 && parts[0] == "0" && parts[1] == "":
			p = filepath.Join("/sys/fs/cgroup", parts[2], "memory.current")
		case len(parts) == 3 && strings.Contains(parts[1], "memory"):
			p = filepath.Join("/sys/fs/cgroup/memory", parts[2], "memory.usage_in_bytes")
		default:
			continue
		}
		v, err := os.ReadFile(p)
		if err != nil {
			return 0, err
		}
		return strconv.ParseUint(strings.TrimSpace(string(v)), 10, 64)
	}
	return 0, errors.New("no memory cgroup")
}

// floor runs engine containers with containerd directly.
type floor struct {
	drv  *container.Driver
	imgs *image.Builder
	dir  string
}

func newFloor(ctx context.Context) (*floor, error) {
	dir, err := os.MkdirTemp("", "gasper-bench-dbs-")
	if err != nil {
		return nil, err
	}
	drv, err := container.New(ctx, container.Config{Socket: socket, Namespace: floorNS, StateDir: filepath.Join(dir, "containers"),
		Bridge: "gbdb0", Subnet: "10.211.0.0/24", HostIP: floorIP, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return nil, err
	}
	imgs, err := image.NewBuilder(image.Config{CacheDir: image.DefaultCacheDir, Client: drv.Client(), Namespace: floorNS})
	if err != nil {
		return nil, err
	}
	return &floor{drv: drv, imgs: imgs, dir: dir}, nil
}

// start times Create and Start of the engine's container to the first query.
func (f *floor) start(ctx context.Context, e engines.Engine, i int) (time.Duration, error) {
	img, err := f.imgs.Ensure(ctx, e.Recipe, io.Discard)
	if err != nil {
		return 0, err
	}
	id := fmt.Sprintf("floor-%s-%d", e.Name, i)
	data := filepath.Join(f.dir, id)
	const pw = "floorPassword123"
	if err := os.MkdirAll(data, 0o700); err != nil {
		return 0, err
	}
	if err := os.WriteFile(data+".pw", []byte(pw), 0o600); err != nil {
		return 0, err
	}
	start := time.Now()
	err = f.drv.Create(ctx, container.Spec{ID: id, Image: img, Args: []string{engines.StartCmd}, Env: e.Env(id),
		MemoryBytes: 256 << 20, Ports: []container.Port{{ContainerPort: e.Port}}, Init: true,
		Mounts: []container.Mount{{Source: data, Target: engines.DataDir}, {Source: data + ".pw", Target: engines.PasswordFile, ReadOnly: true}}})
	if err != nil {
		return 0, err
	}
	defer f.drv.Remove(ctx, id)
	st, err := f.drv.Start(ctx, id)
	if err != nil {
		return 0, err
	}
	user := engines.DBName(id)
	db := user
	if e.Name == "redis" {
		user = "default"
	}
	if err := waitQuery(target{e.Name, floorIP, strconv.Itoa(st.Ports[0].HostPort), user, db, pw}); err != nil {
		return 0, err
	}
	return time.Since(start), nil
}

func (f *floor) close(ctx context.Context) {
	all, _ := f.drv.List(ctx, nil)
	for _, c := range all {
		f.drv.Remove(ctx, c.ID)
	}
	if err := f.drv.Purge(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "bench/dbs: purge:", err)
	}
	f.drv.Close()
	os.RemoveAll(f.dir)
}

// backupBench fills a PostgreSQL database and times gasper's backup and restore beside pg_dump
// and pg_restore run directly over TCP against the same database.
func backupBench(sizeMiB int) error {
	const name = "bench-pg-backup"
	d, _, err := create("postgresql", name)
	if err != nil {
		return err
	}
	defer gasper("db", "delete", name, "--yes", "--with-backups")
	host, port, _ := strings.Cut(d.Address, ":")
	env := append(os.Environ(), "PGPASSWORD="+d.Password)
	psql := func(args ...string) error {
		cmd := exec.Command("psql", append([]string{"-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", host, "-p", port, "-U", d.User, "-d", d.DBName}, args...)...)
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		if err != nil {
			return fmt.Errorf("psql: %v: %s", err, out)
		}
		return nil
	}
	// Rows of ~1 KiB of random text (incompressible enough to be honest about throughput).
	rows := sizeMiB * 1024
	if err := psql("-c", fmt.Sprintf(`CREATE TABLE blob AS SELECT g AS id, (SELECT string_agg(md5(random()::text), '') FROM generate_series(1, 32)) || g AS body FROM generate_series(1, %d) g`, rows)); err != nil {
		return err
	}
	start := time.Now()
	out, err := gasper("db", "backup", name, "--json")
	if err != nil {
		return err
	}
	gBackup := time.Since(start)
	var b api.Backup
	if err := json.Unmarshal(out, &b); err != nil {
		return err
	}
	start = time.Now()
	if _, err := gasper("db", "restore", name, "--backup", b.ID); err != nil {
		return err
	}
	gRestore := time.Since(start)

	dump := filepath.Join(os.TempDir(), "gasper-bench-pg.dump")
	defer os.Remove(dump)
	start = time.Now()
	cmd := exec.Command("pg_dump", "-Fc", "-h", host, "-p", port, "-U", d.User, "-d", d.DBName, "-f", dump)
	cmd.Env = env
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("pg_dump: %v: %s", err, out)
	}
	dBackup := time.Since(start)
	start = time.Now()
	cmd = exec.Command("pg_restore", "--single-transaction", "--clean", "--if-exists", "--no-owner", "-h", host, "-p", port, "-U", d.User, "-d", d.DBName, dump)
	cmd.Env = env
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("pg_restore: %v: %s", err, out)
	}
	dRestore := time.Since(start)
	mbps := func(t time.Duration) float64 { return float64(sizeMiB) / t.Seconds() }
	fmt.Printf("\nPostgreSQL, %d MiB of rows (dump %.1f MiB):\n", sizeMiB, float64(b.Size)/(1<<20))
	fmt.Printf("  backup:  gasper %s (%.1f MiB/s), pg_dump %s (%.1f MiB/s), ratio %.2fx\n",
		gBackup.Round(time.Millisecond), mbps(gBackup), dBackup.Round(time.Millisecond), mbps(dBackup), float64(gBackup)/float64(dBackup))
	fmt.Printf("  restore: gasper %s (%.1f MiB/s), pg_restore %s (%.1f MiB/s), ratio %.2fx\n",
		gRestore.Round(time.Millisecond), mbps(gRestore), dRestore.Round(time.Millisecond), mbps(dRestore), float64(gRestore)/float64(dRestore))
	return nil
}
