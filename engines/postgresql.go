package engines

import "gasper/internal/image"

// PostgreSQL: the cluster belongs to the postgres superuser, reachable only over the container's
// unix socket (peer authentication); the user gets a login role that owns its database, over TCP
// with scram-sha-256. Backups are pg_dump's custom format, restored with pg_restore in one
// transaction as the user's role, so they load into a database of another name and user.
func postgresql() Engine {
	const env = `PGBIN=$(echo /usr/lib/postgresql/*/bin)
PGDATA=` + DataDir + `/pgdata
SOCK=/run/postgresql
`
	start := prelude + env + `mkdir -p "$SOCK" && chown postgres:postgres "$SOCK" ` + DataDir + `
if [ ! -s "$PGDATA/PG_VERSION" ]; then
	rm -rf "$PGDATA"
	` + asUser("postgres") + ` "$PGBIN/initdb" -D "$PGDATA" --username=postgres --auth-local=peer \
		--auth-host=scram-sha-256 --locale=C.UTF-8 --encoding=UTF8 >/dev/null
	printf 'host all all 0.0.0.0/0 scram-sha-256\nhost all all ::/0 scram-sha-256\n' >> "$PGDATA/pg_hba.conf"
	` + asUser("postgres") + ` "$PGBIN/pg_ctl" -D "$PGDATA" -w -o "-c listen_addresses= -c unix_socket_directories=$SOCK" start >/dev/null
	` + asUser("postgres") + ` psql -X -q -v ON_ERROR_STOP=1 -h "$SOCK" -d postgres \
		-v user="$GASPER_DB_USER" -v db="$GASPER_DB_NAME" -v pw="$PW" <<'SQL'
CREATE ROLE :"user" LOGIN PASSWORD :'pw';
CREATE DATABASE :"db" OWNER :"user";
REVOKE ALL ON DATABASE :"db" FROM PUBLIC;
GRANT CONNECT ON DATABASE :"db" TO :"user";
SQL
	` + asUser("postgres") + ` "$PGBIN/pg_ctl" -D "$PGDATA" -w stop >/dev/null
	echo "gasper: initialised database $GASPER_DB_NAME"
fi
exec ` + asUser("postgres") + ` "$PGBIN/postgres" -D "$PGDATA" -c listen_addresses='*' -c port=5432 \
	-c unix_socket_directories="$SOCK" -c shared_buffers=32MB
`
	// Over TCP with the user's own credentials: the first-run server listens on the socket only.
	ready := prelude + `PGPASSWORD="$PW" psql -X -q -h 127.0.0.1 -U "$GASPER_DB_USER" -d "$GASPER_DB_NAME" -tAc 'SELECT 1' >/dev/null
`
	backup := prelude + env + `exec ` + asUser("postgres") + ` pg_dump -h "$SOCK" -Fc -d "$GASPER_DB_NAME"
`
	restore := prelude + env + `exec ` + asUser("postgres") + ` pg_restore -h "$SOCK" --single-transaction --clean --if-exists \
	--no-owner --no-privileges --role="$GASPER_DB_USER" -d "$GASPER_DB_NAME"
`
	return Engine{
		Name: "postgresql", Port: 5432, Scheme: "postgres", EnvVar: "POSTGRES_URL", DumpExt: "pgdump",
		Recipe: image.Recipe{
			Name:     "db-postgresql",
			Files:    common(start, ready, backup, restore),
			Packages: []string{"postgresql"},
			// No default cluster: each database initialises its own on its volume.
			Run: []string{"rm -rf /var/lib/postgresql/* /etc/postgresql/*"},
			Env: []string{"LANG=C.UTF-8"},
			Cmd: []string{StartCmd},
		},
	}
}
