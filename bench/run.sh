#!/bin/bash
# The comparison benchmark: docker-policy-proxy against HAProxy (configured
# like Tecnativa's docker-socket-proxy) and the direct upstream, interleaved
# in one run, written to bench/results.md. See bench/README.md.
#
# Usage: bench/run.sh            (as root for package installation; needs a
#                                 running dockerd for the stream, exec and
#                                 real-daemon sections)
# Environment (all optional):
#   DUR=5          seconds per small-request run
#   ROUNDS=3       interleaved rounds (medians are taken over them)
#   CONNS=32       wrk connections
#   STREAM_MIB=1024  size of the archive GET/PUT and image save/load
#   STREAM_ROUNDS=$ROUNDS  rounds of the stream section (long: 1 GiB each way)
#   EXEC_N=100 EXEC_MIB=10  parallel exec -i sessions and MiB piped by each
#   IDLE=1000 EVENTS=200    idle keep-alive connections and /events streams
#   SECTIONS="small create docker conns streams exec startup rules console"  what to run
#   BIN=build/docker-policy-proxy   the proxy binary (build/ is always brought up to date, release)
#   OUT=bench/results.md
#   MERGE_RAW=FILE  add the raw runs of an earlier invocation (results.tsv) to the report
#   RUN_NOTE=TEXT   a paragraph for the report's head (where merged runs come from)
set -uo pipefail
cd "$(dirname "$0")/.."
REPO=$(pwd)
. scripts/lib.sh

DUR=${DUR:-5}
ROUNDS=${ROUNDS:-3}
CONNS=${CONNS:-32}
STREAM_MIB=${STREAM_MIB:-1024}
STREAM_ROUNDS=${STREAM_ROUNDS:-$ROUNDS}
EXEC_N=${EXEC_N:-100}
EXEC_MIB=${EXEC_MIB:-10}
IDLE=${IDLE:-1000}
EVENTS=${EVENTS:-200}
SECTIONS=${SECTIONS:-"small create docker conns streams exec startup rules console"}
BIN=${BIN:-$REPO/build/docker-policy-proxy}
OUT=${OUT:-$REPO/bench/results.md}
DOCKER_SOCK=${DOCKER_SOCKET:-/var/run/docker.sock}
PY=/usr/bin/python3

say() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
want() { case " $SECTIONS " in *" $1 "*) return 0 ;; esac; return 1; }

# shellcheck disable=SC2086 # a word list
dpp_install wrk haproxy nginx-light socat curl python3 busybox-static $DPP_BUILD_PKGS || exit 1
if [ "$BIN" = "$REPO/build/docker-policy-proxy" ]; then
	# Always brought up to date (a stale build would be labelled with HEAD's
	# commit); never a sanitizer build.
	say "building the proxy (release, build/)"
	if ! { cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DDPP_SANITIZE=OFF -DDPP_TSAN=OFF >"/tmp/dpp-bench-build.$$.log" 2>&1 &&
		cmake --build build -j"$(nproc)" --target docker-policy-proxy >>"/tmp/dpp-bench-build.$$.log" 2>&1; }; then
		say "the build failed:"
		tail -20 "/tmp/dpp-bench-build.$$.log" >&2
		exit 1
	fi
	rm -f "/tmp/dpp-bench-build.$$.log"
elif [ ! -x "$BIN" ]; then
	say "BIN=$BIN is not an executable"
	exit 1
fi

COMMIT=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
DIRTY=$(git status --porcelain --untracked-files=no 2>/dev/null | grep -q . && echo " (with uncommitted changes)")
W=$(mktemp -d /tmp/dpp-bench.XXXXXX)
RAW=$W/raw.tsv   # section  target  metric  value   (one line per measurement)
: >"$RAW"
PIDS=()
CID=""
IMG=dpp-bench:1
cleanup() {
	local p
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
	if [ -n "$CID" ]; then
		docker -H "unix://$DOCKER_SOCK" rm -f "$CID" >/dev/null 2>&1
	fi
	docker -H "unix://$DOCKER_SOCK" rmi -f dpp-bench-saved:1 >/dev/null 2>&1
	[ "${KEEP:-0}" = 1 ] || rm -rf "$W"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_http() { # URL: up to 10 s
	for _ in $(seq 1 100); do
		curl -s -o /dev/null --max-time 1 "$1" && return 0
		sleep 0.1
	done
	return 1
}
rec() { printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" >>"$RAW"; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
# Busy ticks of the whole machine (user, nice, system, irq, softirq, steal; not idle or iowait).
machine_ticks() { awk '$1 == "cpu" {print $2 + $3 + $4 + $7 + $8 + $9; exit}' /proc/stat; }

# ---------------------------------------------------------------- upstreams
NGX_SOCK=$W/nginx.sock
NGX_PORT=$(free_port)
mkdir -p "$W/nginx"
cat >"$W/nginx.conf" <<EOF
worker_processes 1;
daemon off;
pid $W/nginx.pid;
error_log $W/nginx.err warn;
events { worker_connections 8192; }
http {
  access_log off;
  keepalive_requests 10000000;
  client_body_temp_path $W/nginx;
  proxy_temp_path $W/nginx;
  fastcgi_temp_path $W/nginx;
  uwsgi_temp_path $W/nginx;
  scgi_temp_path $W/nginx;
  server {
    listen unix:$NGX_SOCK;
    listen 127.0.0.1:$NGX_PORT;
    default_type application/json;
    location ~ ^(/v[0-9.]+)?/_ping\$ { default_type text/plain; return 200 'OK'; }
    location ~ ^(/v[0-9.]+)?/version\$ { return 200 '{"Platform":{"Name":"Docker Engine - Community"},"Version":"20.10.24","ApiVersion":"1.41","MinAPIVersion":"1.12","GitCommit":"5d6db84","GoVersion":"go1.19.7","Os":"linux","Arch":"amd64","KernelVersion":"6.1.0","BuildTime":"2023-03-28T00:00:00.000000000+00:00"}'; }
    location ~ ^(/v[0-9.]+)?/containers/json\$ { return 200 '[{"Id":"8dfafdbc3a40","Names":["/boring_feynman"],"Image":"busybox","ImageID":"sha256:e7d168d7db45","Command":"sh","Created":1367854155,"State":"running","Status":"Up 2 hours","Ports":[],"Labels":{"com.example.vendor":"Acme"},"SizeRw":12288,"HostConfig":{"NetworkMode":"default"},"NetworkSettings":{"Networks":{"bridge":{"IPAddress":"172.17.0.2"}}},"Mounts":[]}]'; }
    location ~ ^(/v[0-9.]+)?/containers/create\$ { client_body_buffer_size 64k; return 201 '{"Id":"e90e34656806","Warnings":[]}'; }
    location / { return 404 '{"message":"page not found"}'; }
  }
}
EOF
nginx -c "$W/nginx.conf" &
PIDS+=($!)

# HAProxy as Tecnativa's docker-socket-proxy configures it
# (https://github.com/Tecnativa/docker-socket-proxy, haproxy.cfg): one
# path-regex ACL per API section, GET only unless POST is enabled, the rest
# denied, `option http-server-close`, default threads. Here the sections a
# typical deployment enables are on, and POST is on (container create).
haproxy_cfg() { # PORT SERVER_SOCKET FILE
	cat >"$3" <<EOF
global
    maxconn 4000
defaults
    mode http
    option http-server-close
    timeout http-request 10s
    timeout queue 1m
    timeout connect 10s
    timeout client 10m
    timeout server 10m
    timeout http-keep-alive 10s
    maxconn 3000
backend dockerbackend
    server dockersocket $2
frontend dockerfrontend
    bind 127.0.0.1:$1
    http-request deny unless METH_GET || { env(POST) -m bool }
EOF
	local s on
	for s in auth build commit configs containers distribution events exec images info \
		networks nodes _ping plugins secrets services session swarm system tasks version volumes; do
		case $s in containers | events | exec | images | info | networks | _ping | version | volumes) on=1 ;; *) on=0 ;; esac
		[ $on = 1 ] || continue
		printf '    http-request allow if { path,url_dec -m reg -i ^(/v[\\d\\.]+)?/%s }\n' "$s" >>"$3"
	done
	printf '    http-request deny\n    default_backend dockerbackend\n' >>"$3"
}
HA_PORT=$(free_port)
haproxy_cfg "$HA_PORT" "$NGX_SOCK" "$W/haproxy.cfg"
POST=1 haproxy -f "$W/haproxy.cfg" -db >"$W/haproxy.log" 2>&1 &
HA_PID=$!
PIDS+=($HA_PID)

start_proxy() { # NAME RULES UPSTREAM_SOCKET -> sets P_<NAME>_PORT/PID
	local port cfg
	port=$(free_port)
	cfg=$W/proxy-$1.yaml
	"$PY" bench/gen_config.py "$2" "$3" "$port" >"$cfg" || return 1
	"$BIN" -c "$cfg" --headless >"$W/proxy-$1.log" 2>&1 &
	PIDS+=($!)
	printf -v "P_${1}_PORT" '%s' "$port"
	printf -v "P_${1}_PID" '%s' "$!"
}
start_proxy r0 0 "$NGX_SOCK"
start_proxy r20 20 "$NGX_SOCK"
start_proxy r1000 1000 "$NGX_SOCK"
for u in "http://127.0.0.1:$NGX_PORT/_ping" "http://127.0.0.1:$HA_PORT/_ping" \
	"http://127.0.0.1:$P_r0_PORT/_ping" "http://127.0.0.1:$P_r20_PORT/_ping" \
	"http://127.0.0.1:$P_r1000_PORT/_ping"; do
	wait_http "$u" || { say "not answering: $u"; exit 1; }
done
say "comparison set up: nginx :$NGX_PORT (and $NGX_SOCK), haproxy :$HA_PORT, proxy :$P_r0_PORT/:$P_r20_PORT/:$P_r1000_PORT (0/20/1000 rules)"

# wrk_run SECTION TARGET URL PID [wrk args...]: one run, recorded.
wrk_run() {
	local sec=$1 tgt=$2 url=$3 pid=$4 out t0 t1 n
	shift 4
	local m0 m1
	t0=$(cpu_ticks "$pid")
	m0=$(machine_ticks)
	out=$(wrk -t2 -c"$CONNS" -d"${DUR}s" --latency "$@" "$url" 2>&1)
	m1=$(machine_ticks)
	t1=$(cpu_ticks "$pid")
	n=$(awk '/requests in/ {print $1}' <<<"$out")
	if [ -z "$n" ] || [ "$n" = 0 ]; then
		say "$tgt: wrk failed: $(tail -2 <<<"$out")"
		return 1
	fi
	if grep -q "Non-2xx" <<<"$out"; then
		say "$tgt: non-2xx answers: $(grep Non-2xx <<<"$out")"
		rec "$sec" "$tgt" non2xx 1
	fi
	rec "$sec" "$tgt" rps "$(awk '/Requests\/sec/ {print $2}' <<<"$out")"
	rec "$sec" "$tgt" p50_us "$(awk '$1=="50%" {print $2}' <<<"$out" | to_us)"
	rec "$sec" "$tgt" p99_us "$(awk '$1=="99%" {print $2}' <<<"$out" | to_us)"
	# Every process's CPU (wrk, the upstream, the proxy, the rest of the machine):
	# on 2 saturated cores, req/s is about 2 s / this.
	rec "$sec" "$tgt" machine_cpu_us_per_req "$(awk -v d=$((m1 - m0)) -v n="$n" 'BEGIN {printf "%.1f", d * 10000 / n}')"
	[ "$pid" = 0 ] || rec "$sec" "$tgt" cpu_us_per_req "$(awk -v d=$((t1 - t0)) -v n="$n" 'BEGIN {printf "%.1f", d * 10000 / n}')"
	say "  $tgt: $(awk '/Requests\/sec/ {print $2}' <<<"$out") req/s, p99 $(awk '$1=="99%" {print $2}' <<<"$out")"
}
to_us() { awk '{v=$1; if (v ~ /us$/) {sub(/us$/,"",v); print v} else if (v ~ /ms$/) {sub(/ms$/,"",v); print v*1000} else if (v ~ /s$/) {sub(/s$/,"",v); print v*1000000}}'; }

# ------------------------------------------------------ small requests
if want small; then
	URLP=/v1.41/containers/json
	for r in $(seq 1 "$ROUNDS"); do
		say "small requests, round $r/$ROUNDS (${DUR}s each, $CONNS connections)"
		wrk_run small direct "http://127.0.0.1:$NGX_PORT$URLP" 0
		wrk_run small haproxy "http://127.0.0.1:$HA_PORT$URLP" "$HA_PID"
		wrk_run small proxy0 "http://127.0.0.1:$P_r0_PORT$URLP" "$P_r0_PID"
		wrk_run small proxy20 "http://127.0.0.1:$P_r20_PORT$URLP" "$P_r20_PID"
		wrk_run small proxy1000 "http://127.0.0.1:$P_r1000_PORT$URLP" "$P_r1000_PID"
	done
fi

# ------------------------------------------------------ container create, 2 KiB body
if want create; then
	"$PY" - "$W/create.lua" <<'EOF'
import json, sys
env = ["VAR%03d=%s" % (i, "x" * 20) for i in range(60)]
body = {"Image": "busybox", "Cmd": ["sh", "-c", "true"], "Env": env,
        "Labels": {"com.example.team": "bench"},
        "HostConfig": {"Privileged": False, "Binds": None, "NetworkMode": "none"}}
i = 0
while len(json.dumps(body)) < 2048:  # pad with labels (real container config)
    body["Labels"]["com.example.label%02d" % i] = "v" * 16
    i += 1
s = json.dumps(body)
open(sys.argv[1], "w").write(
    'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
    'wrk.body = [[' + s + ']]\n')
EOF
	for r in $(seq 1 "$ROUNDS"); do
		say "container create (2 KiB JSON body), round $r/$ROUNDS"
		wrk_run create direct "http://127.0.0.1:$NGX_PORT/v1.41/containers/create" 0 -s "$W/create.lua"
		wrk_run create haproxy "http://127.0.0.1:$HA_PORT/v1.41/containers/create" "$HA_PID" -s "$W/create.lua"
		wrk_run create proxy20 "http://127.0.0.1:$P_r20_PORT/v1.41/containers/create" "$P_r20_PID" -s "$W/create.lua"
		wrk_run create proxy1000 "http://127.0.0.1:$P_r1000_PORT/v1.41/containers/create" "$P_r1000_PID" -s "$W/create.lua"
	done
fi

# ------------------------------------------------------ the real dockerd
DOCKER_OK=0
curl -fsS --max-time 3 --unix-socket "$DOCKER_SOCK" http://docker/_ping >/dev/null 2>&1 && DOCKER_OK=1
if [ $DOCKER_OK = 1 ]; then
	RELAY_PORT=$(free_port)
	socat TCP-LISTEN:"$RELAY_PORT",bind=127.0.0.1,reuseaddr,fork UNIX-CONNECT:"$DOCKER_SOCK" &
	PIDS+=($!)
	HD_PORT=$(free_port)
	haproxy_cfg "$HD_PORT" "$DOCKER_SOCK" "$W/haproxy-docker.cfg"
	POST=1 haproxy -f "$W/haproxy-docker.cfg" -db >"$W/haproxy-docker.log" 2>&1 &
	HD_PID=$!
	PIDS+=($HD_PID)
	start_proxy d0 0 "$DOCKER_SOCK"
	start_proxy d20 20 "$DOCKER_SOCK"
	for u in "http://127.0.0.1:$RELAY_PORT/_ping" "http://127.0.0.1:$HD_PORT/_ping" \
		"http://127.0.0.1:$P_d0_PORT/_ping" "http://127.0.0.1:$P_d20_PORT/_ping"; do
		wait_http "$u" || { say "not answering: $u"; DOCKER_OK=0; }
	done
else
	say "no dockerd answers on $DOCKER_SOCK: real-daemon, stream and exec sections skipped"
fi

if want docker && [ $DOCKER_OK = 1 ]; then
	for r in $(seq 1 "$ROUNDS"); do
		for ep in /_ping /v1.41/version /v1.41/containers/json; do
			say "real dockerd $ep, round $r/$ROUNDS"
			wrk_run "docker$ep" direct "http://127.0.0.1:$RELAY_PORT$ep" 0
			wrk_run "docker$ep" haproxy "http://127.0.0.1:$HD_PORT$ep" "$HD_PID"
			wrk_run "docker$ep" proxy20 "http://127.0.0.1:$P_d20_PORT$ep" "$P_d20_PID"
		done
	done
fi

# ------------------------------------------------------ idle connections + event streams
if want conns; then
	MOCK_SOCK=$W/mock.sock
	"$PY" bench/mock_upstream.py "$MOCK_SOCK" &
	PIDS+=($!)
	for _ in $(seq 1 50); do [ -S "$MOCK_SOCK" ] && break; sleep 0.1; done
	start_proxy m0 0 "$MOCK_SOCK"
	HM_PORT=$(free_port)
	haproxy_cfg "$HM_PORT" "$MOCK_SOCK" "$W/haproxy-mock.cfg"
	POST=1 haproxy -f "$W/haproxy-mock.cfg" -db >"$W/haproxy-mock.log" 2>&1 &
	HM_PID=$!
	PIDS+=($HM_PID)
	wait_http "http://127.0.0.1:$P_m0_PORT/_ping" && wait_http "http://127.0.0.1:$HM_PORT/_ping"
	for tgt in proxy haproxy; do
		if [ $tgt = proxy ]; then port=$P_m0_PORT pid=$P_m0_PID; else port=$HM_PORT pid=$HM_PID; fi
		say "$IDLE idle keep-alive connections + $EVENTS /events streams against $tgt"
		line=$("$PY" bench/conns.py "$port" "$pid" "$IDLE" "$EVENTS" 3) || { say "conns failed for $tgt"; continue; }
		say "  $line"
		for kv in $line; do rec conns "$tgt" "${kv%%=*}" "${kv#*=}"; done
	done
fi

# ------------------------------------------------------ a container on the real dockerd
ensure_container() {
	[ -n "$CID" ] && return 0
	local root=$W/rootfs a
	if ! docker -H "unix://$DOCKER_SOCK" image inspect "$IMG" >/dev/null 2>&1; then
		mkdir -p "$root/bin" "$root/tmp" "$root/data"
		cp "$(command -v busybox || echo /bin/busybox)" "$root/bin/busybox" || return 1
		for a in sh cat sleep md5sum head dd tar wc rm ls; do ln -sf busybox "$root/bin/$a"; done
		chmod 1777 "$root/tmp"
		tar -C "$root" -c . | docker -H "unix://$DOCKER_SOCK" import - "$IMG" >/dev/null || return 1
	fi
	CID=$(docker -H "unix://$DOCKER_SOCK" run -d --network none "$IMG" sleep 100000) || { CID=""; return 1; }
}

# transfer NAME TARGET -- curl args: MB/s and the proxy's RSS growth
peak_kib() { awk '/VmHWM/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
rss_kib() { awk '/VmRSS/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
transfer() {
	local sec=$1 tgt=$2 pid=$3 before after t0 t1 bytes
	shift 3
	before=$(rss_kib "$pid")
	t0=$(date +%s.%N)
	bytes=$(curl -s -o /dev/null -w '%{size_download} %{size_upload} %{http_code}' "$@") || { say "  $tgt: curl failed"; return 1; }
	t1=$(date +%s.%N)
	after=$(peak_kib "$pid")
	set -- $bytes
	case $3 in 2??) ;; *) say "  $tgt: HTTP $3"; return 1 ;; esac
	local n=$(( $1 > $2 ? $1 : $2 ))
	rec "$sec" "$tgt" mb_s "$(awk -v n="$n" -v a="$t0" -v b="$t1" 'BEGIN {printf "%.1f", n / 1048576 / (b - a)}')"
	rec "$sec" "$tgt" bytes "$n"
	[ "$pid" = 0 ] || rec "$sec" "$tgt" rss_growth_mib "$(awk -v a="$before" -v b="$after" 'BEGIN {printf "%.1f", (b - a) / 1024}')"
	say "  $tgt: $n bytes in $(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.2f", b - a}') s"
}

if want streams && [ $DOCKER_OK = 1 ] && ensure_container; then
	say "writing a $STREAM_MIB MiB file into container ${CID:0:12}"
	docker -H "unix://$DOCKER_SOCK" exec "$CID" dd if=/dev/zero of=/data/big bs=1M count="$STREAM_MIB" 2>/dev/null
	head -c $((STREAM_MIB * 1048576)) /dev/zero >"$W/big" && tar -C "$W" -cf "$W/big.tar" big && rm -f "$W/big"
	for r in $(seq 1 "$STREAM_ROUNDS"); do
		say "archive GET/PUT, $STREAM_MIB MiB, round $r/$STREAM_ROUNDS"
		for tgt in direct haproxy proxy; do
			case $tgt in
			direct) base=(--unix-socket "$DOCKER_SOCK" http://docker) pid=0 ;;
			haproxy) base=("http://127.0.0.1:$HD_PORT") pid=$HD_PID ;;
			proxy) base=("http://127.0.0.1:$P_d0_PORT") pid=$P_d0_PID ;;
			esac
			if [ "${#base[@]}" -gt 1 ]; then
				transfer archive_get $tgt $pid "${base[0]}" "${base[1]}" "${base[2]}/v1.41/containers/$CID/archive?path=/data/big"
				transfer archive_put $tgt $pid -X PUT -H 'Content-Type: application/x-tar' -T "$W/big.tar" \
					"${base[0]}" "${base[1]}" "${base[2]}/v1.41/containers/$CID/archive?path=/tmp"
			else
				transfer archive_get $tgt $pid "${base[0]}/v1.41/containers/$CID/archive?path=/data/big"
				transfer archive_put $tgt $pid -X PUT -H 'Content-Type: application/x-tar' -T "$W/big.tar" \
					"${base[0]}/v1.41/containers/$CID/archive?path=/tmp"
			fi
		done
	done
	rm -f "$W/big.tar"
	if docker -H "unix://$DOCKER_SOCK" commit "$CID" dpp-bench-saved:1 >/dev/null; then
		docker -H "unix://$DOCKER_SOCK" save dpp-bench-saved:1 -o "$W/saved.tar"
		for r in $(seq 1 "$STREAM_ROUNDS"); do
			say "image save/load (${STREAM_MIB} MiB layer), round $r/$STREAM_ROUNDS"
			transfer image_save direct 0 --unix-socket "$DOCKER_SOCK" "http://docker/v1.41/images/dpp-bench-saved:1/get"
			transfer image_save haproxy "$HD_PID" "http://127.0.0.1:$HD_PORT/v1.41/images/dpp-bench-saved:1/get"
			transfer image_save proxy "$P_d0_PID" "http://127.0.0.1:$P_d0_PORT/v1.41/images/dpp-bench-saved:1/get"
			transfer image_load direct 0 -X POST -H 'Content-Type: application/x-tar' -T "$W/saved.tar" --unix-socket "$DOCKER_SOCK" "http://docker/v1.41/images/load?quiet=1"
			transfer image_load haproxy "$HD_PID" -X POST -H 'Content-Type: application/x-tar' -T "$W/saved.tar" "http://127.0.0.1:$HD_PORT/v1.41/images/load?quiet=1"
			transfer image_load proxy "$P_d0_PID" -X POST -H 'Content-Type: application/x-tar' -T "$W/saved.tar" "http://127.0.0.1:$P_d0_PORT/v1.41/images/load?quiet=1"
		done
		rm -f "$W/saved.tar"
	fi
	docker -H "unix://$DOCKER_SOCK" exec "$CID" rm -f /data/big /tmp/big
fi

# ------------------------------------------------------ parallel exec -i
if want exec && [ $DOCKER_OK = 1 ] && ensure_container; then
	head -c $((EXEC_MIB * 1048576)) /dev/urandom >"$W/exec.in"
	want_sum=$(md5sum <"$W/exec.in" | cut -d' ' -f1)
	for tgt in direct proxy; do
		case $tgt in
		direct) host="unix://$DOCKER_SOCK" ;;
		proxy) host="tcp://127.0.0.1:$P_d0_PORT" ;;
		esac
		say "$EXEC_N parallel exec -i sessions piping $EXEC_MIB MiB each ($tgt)"
		t0=$(date +%s.%N)
		for i in $(seq 1 "$EXEC_N"); do
			docker -H "$host" exec -i "$CID" md5sum <"$W/exec.in" >"$W/exec.$tgt.$i" 2>&1 &
		done
		wait_ok=1
		for job in $(jobs -p); do
			case " ${PIDS[*]} " in *" $job "*) continue ;; esac
			wait "$job" || wait_ok=0
		done
		t1=$(date +%s.%N)
		good=$(grep -l "^$want_sum" "$W"/exec.$tgt.* 2>/dev/null | wc -l)
		rec exec "$tgt" byte_exact "$good/$EXEC_N"
		rec exec "$tgt" mb_s "$(awk -v n=$((EXEC_N * EXEC_MIB)) -v a="$t0" -v b="$t1" 'BEGIN {printf "%.1f", n / (b - a)}')"
		say "  $tgt: $good/$EXEC_N byte-exact in $(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.1f", b - a}') s (exit codes all 0: $wait_ok)"
	done
	rm -f "$W"/exec.*
fi

# ------------------------------------------------------ start-up, idle RSS, reload
if want startup; then
	# Start-up to the first answer by bench/startup_probe.py: started before
	# t0, it starts the proxy and sends GET /_ping over one socket every
	# 0.2 ms (NOTES.md section 13). The former method, a curl process every
	# 2 ms, counted each probe's own exec; it is kept as startup_curl_ms,
	# from a start-up of its own in each round, for comparison.
	"$PY" bench/gen_config.py 1000 "$NGX_SOCK" 0 >"$W/startup-base.yaml"
	start_probe() { # PORT LOG CONFIG: sets spid, probe_pid, start_ms
		rm -f "$W/probe.out"
		"$PY" bench/startup_probe.py "$1" "$2" "$W/probe.out" -- "$BIN" -c "$3" --headless &
		probe_pid=$!
		for _ in $(seq 1 2000); do
			[ -s "$W/probe.out" ] && break
			kill -0 $probe_pid 2>/dev/null || break
			sleep 0.005
		done
		read -r spid start_ms _ <"$W/probe.out" 2>/dev/null || { spid=0; start_ms=0; }
		# never "kill 0" (the whole process group) when the probe failed
		case $spid in '' | 0 | *[!0-9]*) spid=$probe_pid ;; esac
	}
	for r in $(seq 1 "$ROUNDS"); do
		port=$(free_port)
		sed "s/^  port: 0$/  port: $port/" "$W/startup-base.yaml" >"$W/startup.yaml"
		sed -i 's/^  log_level: warn$/  log_level: info/' "$W/startup.yaml"
		t0=$(date +%s%N)
		"$BIN" -c "$W/startup.yaml" --headless >"$W/startup.log" 2>&1 &
		spid=$!
		until curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$port/_ping"; do
			kill -0 $spid 2>/dev/null || break
			sleep 0.002
		done
		t1=$(date +%s%N)
		rec startup proxy1000 startup_curl_ms "$(( (t1 - t0) / 1000000 ))"
		kill $spid
		wait $spid 2>/dev/null
		port=$(free_port)
		sed "s/^  port: 0$/  port: $port/" "$W/startup-base.yaml" >"$W/startup.yaml"
		sed -i 's/^  log_level: warn$/  log_level: info/' "$W/startup.yaml"
		start_probe "$port" "$W/startup.log" "$W/startup.yaml"
		rec startup proxy1000 startup_ms "$start_ms"
		sleep 0.5
		rec startup proxy1000 idle_rss_kib "$(rss_kib $spid)"
		rec startup proxy1000 rss_anon_kib "$(awk '/RssAnon/ {print $2}' "/proc/$spid/status")"
		n0=$(grep -c "configuration reloaded" "$W/startup.log")
		t0=$(date +%s%N)
		kill -HUP $spid
		for _ in $(seq 1 5000); do
			[ "$(grep -c "configuration reloaded" "$W/startup.log")" -gt "$n0" ] && break
			sleep 0.001
		done
		t1=$(date +%s%N)
		rec startup proxy1000 reload_ms "$(( (t1 - t0) / 1000000 ))"
		kill $spid
		wait $probe_pid 2>/dev/null
		port=$(free_port)
		"$PY" bench/gen_config.py 0 "$NGX_SOCK" "$port" >"$W/startup0.yaml"
		start_probe "$port" /dev/null "$W/startup0.yaml"
		sleep 0.5
		rec startup proxy0 idle_rss_kib "$(rss_kib $spid)"
		# What VmRSS is made of: shared libraries' pages vs the process's own.
		rec startup proxy0 rss_file_kib "$(awk '/RssFile/ {print $2}' "/proc/$spid/status")"
		rec startup proxy0 rss_anon_kib "$(awk '/RssAnon/ {print $2}' "/proc/$spid/status")"
		kill $spid
		wait $probe_pid 2>/dev/null
		say "start-up round $r: $(tail -5 "$RAW" | cut -f3,4 | tr '\t\n' '= ')"
	done
fi

# ------------------------------------------------------ rule evaluation (bench_rules)
if want rules; then
	if cmake --build "$REPO/build" --target bench_rules >/dev/null 2>&1; then
		for r in $(seq 1 "$ROUNDS"); do
			for c in worst spread; do
				# "rules=1000 (worst) iterations=N: W us per evaluation (C us of CPU), ..."
				line=$("$REPO/build/bench_rules" 1000 20000 "$c") || continue
				rec rules "$c" us_per_eval "$(sed -n 's/.*: \([0-9.]*\) us per evaluation.*/\1/p' <<<"$line")"
				rec rules "$c" cpu_us_per_eval "$(sed -n 's/.*(\([0-9.]*\) us of CPU).*/\1/p' <<<"$line")"
			done
			say "rules round $r: $(tail -4 "$RAW" | cut -f2-4 | tr '\t\n' '= ')"
		done
	else
		say "bench_rules does not build: rules section skipped"
	fi
fi

# ------------------------------------------------------ console open vs headless
# bench/console.sh: the same binary and wrk load on the real dockerd's /_ping,
# headless and with the console following Live in an 80x24 tmux pane,
# alternating rounds; the per-round ratios are recorded.
if want console; then
	say "console open vs headless ($ROUNDS alternating rounds)"
	if ROUNDS=$ROUNDS bench/console.sh "$DUR" 16 "$BIN" >"$W/console.md" 2>"$W/console.err"; then
		awk -F'|' '/^\| [0-9]+ \|/ {gsub(/[ %]/, "", $5); print $5}' "$W/console.md" |
			while read -r pct; do rec console proxy ratio_pct "$pct"; done
	else
		say "console section failed: $(tail -3 "$W/console.err" | tr '\n' ' ')"
	fi
fi

# ------------------------------------------------------ report
[ -z "${MERGE_RAW:-}" ] || cat "$MERGE_RAW" >>"$RAW" # runs of an earlier invocation
"$PY" bench/report.py "$RAW" "$COMMIT$DIRTY" \
	"$(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -r), load average $(cut -d' ' -f1-3 /proc/loadavg)" \
	"SECTIONS=\"$SECTIONS\" DUR=${DUR}s ROUNDS=$ROUNDS CONNS=$CONNS STREAM_MIB=$STREAM_MIB STREAM_ROUNDS=$STREAM_ROUNDS EXEC_N=$EXEC_N EXEC_MIB=$EXEC_MIB IDLE=$IDLE EVENTS=$EVENTS; $(haproxy -v | head -1 | cut -d' ' -f1-3); $(nginx -v 2>&1)" \
	>"$OUT" || exit 1
cp "$RAW" "${OUT%.md}.tsv"
say "wrote $OUT (raw measurements: ${OUT%.md}.tsv)"
