package engines

import "gasper/internal/image"

// ferretdbVersion is the FerretDB release the mongodb image builds.
const ferretdbVersion = "v1.24.2"

// MongoDB is served by FerretDB (MongoDB's wire protocol) with its SQLite storage in the same
// container: Debian does not package MongoDB. Authentication is enforced (SCRAM); the user is
// created at first start. FerretDB has no per-database authorisation, so one container per
// database is what keeps tenants apart. The SQLite handler keeps each MongoDB database in one
// file, so a backup is that file's SQL dump (read in one transaction: consistent), and a restore
// loads the dump into a new file that the start script puts in place, under the database's own
// name, before FerretDB starts.
func mongodb() Engine {
	const env = `DATA=` + DataDir + `/ferretdb
`
	start := prelude + env + `mkdir -p "$DATA/state"
if [ -f "$DATA/restore.sqlite" ]; then
	rm -f "$DATA/$GASPER_DB_NAME.sqlite" "$DATA/$GASPER_DB_NAME.sqlite-wal" "$DATA/$GASPER_DB_NAME.sqlite-shm"
	mv "$DATA/restore.sqlite" "$DATA/$GASPER_DB_NAME.sqlite"
	echo "gasper: loaded the restored dump"
fi
export FERRETDB_SETUP_PASSWORD="$PW"
exec ferretdb --handler=sqlite --sqlite-url="file:$DATA/" --state-dir="$DATA/state" \
	--listen-addr=0.0.0.0:27017 --telemetry=disable --log-level=warn --test-enable-new-auth \
	--setup-database="$GASPER_DB_NAME" --setup-username="$GASPER_DB_USER"
`
	// FerretDB listens once it has set up the database and the user.
	ready := prelude + env + `test -f "$DATA/$GASPER_DB_NAME.sqlite"
exec bash -c 'exec 3<>/dev/tcp/127.0.0.1/27017' 2>/dev/null
`
	backup := prelude + env + `exec sqlite3 "file:$DATA/$GASPER_DB_NAME.sqlite?mode=ro" .dump
`
	// Loaded into a new file first: a dump that does not load leaves the data alone.
	restore := prelude + env + `f="$DATA/restore.sqlite.part"
rm -f "$f"
sqlite3 -bail "$f" >/dev/null || { rm -f "$f"; echo "gasper: the dump does not load: not a backup of a mongodb database?" >&2; exit 2; }
mv "$f" "$DATA/restore.sqlite"
`
	build := `# FerretDB needs a newer Go than Debian has: the go command fetches that toolchain itself.
export GOTOOLCHAIN=auto GOPATH=/tmp/gobuild GOCACHE=/tmp/gobuild/cache GOFLAGS=-modcacherw CGO_ENABLED=0 SSL_CERT_FILE=` + image.HostCAPath + `
GO=$(echo /usr/lib/go-*/bin/go)
$GO mod download -json github.com/FerretDB/FerretDB@` + ferretdbVersion + ` > /tmp/download.json || { cat /tmp/download.json; exit 1; }
dir=$(sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p' /tmp/download.json)
cp -r "$dir" /tmp/ferretdb && chmod -R u+w /tmp/ferretdb
# The module zip lacks the version file the binary embeds.
echo ` + ferretdbVersion + ` > /tmp/ferretdb/build/version/version.txt
cd /tmp/ferretdb && $GO build -trimpath -ldflags=-s -o /usr/local/bin/ferretdb ./cmd/ferretdb
cd / && rm -rf /tmp/gobuild /tmp/ferretdb /tmp/download.json
apt-get purge -y --auto-remove golang-1.23-go >/dev/null`
	return Engine{
		Name: "mongodb", Port: 27017, Scheme: "mongodb", EnvVar: "MONGODB_URL", DumpExt: "sql", RestoreRestarts: true,
		URLQuery: "authMechanism=SCRAM-SHA-256",
		Recipe: image.Recipe{
			Name:        "db-mongodb",
			ExtraSuites: []string{"bookworm-backports"},
			Packages:    []string{"golang-1.23-go", "sqlite3", "bash"},
			Files:       common(start, ready, backup, restore),
			Run:         []string{build},
			HostCA:      true,
			Env:         []string{"LANG=C.UTF-8"},
			Cmd:         []string{StartCmd},
		},
	}
}
