package engines

import "gasper/internal/image"

// Redis keeps an append-only file (fsync every second) and asks for the password on every
// connection. A backup is an RDB snapshot taken by redis-cli over the replication protocol
// (point-in-time consistent). A restore stages the RDB; the start script then loads it with the
// append-only file off and turns it back on, which rewrites the append-only file from the loaded
// data.
func redis() Engine {
	const env = `DATA=` + DataDir + `/redis
`
	start := prelude + env + `mkdir -p "$DATA" && chown redis:redis ` + DataDir + ` && chown -R redis:redis "$DATA"
if [ -f "$DATA/restore.rdb" ]; then
	rm -rf "$DATA/appendonlydir" "$DATA/dump.rdb"
	mv "$DATA/restore.rdb" "$DATA/dump.rdb"
	echo "gasper: loading the restored snapshot"
fi
AOF=yes
if [ ! -d "$DATA/appendonlydir" ] && [ -f "$DATA/dump.rdb" ]; then
	# Data only in a snapshot: load it, then write the append-only file from it.
	AOF=no
	(
		export REDISCLI_AUTH="$PW"
		i=0
		until redis-cli -p 6379 ping 2>/dev/null | grep -q PONG; do
			i=$((i+1)); [ $i -lt 600 ] || exit 1
			sleep 0.1
		done
		redis-cli -p 6379 config set appendonly yes >/dev/null
	) &
fi
umask 077
printf 'bind 0.0.0.0 -::*\nprotected-mode no\nport 6379\ndir %s\nappendonly %s\nappendfsync everysec\nsave 60 1\nrequirepass %s\n' \
	"$DATA" "$AOF" "$PW" > /tmp/redis.conf
chown redis:redis /tmp/redis.conf
exec ` + asUser("redis") + ` redis-server /tmp/redis.conf
`
	// The append-only file must be on again after a restore before the data counts as safe.
	ready := prelude + `REDISCLI_AUTH="$PW" redis-cli -p 6379 config get appendonly | grep -qx yes
`
	backup := prelude + `f=$(mktemp /tmp/backup.XXXXXX)
trap 'rm -f "$f"' EXIT
REDISCLI_AUTH="$PW" redis-cli -p 6379 --rdb "$f" >/dev/null
cat "$f"
`
	restore := prelude + env + `cat > "$DATA/restore.rdb.part"
redis-check-rdb "$DATA/restore.rdb.part" >/dev/null 2>&1 || { rm -f "$DATA/restore.rdb.part"; echo "gasper: not a valid redis snapshot" >&2; exit 2; }
mv "$DATA/restore.rdb.part" "$DATA/restore.rdb"
`
	return Engine{
		Name: "redis", Port: 6379, Scheme: "redis", EnvVar: "REDIS_URL", DumpExt: "rdb", RestoreRestarts: true,
		Recipe: image.Recipe{
			Name:     "db-redis",
			Files:    common(start, ready, backup, restore),
			Packages: []string{"redis-server"},
			Env:      []string{"LANG=C.UTF-8"},
			Cmd:      []string{StartCmd},
		},
	}
}
