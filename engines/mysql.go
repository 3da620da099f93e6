package engines

import "gasper/internal/image"

// MySQL is MariaDB from Debian. root authenticates only over the container's socket; the user
// gets all privileges on its own database, over TCP. Backups are mariadb-dump of that one
// database in a single transaction (consistent for InnoDB), without a USE or CREATE DATABASE, so
// they load into a database of another name; DEFINER clauses are dropped on restore, since the
// definer may not exist there.
func mysql() Engine {
	const env = `DATADIR=` + DataDir + `/mysql
SOCK=/run/mysqld/mysqld.sock
`
	start := prelude + env + `mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld ` + DataDir + `
if [ ! -d "$DATADIR/mysql" ]; then
	rm -rf "$DATADIR"
	mariadb-install-db --user=mysql --datadir="$DATADIR" --auth-root-authentication-method=socket \
		--skip-test-db >/dev/null
	mariadbd --user=mysql --datadir="$DATADIR" --skip-networking --socket="$SOCK" &
	pid=$!
	i=0
	until mariadb-admin --socket="$SOCK" ping >/dev/null 2>&1; do
		i=$((i+1)); [ $i -lt 300 ] || { echo "gasper: mariadbd did not start for provisioning" >&2; exit 1; }
		sleep 0.1
	done
	mariadb --socket="$SOCK" -u root <<SQL
CREATE DATABASE \` + "`" + `$GASPER_DB_NAME\` + "`" + `;
CREATE USER '$GASPER_DB_USER'@'%' IDENTIFIED BY '$PW';
GRANT ALL PRIVILEGES ON \` + "`" + `$GASPER_DB_NAME\` + "`" + `.* TO '$GASPER_DB_USER'@'%';
FLUSH PRIVILEGES;
SQL
	mariadb-admin --socket="$SOCK" shutdown
	wait $pid || true
	echo "gasper: initialised database $GASPER_DB_NAME"
fi
exec mariadbd --user=mysql --datadir="$DATADIR" --socket="$SOCK" --bind-address=0.0.0.0 --port=3306 \
	--skip-name-resolve --innodb-buffer-pool-size=64M
`
	ready := prelude + `MYSQL_PWD="$PW" mariadb -h 127.0.0.1 -P 3306 -u "$GASPER_DB_USER" "$GASPER_DB_NAME" -e 'SELECT 1' >/dev/null
`
	backup := prelude + env + `exec mariadb-dump --socket="$SOCK" -u root --single-transaction --routines --triggers \
	--events --hex-blob "$GASPER_DB_NAME"
`
	restore := prelude + env + `sed -e 's/DEFINER=[^ ]*@[^ ]* //' | mariadb --socket="$SOCK" -u root "$GASPER_DB_NAME"
`
	return Engine{
		Name: "mysql", Port: 3306, Scheme: "mysql", EnvVar: "MYSQL_URL", DumpExt: "sql",
		Recipe: image.Recipe{
			Name:     "db-mysql",
			Files:    common(start, ready, backup, restore),
			Packages: []string{"mariadb-server", "mariadb-client"},
			// The package initialises a data directory in the image; each database has its own.
			Run: []string{"rm -rf /var/lib/mysql/*"},
			Env: []string{"LANG=C.UTF-8"},
			Cmd: []string{StartCmd},
		},
	}
}
