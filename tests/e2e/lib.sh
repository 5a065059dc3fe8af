# shellcheck shell=bash
# shellcheck disable=SC2016  # single-quoted snippets for `wait_for N eval '...'` are deliberate
# shellcheck disable=SC2034  # variables here are used by the sourcing script
# End-to-end test helpers for docker-policy-proxy. Source this file from bash.
#
# Environment (all optional):
#   DPP_E2E_TARGET   "proxy" (default): start DPP_BIN on a free port and send every
#                    client through it; "raw": talk to the Docker socket directly
#                    (to check the scenarios themselves against the real dockerd).
#   DPP_BIN          proxy binary (default: <repo>/build/docker-policy-proxy).
#   DPP_PROXY_ARGS   extra arguments for the proxy (word-split), e.g. "--config x.yaml".
#   DPP_E2E_SOCKET   Docker socket path (default /var/run/docker.sock).
#   DPP_E2E_LOGDIR   log directory (default <repo>/.e2e-logs); *.log in it are replaced.
#   DPP_E2E_ONLY     extended regex: run only the scenarios whose name matches.
#   DPP_E2E_CLIS     space-separated docker CLI paths (default: /usr/bin/docker,
#                    /usr/local/bin/docker and every other docker on PATH, deduplicated).
#   DPP_E2E_KEEP=1   keep the scratch directory (big files) after the run.
#   DPP_E2E_LOG_LEVEL  --log-level given to the proxy (default info).
#   DPP_E2E_PYTHON   interpreter for the python tests (default /usr/bin/python3).
#
# Scenario protocol: a scenario is a shell function run in the current shell with
# stdout/stderr going to its own log file. It returns 0 (pass), 77 (skip, only for
# checks that have no meaning in the current mode) or anything else (fail). Use
# `why "reason"` to record the reason (it returns 1, so `cond || why "..." || return 1`
# or simply `cond || { why "..."; return 1; }`).

E2E_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
E2E_REPO=$(cd "$E2E_DIR/../.." && pwd)

DPP_E2E_TARGET=${DPP_E2E_TARGET:-proxy}
DPP_BIN=${DPP_BIN:-$E2E_REPO/build/docker-policy-proxy}
DOCKER_SOCK=${DPP_E2E_SOCKET:-/var/run/docker.sock}
# python3-docker is a Debian package: prefer Debian's interpreter over a pyenv shim.
if [ -n "${DPP_E2E_PYTHON:-}" ]; then
	PY=$DPP_E2E_PYTHON
elif [ -x /usr/bin/python3 ]; then
	PY=/usr/bin/python3
else
	PY=python3
fi
RAW_HOST="unix://$DOCKER_SOCK"
PROXY_HOST=""
PROXY_PID=""
PROXY_PORT=""
PROXY_LOG=""
PROXY_STARTS=0

E2E_PASSED=0
E2E_FAILED=0
E2E_SKIPPED=0
E2E_FAILED_NAMES=()
E2E_SKIPPED_NAMES=()
E2E_RAN_NAMES=()
SCEN_NO=0
SETUP_BROKEN=""
FAIL_REASON=""
CUR_LOG=""

DOCKERD_PID=""
APT_UPDATED=0

# --------------------------------------------------------------------------
# Output and results

log() { printf '%s\n' "$*"; }

# Record a failure reason inside a scenario (first reason wins); returns 1.
why() {
	[ -n "$FAIL_REASON" ] || FAIL_REASON="$*"
	printf 'FAIL: %s\n' "$*"
	return 1
}

# Mark a scenario as skipped (only for checks meaningless in this mode); returns 77.
skip_because() {
	FAIL_REASON="$*"
	printf 'SKIP: %s\n' "$*"
	return 77
}

pass() {
	E2E_PASSED=$((E2E_PASSED + 1))
	printf 'PASS %s\n' "$1"
}

# fail NAME WHY
fail() {
	E2E_FAILED=$((E2E_FAILED + 1))
	E2E_FAILED_NAMES+=("$1")
	printf 'FAIL %s: %s\n' "$1" "$2"
}

skip() {
	E2E_SKIPPED=$((E2E_SKIPPED + 1))
	E2E_SKIPPED_NAMES+=("$1")
	printf 'SKIP %s: %s\n' "$1" "$2"
}

# short VALUE: the value quoted, cut to 160 characters for the log.
short() {
	local q
	q=$(printf '%q' "$1")
	[ "${#q}" -le 160 ] || q="${q:0:160}...(${#1} chars)"
	printf '%s' "$q"
}

# expect_eq DESC EXPECTED ACTUAL
expect_eq() {
	if [ "$2" == "$3" ]; then
		printf 'ok: %s = %s\n' "$1" "$(short "$3")"
		return 0
	fi
	why "$1: expected $(short "$2"), got $(short "$3")"
}

# expect_match DESC ERE ACTUAL
expect_match() {
	if [[ $3 =~ $2 ]]; then
		printf 'ok: %s matches /%s/: %s\n' "$1" "$2" "$(short "$3")"
		return 0
	fi
	why "$1: $(short "$3") does not match /$2/"
}

# wait_for SECONDS CMD... : poll CMD every 0.1 s until it succeeds.
wait_for() {
	local deadline=$(( $(date +%s%N) + ${1%.*} * 1000000000 ))
	shift
	while :; do
		"$@" && return 0
		[ "$(date +%s%N)" -lt "$deadline" ] || return 1
		sleep 0.1
	done
}

now_ms() { echo $(( $(date +%s%N) / 1000000 )); }

# proc_alive PID: running and not a zombie.
proc_alive() {
	local st
	[ -n "$1" ] && [ -r "/proc/$1/stat" ] || return 1
	st=$(sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1)
	[ -n "$st" ] && [ "$st" != Z ] && [ "$st" != X ]
}

# kill_bg PID...: end background helpers we started (by pid), quietly.
kill_bg() {
	local p
	for p in "$@"; do
		[ -n "$p" ] || continue
		kill "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	return 0
}

# run_scenario NAME FUNC [ARGS...]
run_scenario() {
	local name=$1 fn=$2 rc t0 log
	shift 2
	if [ -n "${DPP_E2E_ONLY:-}" ] && ! [[ $name =~ $DPP_E2E_ONLY ]]; then
		return 0
	fi
	SCEN_NO=$((SCEN_NO + 1))
	E2E_RAN_NAMES+=("$name")
	log="$E2E_LOGDIR/$(printf '%03d' "$SCEN_NO")-${name//[^A-Za-z0-9._-]/_}.log"
	CUR_LOG=$log
	FAIL_REASON=""
	printf '=== %s (%s, target %s)\n' "$name" "$(date -u +%FT%TZ)" "$DPP_E2E_TARGET" >"$log"
	if [ -n "$SETUP_BROKEN" ]; then
		printf 'cannot run: %s\n' "$SETUP_BROKEN" >>"$log"
		fail "$name" "cannot run: $SETUP_BROKEN"
		return 0
	fi
	t0=$(now_ms)
	"$fn" "$@" >>"$log" 2>&1 </dev/null
	rc=$?
	printf '=== rc=%s after %s ms\n' "$rc" "$(( $(now_ms) - t0 ))" >>"$log"
	if [ "$rc" -eq 0 ]; then
		pass "$name"
	elif [ "$rc" -eq 77 ]; then
		skip "$name" "${FAIL_REASON:-skipped}"
	else
		fail "$name" "${FAIL_REASON:-scenario returned $rc} (log: ${log#"$E2E_REPO"/})"
		sed 's/^/    | /' "$log" | tail -n 15
		if [ -n "$PROXY_LOG" ] && [ -s "$PROXY_LOG" ]; then
			printf '    proxy log tail (%s):\n' "${PROXY_LOG#"$E2E_REPO"/}"
			tail -n 8 "$PROXY_LOG" | sed 's/^/    | /'
		fi
	fi
	return 0
}

# Setup failures that make every later scenario impossible.
setup_failed() {
	fail "setup/$1" "$2"
	[ -n "$SETUP_BROKEN" ] || SETUP_BROKEN="setup/$1 failed: $2"
}

# --------------------------------------------------------------------------
# Run lifecycle

e2e_init() {
	E2E_LOGDIR=${DPP_E2E_LOGDIR:-$E2E_REPO/.e2e-logs}
	mkdir -p "$E2E_LOGDIR" || { echo "e2e: cannot create $E2E_LOGDIR" >&2; exit 2; }
	E2E_LOGDIR=$(cd "$E2E_LOGDIR" && pwd)
	rm -f "$E2E_LOGDIR"/*.log
	[ -e "$E2E_LOGDIR/.gitignore" ] || printf '*\n' >"$E2E_LOGDIR/.gitignore"
	RUN_ID="$(date +%H%M%S)$$"
	LABEL="dpp-e2e.run=$RUN_ID"
	LBL=(--label "$LABEL")
	IMG="dpp-e2e:run$RUN_ID"
	RUN_DIR=$(mktemp -d "${TMPDIR:-/tmp}/dpp-e2e.XXXXXX") || exit 2
	TMUX_SOCK="$RUN_DIR/tmux.sock"
	# A private CLI config: no contexts, no credential helpers, no DOCKER_HOST.
	export DOCKER_CONFIG="$RUN_DIR/docker-config"
	mkdir -p "$DOCKER_CONFIG"
	unset DOCKER_HOST DOCKER_CONTEXT DOCKER_TLS_VERIFY DOCKER_CERT_PATH DOCKER_API_VERSION
	export DOCKER_CLI_HINTS=false
	trap 'e2e_cleanup' EXIT
	trap 'echo "e2e: interrupted" >&2; exit 130' INT TERM
	log "e2e: run $RUN_ID, target $DPP_E2E_TARGET, logs in $E2E_LOGDIR"
}

# The docker CLI used for setup and cleanup (never through the proxy).
admin_docker() {
	local c
	for c in /usr/bin/docker /usr/local/bin/docker "$(command -v docker 2>/dev/null)"; do
		[ -n "$c" ] && [ -x "$c" ] && { timeout -k 5 120 "$c" -H "$RAW_HOST" "$@"; return $?; }
	done
	echo "no docker CLI found" >&2
	return 127
}

E2E_CLEANED=0
e2e_cleanup() {
	local ids=()
	[ "$E2E_CLEANED" = 1 ] && return 0
	E2E_CLEANED=1
	{
		tm kill-server 2>/dev/null
		if [ -n "${LABEL:-}" ] && admin_docker version >/dev/null 2>&1; then
			mapfile -t ids < <(admin_docker ps -aq --filter "label=$LABEL")
			[ "${#ids[@]}" -eq 0 ] || admin_docker rm -f "${ids[@]}"
			mapfile -t ids < <(admin_docker network ls -q --filter "label=$LABEL")
			[ "${#ids[@]}" -eq 0 ] || admin_docker network rm "${ids[@]}"
			mapfile -t ids < <(admin_docker volume ls -q --filter "label=$LABEL")
			[ "${#ids[@]}" -eq 0 ] || admin_docker volume rm -f "${ids[@]}"
			mapfile -t ids < <(admin_docker images --format '{{.Repository}}:{{.Tag}}' | grep -F "$RUN_ID")
			[ "${#ids[@]}" -eq 0 ] || admin_docker rmi -f "${ids[@]}"
		fi
		if [ -n "$PROXY_PID" ] && proc_alive "$PROXY_PID"; then
			kill -TERM "$PROXY_PID"
			wait_for 15 eval '! proc_alive "$PROXY_PID"' || kill -KILL "$PROXY_PID"
			wait "$PROXY_PID"
		fi
		stop_dockerd_if_started
	} >>"$E2E_LOGDIR/cleanup.log" 2>&1
	if [ "${DPP_E2E_KEEP:-0}" = 1 ]; then
		log "e2e: scratch kept in $RUN_DIR"
	elif [ -n "${RUN_DIR:-}" ] && [ -d "$RUN_DIR" ]; then
		rm -rf "$RUN_DIR"
	fi
	return 0
}

# check_only_filter: with DPP_E2E_ONLY set (a smoke run), every alternative of
# the filter must have selected at least one scenario that ran, and with
# DPP_E2E_EXPECT set exactly that many scenarios must have run: a renamed
# scenario or a typo in the filter must not shrink the run unnoticed.
check_only_filter() {
	local alt n name alts=()
	[ -n "${DPP_E2E_ONLY:-}" ] || return 0
	IFS='|' read -r -a alts <<<"$DPP_E2E_ONLY"
	for alt in "${alts[@]}"; do
		n=0
		for name in "${E2E_RAN_NAMES[@]}"; do
			[[ $name =~ $alt ]] && n=$((n + 1))
		done
		log "e2e: filter alternative '$alt' selected $n scenario(s)"
		[ "$n" -gt 0 ] || fail "filter/$alt" "DPP_E2E_ONLY alternative '$alt' matched no scenario"
	done
	if [ -n "${DPP_E2E_EXPECT:-}" ] && [ "$SCEN_NO" -ne "$DPP_E2E_EXPECT" ]; then
		fail "filter/count" "DPP_E2E_ONLY='$DPP_E2E_ONLY' ran $SCEN_NO scenarios, DPP_E2E_EXPECT=$DPP_E2E_EXPECT"
	fi
	return 0
}

# Print the summary and exit: non-zero on any failure (or when nothing ran).
e2e_finish() {
	e2e_cleanup
	check_only_filter
	if [ "$E2E_SKIPPED" -gt 0 ]; then
		log "e2e: skipped (not meaningful in $DPP_E2E_TARGET mode): ${E2E_SKIPPED_NAMES[*]}"
	fi
	if [ "$E2E_FAILED" -gt 0 ]; then
		log "e2e: failed: ${E2E_FAILED_NAMES[*]}"
	fi
	log "e2e: $E2E_PASSED passed, $E2E_FAILED failed"
	trap - EXIT
	[ "$E2E_FAILED" -eq 0 ] && [ "$E2E_PASSED" -gt 0 ]
	exit $?
}

# --------------------------------------------------------------------------
# Machine setup

ensure_packages() {
	local p missing=()
	for p in docker.io busybox-static python3-docker curl tmux; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
			missing+=("$p")
	done
	[ "${#missing[@]}" -eq 0 ] && return 0
	log "e2e: installing ${missing[*]}"
	if [ "$APT_UPDATED" = 0 ]; then
		DEBIAN_FRONTEND=noninteractive apt-get update -q >"$E2E_LOGDIR/apt.log" 2>&1 ||
			{ setup_failed packages "apt-get update failed (see apt.log)"; return 1; }
		APT_UPDATED=1
	fi
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >>"$E2E_LOGDIR/apt.log" 2>&1 ||
		{ setup_failed packages "apt-get install ${missing[*]} failed (see apt.log)"; return 1; }
}

dockerd_up() { admin_docker version >/dev/null 2>&1; }

ensure_dockerd() {
	dockerd_up && return 0
	command -v dockerd >/dev/null || { setup_failed dockerd "dockerd not installed"; return 1; }
	log "e2e: dockerd is not answering on $DOCKER_SOCK; starting it (log: dockerd.log)"
	dockerd -H "$RAW_HOST" >"$E2E_LOGDIR/dockerd.log" 2>&1 &
	DOCKERD_PID=$!
	if ! wait_for 60 dockerd_up; then
		tail -n 20 "$E2E_LOGDIR/dockerd.log"
		setup_failed dockerd "dockerd did not answer within 60 s"
		return 1
	fi
}

# Stops dockerd only when this run started it (by pid, waiting for it to exit).
stop_dockerd_if_started() {
	[ -n "$DOCKERD_PID" ] || return 0
	kill -TERM "$DOCKERD_PID" 2>/dev/null
	wait_for 30 eval '! proc_alive "$DOCKERD_PID"' || kill -KILL "$DOCKERD_PID" 2>/dev/null
	wait "$DOCKERD_PID" 2>/dev/null
	DOCKERD_PID=""
}

# Builds $IMG (busybox-static only) through the raw socket.
build_image() {
	local root="$RUN_DIR/rootfs" a bb
	bb=$(command -v busybox || echo /bin/busybox)
	[ -x "$bb" ] || { setup_failed image "busybox not found"; return 1; }
	mkdir -p "$root/bin" "$root/tmp" "$root/etc" || return 1
	cp "$bb" "$root/bin/busybox" || return 1
	for a in sh echo cat sleep sha256sum ls tar head wc seq true false env ps kill \
		mkdir rm printf test tr dd stat sync id; do
		ln -sf busybox "$root/bin/$a"
	done
	chmod 1777 "$root/tmp"
	if ! tar -C "$root" -c . | admin_docker import - "$IMG" >"$E2E_LOGDIR/image.log" 2>&1; then
		setup_failed image "docker import failed: $(tail -n 3 "$E2E_LOGDIR/image.log")"
		return 1
	fi
	log "e2e: test image $IMG built"
}

# --------------------------------------------------------------------------
# The proxy

free_port() {
	"$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# ping_ok PORT: the proxy answers HTTP (200 OK, or 401 when a config demands a token).
ping_ok() {
	local code
	code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:$1/_ping" 2>/dev/null)
	[ "$code" = 200 ] || [ "$code" = 401 ]
}

# start_proxy: starts DPP_BIN on a free port, sets PROXY_PID/PROXY_PORT/PROXY_HOST.
start_proxy() {
	local deadline
	if [ ! -x "$DPP_BIN" ]; then
		setup_failed proxy "proxy binary $DPP_BIN not found or not executable (build it, or set DPP_BIN)"
		return 1
	fi
	PROXY_STARTS=$((PROXY_STARTS + 1))
	PROXY_PORT=$(free_port) || { setup_failed proxy "no free port"; return 1; }
	PROXY_LOG="$E2E_LOGDIR/proxy-$PROXY_STARTS.log"
	# shellcheck disable=SC2086
	"$DPP_BIN" --headless --bind 127.0.0.1 --port "$PROXY_PORT" --socket "$DOCKER_SOCK" \
		--log-level "${DPP_E2E_LOG_LEVEL:-info}" ${DPP_PROXY_ARGS:-} >"$PROXY_LOG" 2>&1 </dev/null &
	PROXY_PID=$!
	deadline=$(( $(date +%s) + 20 ))
	while :; do
		if ! proc_alive "$PROXY_PID"; then
			wait "$PROXY_PID"
			setup_failed proxy "proxy exited with $? during start-up; log tail: $(tail -n 5 "$PROXY_LOG" | tr '\n' ' ')"
			PROXY_PID=""
			return 1
		fi
		if grep -q 'listening on' "$PROXY_LOG" || ping_ok "$PROXY_PORT"; then
			break
		fi
		if [ "$(date +%s)" -ge "$deadline" ]; then
			setup_failed proxy "proxy not listening within 20 s; log tail: $(tail -n 5 "$PROXY_LOG" | tr '\n' ' ')"
			return 1
		fi
		sleep 0.1
	done
	wait_for 10 ping_ok "$PROXY_PORT" ||
		{ setup_failed proxy "proxy logged 'listening on' but GET /_ping on port $PROXY_PORT does not answer OK"; return 1; }
	PROXY_HOST="tcp://127.0.0.1:$PROXY_PORT"
	log "e2e: proxy pid $PROXY_PID listening on 127.0.0.1:$PROXY_PORT (log ${PROXY_LOG#"$E2E_REPO"/})"
}

# stop_proxy [LIMIT_S]: SIGTERM; the proxy must exit 0 within LIMIT_S (default 15) s.
# Returns 0 on a clean exit, 1 otherwise (with FAIL_REASON set).
stop_proxy() {
	local limit=${1:-15} t0 rc el
	[ -n "$PROXY_PID" ] || { why "no proxy running"; return 1; }
	t0=$(now_ms)
	kill -TERM "$PROXY_PID" || { why "kill -TERM $PROXY_PID failed"; return 1; }
	if ! wait_for "$limit" eval '! proc_alive "$PROXY_PID"'; then
		kill -KILL "$PROXY_PID" 2>/dev/null
		wait "$PROXY_PID" 2>/dev/null
		PROXY_PID=""
		why "proxy still running ${limit} s after SIGTERM (killed)"
		return 1
	fi
	wait "$PROXY_PID"
	rc=$?
	el=$(( $(now_ms) - t0 ))
	STOP_MS=$el
	PROXY_PID=""
	log "proxy exited with $rc after $el ms"
	[ "$rc" -eq 0 ] || { why "proxy exited with status $rc after SIGTERM (want 0)"; return 1; }
}

proxy_mode() { [ "$DPP_E2E_TARGET" != raw ]; }

# Sets up PROXY_HOST for the selected target.
setup_target() {
	case $DPP_E2E_TARGET in
	raw)
		PROXY_HOST=$RAW_HOST
		log "e2e: raw mode: every \"proxy\" client talks to $RAW_HOST directly"
		;;
	proxy)
		start_proxy
		;;
	*)
		setup_failed target "DPP_E2E_TARGET must be proxy or raw, not '$DPP_E2E_TARGET'"
		return 1
		;;
	esac
}

# --------------------------------------------------------------------------
# Clients

# The docker CLIs to test, Debian's first, deduplicated by real path.
list_clis() {
	local c r seen=" "
	if [ -n "${DPP_E2E_CLIS:-}" ]; then
		# shellcheck disable=SC2086  # a space-separated list
		printf '%s\n' $DPP_E2E_CLIS
		return 0
	fi
	for c in /usr/bin/docker /usr/local/bin/docker $(type -ap docker); do
		[ -x "$c" ] || continue
		r=$(realpath "$c")
		case $seen in *" $r "*) continue ;; esac
		seen="$seen$r "
		printf '%s\n' "$c"
	done
}

# cli_tag PATH: a short name such as "cli-20.10.24".
cli_tag() {
	local v
	v=$("$1" --version 2>/dev/null | sed -n 's/^Docker version \([0-9.]*\).*/\1/p')
	echo "cli-${v:-unknown}"
}

# dkp / dkr: the current CLI ($DOCKER) through the proxy / the raw socket.
dkp() { timeout -k 5 "${DK_TIMEOUT:-120}" "$DOCKER" -H "$PROXY_HOST" "$@"; }
dkr() { timeout -k 5 "${DK_TIMEOUT:-120}" "$DOCKER" -H "$RAW_HOST" "$@"; }

# curl_to HOST PATH [CURL ARGS...]: curl against tcp:// or unix:// hosts.
curl_to() {
	local host=$1 path=$2
	shift 2
	case $host in
	unix://*) curl -sS --unix-socket "${host#unix://}" "$@" "http://localhost$path" ;;
	tcp://*) curl -sS "$@" "http://${host#tcp://}$path" ;;
	*) echo "curl_to: bad host $host" >&2; return 2 ;;
	esac
}

# tmux on a private server socket inside the run directory (removed with it).
tm() { tmux -S "$TMUX_SOCK" "$@"; }

# tm_wait_line SESSION ERE SECONDS: wait until a pane line matches ERE.
tm_has_line() { tm capture-pane -p -t "$1" 2>/dev/null | grep -Eq "$2"; }
tm_wait_line() { wait_for "$3" tm_has_line "$1" "$2"; }
tm_gone() { ! tm has-session -t "$1" 2>/dev/null; }

# /proc helpers for the proxy process.
proc_fds() { find "/proc/$1/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l; }
proc_threads() { find "/proc/$1/task" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l; }
proc_rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null; }

# start_private ARGS...: a private proxy instance on a free port with extra
# arguments (not the shared one of run_all.sh); sets P_PID, P_PORT, P_LOG.
start_private() {
	P_PORT=$(free_port)
	P_LOG="$RUN_DIR/proxy-$SCEN_NO-$RANDOM.log"
	"$DPP_BIN" --headless --port "$P_PORT" "$@" >"$P_LOG" 2>&1 </dev/null &
	P_PID=$!
	wait_for 20 grep -q 'listening on' "$P_LOG" || { cat "$P_LOG"; why "proxy did not start"; return 1; }
}

# stop_private [SIGNAL [LIMIT_S]]: SIGTERM (or SIGNAL); the private proxy must
# exit 0 within LIMIT_S (default 15) s. Sets STOP_MS (signal to exit, in ms).
stop_private() {
	local rc sig=${1:-TERM} limit=${2:-15} t0
	t0=$(now_ms)
	kill "-$sig" "$P_PID" 2>/dev/null
	if ! wait_for "$limit" eval '! proc_alive "$P_PID"'; then
		kill -KILL "$P_PID"
		wait "$P_PID" 2>/dev/null
		why "no exit within $limit s after SIG$sig (killed)"
		return 1
	fi
	wait "$P_PID"
	rc=$?
	STOP_MS=$(( $(now_ms) - t0 ))
	log "private proxy exited with $rc after $STOP_MS ms (SIG$sig)"
	expect_eq "exit status after SIG$sig" 0 "$rc"
}

# write_tty_wrapper FILE: a wrapper for terminal programs run in tmux:
# `sh FILE TAG PROG ARGS...` records the tty state before and after
# (TAG.stty-before/-after), PROG's pid (TAG.pid) and its exit status
# (TAG.rc, written last), all beside FILE.
write_tty_wrapper() {
	cat >"$1" <<'EOF'
tag=$1
shift
d=$(dirname "$0")
stty -g >"$d/$tag.stty-before"
sh -c 'echo $$ >"$0"; exec "$@"' "$d/$tag.pid" "$@"
echo $? >"$d/$tag.rc.tmp"
stty -g >"$d/$tag.stty-after"
mv "$d/$tag.rc.tmp" "$d/$tag.rc"
EOF
}
