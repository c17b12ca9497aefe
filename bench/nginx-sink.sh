#!/usr/bin/env bash
# The neutral push-service stand-in: Debian's nginx on 127.0.0.1:PORT with TLS + HTTP/2 and a
# self-signed certificate, one worker, `return 201` for every request, 1,000 concurrent
# streams, and connections never closed by request count (keepalive_requests), so what a
# broadcast measures is the sender. Each request is logged to DIR/access.log as
# `$msec $connection $server_protocol $status $request_uri` (herald-bench --nginx reads it).
#   bench/nginx-sink.sh DIR PORT      (runs in the foreground; stop it with SIGTERM)
# Needs nginx (apt-get install -y nginx-light) and openssl.
set -euo pipefail
dir=$1
port=$2
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
  -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1,DNS:localhost \
  -keyout "$dir/key.pem" -out "$dir/cert.pem" 2>/dev/null
cat >"$dir/nginx.conf" <<CONF
daemon off;
worker_processes 1;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 1024; }
http {
    client_body_temp_path $dir/body;
    proxy_temp_path $dir/proxy;
    fastcgi_temp_path $dir/fastcgi;
    uwsgi_temp_path $dir/uwsgi;
    scgi_temp_path $dir/scgi;
    log_format bench '\$msec \$connection \$server_protocol \$status \$request_uri';
    access_log $dir/access.log bench buffer=256k flush=100ms;
    keepalive_requests 10000000;
    keepalive_timeout 300s;
    http2_max_concurrent_streams 1000;
    client_max_body_size 8k;
    server {
        listen 127.0.0.1:$port ssl http2;
        ssl_certificate $dir/cert.pem;
        ssl_certificate_key $dir/key.pem;
        location / { return 201; }
    }
}
CONF
exec nginx -p "$dir" -c "$dir/nginx.conf"
