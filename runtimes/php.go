package runtimes

import "gasper/internal/image"

// PHP runs as php-fpm behind nginx, the way PHP is served in production,
// rather than with php -S (one request at a time). Both keep every runtime
// file under /tmp/gasper-php so the container may run as any user; as root,
// workers stay root (php-fpm needs -R for that) so the app can write to
// /app as it could in any other runtime.

const phpFPMConf = `; Gasper's php-fpm: one pool on a unix socket, logs to the container.
[global]
pid = /tmp/gasper-php/fpm.pid
error_log = /tmp/gasper-php/stderr
log_limit = 8192
daemonize = no

[app]
listen = /tmp/gasper-php/fpm.sock
; nginx's workers may run as another user.
listen.mode = 0666
pm = dynamic
pm.max_children = 8
pm.start_servers = 2
pm.min_spare_servers = 1
pm.max_spare_servers = 3
; The app reads its configuration (GREETING, DATABASE_URL...) from the
; environment, which fpm would otherwise clear.
clear_env = no
catch_workers_output = yes
decorate_workers_output = no
`

const phpNginxConf = `# Rendered by gasper-php-start: @PORT@, @ROOT@ and @USER@ are filled in.
@USER@
worker_processes 2;
pid /tmp/gasper-php/nginx.pid;
error_log stderr warn;
daemon off;

events {
    worker_connections 512;
}

http {
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    access_log /tmp/gasper-php/stdout;
    sendfile on;
    server_tokens off;
    client_max_body_size 64m;
    client_body_temp_path /tmp/gasper-php/body;
    fastcgi_temp_path /tmp/gasper-php/fastcgi;
    proxy_temp_path /tmp/gasper-php/proxy;
    uwsgi_temp_path /tmp/gasper-php/uwsgi;
    scgi_temp_path /tmp/gasper-php/scgi;

    server {
        listen @PORT@ default_server;
        root @ROOT@;
        index index.php index.html index.htm;

        # Dot files (.env, .git, .gasper) are never served.
        location ~ /\. {
            deny all;
        }
        location / {
            try_files $uri $uri/ /index.php$is_args$args;
        }
        location ~ \.php$ {
            try_files $fastcgi_script_name =404;
            include /etc/nginx/fastcgi_params;
            fastcgi_param SCRIPT_FILENAME $document_root$fastcgi_script_name;
            fastcgi_pass unix:/tmp/gasper-php/fpm.sock;
        }
    }
}
`

const phpStart = `#!/bin/sh
# Starts php-fpm in the background and nginx in the foreground on $PORT.
set -eu
port="${PORT:-8080}"
run=/tmp/gasper-php
mkdir -p "$run"
root=/app
# Frameworks (Laravel, Symfony, Slim) keep their front controller in public/.
if [ -f /app/public/index.php ]; then root=/app/public; fi
user=""
asroot=""
if [ "$(id -u)" = 0 ]; then
	user="user root root;"
	asroot="-R"
fi
sed -e "s|@PORT@|$port|g" -e "s|@ROOT@|$root|g" -e "s|@USER@|$user|g" \
	/etc/gasper/php/nginx.conf.in > "$run/nginx.conf"
rm -f "$run/fpm.sock" "$run/stdout" "$run/stderr"
# Daemons open their logs by path, and a user other than root may not
# reopen the container's stdout and stderr (/dev/stdout, /proc/self/fd/2):
# these pipes carry the logs there instead. A reader comes back whenever a
# log is reopened.
mkfifo -m 600 "$run/stdout" "$run/stderr"
while :; do cat "$run/stdout" || sleep 1; done &
while :; do cat "$run/stderr" || sleep 1; done >&2 &
php-fpm8.2 $asroot -F -y /etc/gasper/php/php-fpm.conf &
fpm=$!
# nginx would answer 502 until fpm listens.
i=0
while [ ! -S "$run/fpm.sock" ]; do
	i=$((i + 1))
	if [ "$i" -gt 300 ] || ! kill -0 $fpm 2>/dev/null; then
		echo "gasper-php-start: php-fpm did not start" >&2
		exit 1
	fi
	sleep 0.1
done
exec nginx -e stderr -c "$run/nginx.conf"
`

// php serves *.php through php-fpm and everything else as files.
func php() Runtime {
	return Runtime{
		Name:     "php",
		Markers:  []string{"index.php", "composer.json"},
		Priority: 80,
		Recipe: image.Recipe{
			Name: "php",
			// systemd-standalone-tmpfiles keeps php-fpm from pulling in all
			// of systemd; nginx is the core server nginx-light wraps.
			Packages: []string{"php-fpm", "php-cli", "php-mysql", "php-pgsql", "php-sqlite3", "php-curl", "php-mbstring", "php-xml", "nginx", "systemd-standalone-tmpfiles"},
			Files: []image.File{
				{Path: "/etc/gasper/php/php-fpm.conf", Mode: 0o644, Content: phpFPMConf},
				{Path: "/etc/gasper/php/nginx.conf.in", Mode: 0o644, Content: phpNginxConf},
				{Path: "/usr/local/bin/gasper-php-start", Mode: 0o755, Content: phpStart},
			},
			// The package's own site would listen on 80 if nginx were ever
			// started with its default configuration.
			Run: []string{"rm -f /etc/nginx/sites-enabled/default"},
		},
		StartCmd: "exec gasper-php-start",
		Port:     DefaultPort,
	}
}
