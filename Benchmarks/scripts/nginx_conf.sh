# Sourced by the benchmark harnesses (http_bench.sh, hosts_bench.sh): the one nginx configuration
# they share, so a rule of the harness holds in every benchmark that serves the corpus.
#
# write_nginx_conf DIR PORT NAME
#   Writes DIR/nginx.conf: one worker, no access log, keep-alive without limit, temporary files
#   under DIR, and one server on 127.0.0.1:PORT serving the corpus (being the only server, it
#   answers every Host name); a comment names NAME as the writer.
#
# Who nginx's workers run as. Started by root, nginx switches its workers to `nobody`, which cannot
# read a corpus inside a private checkout (a 0700 directory such as /root or one made by mktemp
# -d): every page would be 403. So the workers run as the invoking user, who can read everything
# the run uses: the `user` directive when root; otherwise nginx cannot switch users and the
# workers are the invoking user anyway (the directive would only draw a warning).
write_nginx_conf() {
    local dir=$1 port=$2 name=$3 nginx_user=""
    if [[ "$(id -u)" == 0 ]]; then
        nginx_user="user $(id -un) $(id -gn);"
    fi
    mkdir -p "${dir}"
    cat >"${dir}/nginx.conf" <<EOF
# Written by ${name} for one run.
${nginx_user}
worker_processes 1;
worker_rlimit_nofile 16384;
daemon off;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 8192; }
http {
    access_log off;
    sendfile on;
    keepalive_timeout 65;
    keepalive_requests 10000000;
    default_type application/octet-stream;
    types { text/html html; }
    client_body_temp_path ${dir}/body;
    proxy_temp_path ${dir}/proxy;
    fastcgi_temp_path ${dir}/fastcgi;
    uwsgi_temp_path ${dir}/uwsgi;
    scgi_temp_path ${dir}/scgi;
    server {
        listen 127.0.0.1:${port};
        root ${repo_root}/Benchmarks/.corpus/www;
    }
}
EOF
}
