#!/usr/bin/env bash
# End-to-end tests: real docker clients (both CLIs, docker-py, curl) through the proxy
# against the real dockerd. See lib.sh for the environment variables.
#
#   tests/e2e/run_all.sh                      # proxy mode: build/docker-policy-proxy
#   DPP_E2E_TARGET=raw tests/e2e/run_all.sh   # check the scenarios against dockerd itself
#   DPP_E2E_ONLY='cp|sdk' tests/e2e/run_all.sh
#
# Ends with "e2e: N passed, M failed" and exits non-zero on any failure.

# shellcheck source=lib.sh disable=SC2016,SC2317  # scenarios are called through run_scenario
. "$(dirname "$0")/lib.sh"

BIG_MIB=256
CTX_MIB=64

# A 256 MiB random file, made once per run; sets BIG and BIG_SUM.
big_file() {
	BIG="$RUN_DIR/big-$BIG_MIB"
	if [ ! -s "$BIG" ]; then
		head -c "${BIG_MIB}M" /dev/urandom >"$BIG" || return 1
		sha256sum "$BIG" | cut -d' ' -f1 >"$BIG.sum" || return 1
	fi
	BIG_SUM=$(cat "$BIG.sum")
}

# cname SUFFIX: a container name unique to this run and CLI.
cname() { echo "dpp-e2e-$RUN_ID-$TAG-$1"; }

# sleeper NAME: a detached container that lives long enough for a scenario.
sleeper() { dkp run -d "${LBL[@]}" --name "$(cname "$1")" "$IMG" sleep 600; }

tm_dump() { echo "--- pane of $1:"; tm capture-pane -p -t "$1" 2>/dev/null | sed '/^$/d'; echo "---"; }

# ==========================================================================
# Scenarios for one docker CLI ($DOCKER, $TAG)

sc_version() {
	local a b ra rb f='{{.Server.Version}}|{{.Server.APIVersion}}|{{.Server.MinAPIVersion}}|{{.Server.Os}}|{{.Server.Arch}}'
	dkp version || { why "docker version through the proxy failed"; return 1; }
	a=$(dkp version --format "$f"); ra=$?
	b=$(dkr version --format "$f"); rb=$?
	expect_eq "exit code (proxy vs raw)" "$rb" "$ra" || return 1
	expect_eq "exit code" 0 "$ra" || return 1
	expect_eq "server version fields" "$b" "$a"
}

sc_info() {
	local a b ra rb f='{{.ServerVersion}}|{{.ID}}|{{.Driver}}|{{.OperatingSystem}}|{{.NCPU}}|{{.MemTotal}}|{{.DockerRootDir}}'
	dkp info >"$RUN_DIR/info-$TAG" || { why "docker info through the proxy failed"; return 1; }
	grep -q '^Server:' "$RUN_DIR/info-$TAG" || { why "docker info printed no Server: section"; return 1; }
	a=$(dkp info --format "$f"); ra=$?
	b=$(dkr info --format "$f"); rb=$?
	expect_eq "exit code (proxy vs raw)" "$rb" "$ra" || return 1
	expect_eq "exit code" 0 "$ra" || return 1
	expect_eq "info fields" "$b" "$a"
}

sc_ps() {
	local id a b f='{{.ID}}|{{.Image}}|{{.Names}}|{{.Command}}|{{.Labels}}'
	id=$(dkr create "${LBL[@]}" --name "$(cname ps)" "$IMG" true) || { why "create failed"; return 1; }
	dkp ps -a >"$RUN_DIR/ps-$TAG" || { why "docker ps -a through the proxy failed"; return 1; }
	# Column widths follow the content (other containers come and go): compare words.
	expect_eq "ps -a header" "$(dkr ps -a | head -n1 | tr -s ' ')" "$(head -n1 "$RUN_DIR/ps-$TAG" | tr -s ' ')" || return 1
	grep -q "$(cname ps)" "$RUN_DIR/ps-$TAG" || { why "ps -a does not list $(cname ps)"; return 1; }
	a=$(dkp ps -a --no-trunc --filter "label=$LABEL" --format "$f") || { why "filtered ps failed"; return 1; }
	b=$(dkr ps -a --no-trunc --filter "label=$LABEL" --format "$f")
	expect_eq "filtered ps -a (proxy vs raw)" "$b" "$a" || return 1
	expect_match "own container listed" "$id" "$a" || return 1
	dkr rm -f "$id" >/dev/null
}

sc_system_df() {
	local a b ra rb
	dkp system df || { why "docker system df through the proxy failed"; return 1; }
	a=$(dkp system df --format '{{.Type}}'); ra=$?
	b=$(dkr system df --format '{{.Type}}'); rb=$?
	expect_eq "exit code (proxy vs raw)" "$rb" "$ra" || return 1
	expect_eq "system df types" "$b" "$a" || return 1
	expect_match "has Images row" 'Images' "$a"
}

sc_run_echo() {
	local a b
	a=$(dkp run --rm "${LBL[@]}" "$IMG" echo hi) || { why "run --rm echo through the proxy failed"; return 1; }
	b=$(dkr run --rm "${LBL[@]}" "$IMG" echo hi)
	expect_eq "output (proxy vs raw)" "$b" "$a" || return 1
	expect_eq "output" hi "$a"
}

sc_exit_code() {
	local rc
	dkp run --rm "${LBL[@]}" "$IMG" sh -c 'exit 3'
	rc=$?
	expect_eq "exit code of run --rm sh -c 'exit 3'" 3 "$rc"
}

sc_logs_follow() {
	local c out="$RUN_DIR/logs-$TAG" lp first
	c=$(dkp run -d "${LBL[@]}" --name "$(cname logs)" "$IMG" \
		sh -c 'i=0; while true; do echo line$i; i=$((i+1)); sleep 1; done') ||
		{ why "run -d failed"; return 1; }
	# --tail 0: only lines written after the stream opened count.
	dkp logs -f --tail 0 "$c" >"$out" 2>&1 &
	lp=$!
	if ! wait_for 10 grep -q '^line' "$out"; then
		kill_bg "$lp"
		why "no new log line within 10 s of logs -f"
		return 1
	fi
	first=$(grep -m1 '^line' "$out")
	echo "first streamed line: $first"
	proc_alive "$lp" || { why "logs -f ended after one line (stream closed)"; return 1; }
	expect_eq "container still running" true "$(dkr inspect -f '{{.State.Running}}' "$c")" || { kill_bg "$lp"; return 1; }
	# A second line must follow on the same stream.
	wait_for 5 eval '[ "$(grep -c "^line" "$out")" -ge 2 ]' || { kill_bg "$lp"; why "second line did not arrive"; return 1; }
	kill_bg "$lp"
	dkr rm -f "$c" >/dev/null
}

sc_events() {
	local out="$RUN_DIR/events-$TAG" ep id t0
	dkp events --filter "label=$LABEL" --filter type=container \
		--format '{{.Action}} {{.Actor.ID}}' >"$out" 2>&1 &
	ep=$!
	sleep 1.5
	proc_alive "$ep" || { why "docker events exited early: $(cat "$out")"; return 1; }
	t0=$(now_ms)
	id=$(dkr create "${LBL[@]}" --name "$(cname events)" "$IMG" true) || { kill_bg "$ep"; why "create failed"; return 1; }
	if ! wait_for 5 grep -q "^create $id" "$out"; then
		kill_bg "$ep"
		why "create event for $id not seen within 5 s (got: $(tr '\n' ' ' <"$out"))"
		return 1
	fi
	echo "create event after $(( $(now_ms) - t0 )) ms"
	proc_alive "$ep" || { why "events stream ended after the first event"; return 1; }
	dkr rm "$id" >/dev/null
	wait_for 5 grep -q "^destroy $id" "$out" || { kill_bg "$ep"; why "destroy event not seen on the same stream"; return 1; }
	kill_bg "$ep"
}

sc_exec_stdin() {
	local c out rc f="$RUN_DIR/exec-in-$TAG"
	c=$(sleeper exec) || { why "run -d failed"; return 1; }
	out=$(echo hello | dkp exec -i "$c" cat)
	rc=$?
	expect_eq "echo hello | exec -i cat: exit code" 0 "$rc" || return 1
	expect_eq "echo hello | exec -i cat: output" hello "$out" || return 1
	head -c 300000 /dev/urandom | base64 >"$f"
	dkp exec -i "$c" sh -c 'cat; exit 5' <"$f" >"$f.back"
	rc=$?
	expect_eq "exec -i sh -c 'cat; exit 5' < file: exit code" 5 "$rc" || return 1
	cmp -s "$f" "$f.back" || { why "file came back different ($(wc -c <"$f") bytes sent, $(wc -c <"$f.back") received)"; return 1; }
	echo "file of $(wc -c <"$f") bytes came back intact"
	dkr rm -f "$c" >/dev/null
}

# tty_session NAME CMD: runs CMD in a new tmux session; its exit code lands in $RUN_DIR/NAME.rc
tty_session() {
	# tmux reads "." and ":" in targets as window/pane separators: keep them out.
	[[ $1 =~ ^[A-Za-z0-9_-]+$ ]] || { echo "bad session name $1"; return 1; }
	rm -f "$RUN_DIR/$1.rc"
	tm new-session -d -s "$1" -x 160 -y 40 "$2; echo \$? > $RUN_DIR/$1.rc"
}

tty_shell_roundtrip() { # SESSION: sh prompt, echo $((6*7)) -> 42, exit
	local s=$1
	tm_wait_line "$s" '^/ #' 20 || { tm_dump "$s"; why "no shell prompt within 20 s"; return 1; }
	tm send-keys -t "$s" 'echo $((6*7))' Enter
	tm_wait_line "$s" '^42[[:space:]]*$' 10 || { tm_dump "$s"; why "42 did not appear"; return 1; }
	tm_dump "$s"
	tm send-keys -t "$s" 'exit' Enter
	wait_for 15 tm_gone "$s" || { tm_dump "$s"; tm kill-session -t "$s"; why "command did not end after exit"; return 1; }
	expect_eq "client exit code" 0 "$(cat "$RUN_DIR/$s.rc" 2>/dev/null)"
}

sc_run_it() {
	local s="runit-${TAG//./_}"
	tty_session "$s" "$DOCKER -H $PROXY_HOST run --rm -it --label $LABEL --name $(cname runit) $IMG sh" ||
		{ why "tmux new-session failed"; return 1; }
	tty_shell_roundtrip "$s" || return 1
	wait_for 10 eval '! dkr inspect "$(cname runit)" >/dev/null 2>&1' || { why "--rm container still exists"; return 1; }
}

sc_exec_it() {
	local c s="execit-${TAG//./_}"
	c=$(sleeper execit) || { why "run -d failed"; return 1; }
	tty_session "$s" "$DOCKER -H $PROXY_HOST exec -it $c sh" || { why "tmux new-session failed"; return 1; }
	tty_shell_roundtrip "$s" || return 1
	expect_eq "container still running" true "$(dkr inspect -f '{{.State.Running}}' "$c")" || return 1
	dkr rm -f "$c" >/dev/null
}

# Both directions over an attached TTY: typed input reaches the shell, its output comes
# back, and the shell's exit status ends the attach. (Detach with ctrl-p ctrl-q is not
# used: over tcp:// the docker CLI sees the escape as a wrapped error from
# TCPConn.ReadFrom, half-closes instead of detaching and then waits for the container
# to exit; over unix:// it detaches. A client quirk, not a proxy property.)
sc_attach_tty() {
	local c s="attach-${TAG//./_}" rc
	c=$(dkp run -dit "${LBL[@]}" --name "$(cname attach)" "$IMG" sh) || { why "run -dit failed"; return 1; }
	tty_session "$s" "$DOCKER -H $PROXY_HOST attach $c" || { why "tmux new-session failed"; return 1; }
	sleep 1
	tm send-keys -t "$s" 'echo attach$((6*7))' Enter
	tm_wait_line "$s" '^attach42[[:space:]]*$' 10 || { tm_dump "$s"; why "typed command's output attach42 did not appear"; return 1; }
	tm_dump "$s"
	tm send-keys -t "$s" 'exit 7' Enter
	wait_for 10 tm_gone "$s" || { tm_dump "$s"; tm kill-session -t "$s"; why "attach did not end when the shell exited"; return 1; }
	rc=$(cat "$RUN_DIR/$s.rc" 2>/dev/null)
	expect_eq "attach exit code (the shell's exit 7)" 7 "$rc" || return 1
	expect_eq "container exit code" 7 "$(dkr inspect -f '{{.State.ExitCode}}' "$c")" || return 1
	dkr rm -f "$c" >/dev/null
}

sc_attach_stream() {
	local c out="$RUN_DIR/attach-out-$TAG" ap
	c=$(dkp run -d "${LBL[@]}" --name "$(cname attachout)" "$IMG" \
		sh -c 'i=0; while true; do echo tick$i; echo tock$i >&2; i=$((i+1)); sleep 0.5; done') ||
		{ why "run -d failed"; return 1; }
	dkp attach --no-stdin --sig-proxy=false "$c" >"$out" 2>"$out.err" &
	ap=$!
	wait_for 10 grep -q '^tick' "$out" || { kill_bg "$ap"; why "no stdout through attach within 10 s"; return 1; }
	wait_for 5 grep -q '^tock' "$out.err" || { kill_bg "$ap"; why "no stderr through attach within 5 s"; return 1; }
	proc_alive "$ap" || { why "attach ended early"; return 1; }
	kill_bg "$ap"
	dkr rm -f "$c" >/dev/null
}

sc_cp() {
	local c sum back="$RUN_DIR/back-$TAG"
	big_file || { why "cannot make the ${BIG_MIB} MiB file"; return 1; }
	c=$(sleeper cp) || { why "run -d failed"; return 1; }
	dkp cp "$BIG" "$c:/big" || { why "cp into the container failed"; return 1; }
	sum=$(dkr exec "$c" sha256sum /big | cut -d' ' -f1)
	expect_eq "sha256 inside the container" "$BIG_SUM" "$sum" || return 1
	dkr exec "$c" sh -c 'echo extra >> /big' || return 1
	sum=$(dkr exec "$c" sha256sum /big | cut -d' ' -f1)
	dkp cp "$c:/big" "$back" || { why "cp out of the container failed"; return 1; }
	expect_eq "sha256 of the copy back" "$sum" "$(sha256sum "$back" | cut -d' ' -f1)" || return 1
	rm -f "$back"
	dkr rm -f "$c" >/dev/null
}

sc_save_load() {
	local ctx="$RUN_DIR/saveload-$TAG" img="dpp-e2e:saveload$RUN_ID-$TAG" id1 id2 out
	# 1. save | load of the test image keeps its id.
	id1=$(dkr image inspect -f '{{.Id}}' "$IMG")
	out=$(dkp save "$IMG" | dkp load) || { why "save | load failed: $out"; return 1; }
	echo "$out"
	expect_match "load output" "Loaded image" "$out" || return 1
	expect_eq "image id after save | load" "$id1" "$(dkr image inspect -f '{{.Id}}' "$IMG")" || return 1
	# 2. A real round trip: an image unique to this run is saved, removed, loaded back.
	mkdir -p "$ctx" && echo "$RUN_ID $TAG" >"$ctx/id"
	tar -C "$ctx" -c . | dkp import - "$img" || { why "import through the proxy failed"; return 1; }
	id1=$(dkr image inspect -f '{{.Id}}' "$img") || { why "imported image missing"; return 1; }
	dkp save "$img" >"$ctx.tar" || { why "save to file failed"; return 1; }
	dkp rmi "$img" || { why "rmi failed"; return 1; }
	dkr image inspect "$img" >/dev/null 2>&1 && { why "image still present after rmi"; return 1; }
	dkp load <"$ctx.tar" || { why "load from file failed"; return 1; }
	id2=$(dkr image inspect -f '{{.Id}}' "$img")
	expect_eq "image id after save / rmi / load" "$id1" "$id2" || return 1
	dkr rmi "$img" >/dev/null
}

BUILD_CTX=""
sc_build() {
	local img="dpp-e2e:build$RUN_ID-$TAG" want got
	if [ -z "$BUILD_CTX" ]; then
		BUILD_CTX="$RUN_DIR/buildctx"
		mkdir -p "$BUILD_CTX" || return 1
		head -c "${CTX_MIB}M" /dev/urandom >"$BUILD_CTX/big" || return 1
		printf 'FROM %s\nCOPY big /big\nRUN sha256sum /big > /sum\n' "$IMG" >"$BUILD_CTX/Dockerfile"
	fi
	want=$(sha256sum "$BUILD_CTX/big" | cut -d' ' -f1)
	DOCKER_BUILDKIT=0 dkp build --no-cache --force-rm -t "$img" "$BUILD_CTX" ||
		{ why "DOCKER_BUILDKIT=0 docker build failed"; return 1; }
	got=$(dkp run --rm "${LBL[@]}" "$img" cat /sum | cut -d' ' -f1)
	expect_eq "sha256 computed inside the build" "$want" "$got" || return 1
	dkr rmi "$img" >/dev/null
}

# BuildKit: the CLI opens /session with "Upgrade: h2c" (the generic 101 path)
# and streams the build over it.
sc_build_buildkit() {
	local img="dpp-e2e:bk$RUN_ID" ctx="$RUN_DIR/bkctx" got
	# Debian's CLI builds with BuildKit itself; newer CLIs need the buildx plugin.
	local DOCKER=/usr/bin/docker
	[ -x "$DOCKER" ] || { why "Debian's docker CLI (/usr/bin/docker) is needed for a BuildKit build without buildx"; return 1; }
	mkdir -p "$ctx" || return 1
	printf 'FROM %s\nRUN echo built-by-buildkit > /built.txt\n' "$IMG" >"$ctx/Dockerfile"
	DOCKER_BUILDKIT=1 dkp build --no-cache -t "$img" "$ctx" ||
		{ why "DOCKER_BUILDKIT=1 docker build through the proxy failed"; return 1; }
	got=$(dkp run --rm "${LBL[@]}" "$img" cat /built.txt)
	expect_eq "file written by the BuildKit build" built-by-buildkit "$got" || return 1
	dkr rmi "$img" >/dev/null
}

sc_stats() {
	local c out
	c=$(sleeper stats) || { why "run -d failed"; return 1; }
	out=$(dkp stats --no-stream --format '{{.Name}} {{.MemUsage}}' "$c") ||
		{ why "stats --no-stream failed: $out"; return 1; }
	echo "$out"
	expect_match "stats line" "^$(cname stats) [0-9]" "$out" || return 1
	dkr rm -f "$c" >/dev/null
}

sc_network() {
	local n; n=$(cname net)
	dkp network create "${LBL[@]}" "$n" || { why "network create failed"; return 1; }
	dkp network ls --filter "label=$LABEL" --format '{{.Name}}' | grep -qx "$n" || { why "network ls does not show $n"; return 1; }
	dkp network inspect -f '{{.Name}}' "$n" | grep -qx "$n" || { why "network inspect failed"; return 1; }
	dkp network rm "$n" || { why "network rm failed"; return 1; }
	dkr network inspect "$n" >/dev/null 2>&1 && { why "network still exists after rm"; return 1; }
	return 0
}

sc_volume() {
	local v; v=$(cname vol)
	dkp volume create "${LBL[@]}" "$v" || { why "volume create failed"; return 1; }
	dkp volume ls --filter "label=$LABEL" --format '{{.Name}}' | grep -qx "$v" || { why "volume ls does not show $v"; return 1; }
	dkp run --rm "${LBL[@]}" -v "$v:/data" "$IMG" sh -c 'echo persisted > /data/f' || { why "run with the volume failed"; return 1; }
	expect_eq "volume content" persisted "$(dkp run --rm "${LBL[@]}" -v "$v:/data" "$IMG" cat /data/f)" || return 1
	dkp volume rm "$v" || { why "volume rm failed"; return 1; }
	dkr volume inspect "$v" >/dev/null 2>&1 && { why "volume still exists after rm"; return 1; }
	return 0
}

sc_rm_f() {
	local c
	c=$(sleeper rmf) || { why "run -d failed"; return 1; }
	dkp rm -f "$c" || { why "rm -f failed"; return 1; }
	dkr inspect "$c" >/dev/null 2>&1 && { why "container still exists after rm -f"; return 1; }
	return 0
}

run_cli_scenarios() {
	DOCKER=$1
	TAG=$(cli_tag "$DOCKER")
	log "e2e: --- $DOCKER ($TAG)"
	run_scenario "$TAG/version" sc_version
	run_scenario "$TAG/info" sc_info
	run_scenario "$TAG/ps" sc_ps
	run_scenario "$TAG/system-df" sc_system_df
	run_scenario "$TAG/run-echo" sc_run_echo
	run_scenario "$TAG/exit-code" sc_exit_code
	run_scenario "$TAG/logs-follow" sc_logs_follow
	run_scenario "$TAG/events" sc_events
	run_scenario "$TAG/exec-stdin" sc_exec_stdin
	run_scenario "$TAG/run-it" sc_run_it
	run_scenario "$TAG/exec-it" sc_exec_it
	run_scenario "$TAG/attach-tty" sc_attach_tty
	run_scenario "$TAG/attach-stream" sc_attach_stream
	run_scenario "$TAG/cp-${BIG_MIB}MiB" sc_cp
	run_scenario "$TAG/save-load" sc_save_load
	run_scenario "$TAG/build-classic" sc_build
	run_scenario "$TAG/stats" sc_stats
	run_scenario "$TAG/network" sc_network
	run_scenario "$TAG/volume" sc_volume
	run_scenario "$TAG/rm-f" sc_rm_f
}

# ==========================================================================
# Client-independent scenarios

sc_sdk() {
	DPP_E2E_HOST=$PROXY_HOST DPP_E2E_IMAGE=$IMG DPP_E2E_LABEL=$LABEL \
		timeout -k 5 180 "$PY" "$E2E_DIR/sdk_test.py" || { why "sdk_test.py failed (see log)"; return 1; }
}

sc_curl_head_ping() {
	"$PY" "$E2E_DIR/http_probe.py" head-ping "$PROXY_HOST" "$RAW_HOST" && return 0
	why "$(grep -m1 '^FAIL:' "$CUR_LOG" | sed 's/^FAIL: //')"
	[ -n "$FAIL_REASON" ] || why "http_probe.py failed"
	return 1
}

sc_curl_404() {
	local p="/containers/dpp-e2e-nonexistent-$RUN_ID/json" a b
	a=$(curl_to "$PROXY_HOST" "$p" -o "$RUN_DIR/404-proxy" -w '%{http_code} %{content_type}') ||
		{ why "curl through the proxy failed"; return 1; }
	b=$(curl_to "$RAW_HOST" "$p" -o "$RUN_DIR/404-raw" -w '%{http_code} %{content_type}')
	echo "proxy: $a $(cat "$RUN_DIR/404-proxy")"
	echo "raw:   $b $(cat "$RUN_DIR/404-raw")"
	expect_eq "status and content type (proxy vs raw)" "$b" "$a" || return 1
	expect_match "status" '^404 application/json' "$a" || return 1
	grep -q '^{"message":' "$RUN_DIR/404-proxy" || { why "body is not Docker's {\"message\":...}"; return 1; }
	cmp -s "$RUN_DIR/404-proxy" "$RUN_DIR/404-raw" || { why "404 body differs from the raw socket's"; return 1; }
	return 0
}

# Keep-alive with clients: two requests on one connection (curl reports the
# re-use); the second is answered by Docker like the first.
sc_curl_keepalive() {
	local out
	out=$(curl_to "$PROXY_HOST" /_ping -v -o /dev/null --next "${PROXY_HOST/tcp:/http:}/version" -o /dev/null 2>&1)
	echo "$out" | grep -E '^(\*|<) ' | head -20
	case $PROXY_HOST in
	tcp://*) echo "$out" | grep -q 'Re-using existing connection' || { why "the client connection was not kept alive"; return 1; } ;;
	esac
	[ "$(echo "$out" | grep -c '^< HTTP/1.1 200')" = 2 ] || { why "expected two 200 answers"; return 1; }
}

# Docker's older hijack (attach/exec start without Upgrade headers) is refused
# with a clear 400 instead of half-working; a detached exec start (no stream,
# what docker-py's exec_start(detach=True) sends) still passes.
sc_curl_legacy_hijack() {
	local c id out code
	proxy_mode || { skip_because "the refusal is the proxy's (raw mode)"; return; }
	c=$(sleeper legacy) || { why "run -d failed"; return 1; }
	out=$(curl_to "$PROXY_HOST" "/containers/$c/attach?stream=1&stdout=1" -X POST -w ' %{http_code}')
	echo "$out"
	expect_match "attach without Upgrade" '"message":"[^"]*only over HTTP Upgrade.* 400$' "$out" || return 1
	id=$(curl_to "$PROXY_HOST" "/containers/$c/exec" -H 'Content-Type: application/json' \
		-d '{"Cmd":["sh","-c",": > /tmp/detached"]}' | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["Id"])') ||
		{ why "exec create failed"; return 1; }
	out=$(curl_to "$PROXY_HOST" "/exec/$id/start" -H 'Content-Type: application/json' -d '{"Detach":false,"Tty":false}' -w ' %{http_code}')
	expect_match "attached exec start without Upgrade" ' 400$' "$out" || return 1
	code=$(curl_to "$PROXY_HOST" "/exec/$id/start" -H 'Content-Type: application/json' -d '{"Detach":true}' -o /dev/null -w '%{http_code}')
	expect_eq "detached exec start" 200 "$code" || return 1
	wait_for 5 dkr exec "$c" test -e /tmp/detached || { why "the detached exec did not run"; return 1; }
	dkr rm -f "$c" >/dev/null
}

sc_curl_chunked_create() {
	local name="dpp-e2e-$RUN_ID-chunked" code id
	# ~150 KiB body (a 146 KiB label) so that it travels in several chunks.
	"$PY" - "$IMG" "$LABEL" "$RUN_DIR/create.json" "$RUN_DIR/create.big" <<-'EOF'
		import base64, json, os, sys
		img, label, out, bigout = sys.argv[1:5]
		k, _, v = label.partition("=")
		big = base64.b64encode(os.urandom(110000)).decode()
		open(bigout, "w").write(big)
		with open(out, "w") as f:
		    json.dump({"Image": img, "Cmd": ["echo", "chunked"],
		               "Labels": {k: v, "dpp-e2e.big": big}}, f)
	EOF
	echo "body: $(wc -c <"$RUN_DIR/create.json") bytes"
	code=$(curl_to "$PROXY_HOST" "/containers/create?name=$name" -X POST \
		-H 'Transfer-Encoding: chunked' -H 'Content-Type: application/json' \
		--data-binary @"$RUN_DIR/create.json" -o "$RUN_DIR/create.out" -w '%{http_code}') ||
		{ why "curl failed"; return 1; }
	echo "status $code: $(cat "$RUN_DIR/create.out")"
	expect_eq "status" 201 "$code" || return 1
	id=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["Id"])' "$RUN_DIR/create.out") ||
		{ why "no Id in the answer"; return 1; }
	expect_eq "big label arrived intact" "$(cat "$RUN_DIR/create.big")" "$(admin_docker inspect -f '{{index .Config.Labels "dpp-e2e.big"}}' "$id")" || return 1
	expect_eq "Cmd" "[echo chunked]" "$(admin_docker inspect -f '{{.Config.Cmd}}' "$id")" || return 1
	admin_docker rm -f "$id" >/dev/null
}

# Proxy-only: open fds and threads return to baseline after 100 aborted streams.
sc_resource_streams() {
	local c i bfd bth fd th codes="$RUN_DIR/abort-codes" n200 pids
	proxy_mode || { skip_because "needs the proxy process (raw mode)"; return 77; }
	c=$(admin_docker run -d "${LBL[@]}" --name "dpp-e2e-$RUN_ID-res" "$IMG" \
		sh -c 'while true; do echo x; sleep 1; done') || { why "run -d failed"; return 1; }
	# Aborted after 1 s: long enough for the response head to arrive first
	# even on a loaded machine under ASan (0.3 s missed 1-4 of 100 there).
	abort_one() {
		curl_to "$PROXY_HOST" "$1" --max-time 1 -o /dev/null -w '%{http_code}\n' 2>/dev/null
		return 0
	}
	# Warm up (first use may start pools/threads), then let it settle.
	for i in 1 2 3; do abort_one /events >/dev/null; done
	sleep 2
	bfd=$(proc_fds "$PROXY_PID"); bth=$(proc_threads "$PROXY_PID")
	echo "baseline: fds=$bfd threads=$bth"
	: >"$codes"
	for i in $(seq 10); do
		pids=()
		for _ in 1 2 3 4 5; do
			abort_one /events >>"$codes" &
			pids+=($!)
			abort_one "/containers/$c/logs?follow=1&stdout=1&stderr=1" >>"$codes" &
			pids+=($!)
		done
		# Never a bare `wait`: the proxy is a child of this shell too.
		wait "${pids[@]}"
		echo "after batch $i: fds=$(proc_fds "$PROXY_PID") threads=$(proc_threads "$PROXY_PID")"
	done
	n200=$(grep -c '^200$' "$codes")
	echo "aborted streams that had a 200 response: $n200 of $(wc -l <"$codes")"
	expect_eq "streams established before the abort" 100 "$n200" || return 1
	if ! wait_for 15 eval '[ "$(proc_fds "$PROXY_PID")" -le $((bfd + 3)) ] && [ "$(proc_threads "$PROXY_PID")" -le $((bth + 2)) ]'; then
		fd=$(proc_fds "$PROXY_PID"); th=$(proc_threads "$PROXY_PID")
		why "15 s after 100 aborted streams: fds $bfd -> $fd, threads $bth -> $th"
		ls -l "/proc/$PROXY_PID/fd"
		return 1
	fi
	echo "settled: fds=$(proc_fds "$PROXY_PID") threads=$(proc_threads "$PROXY_PID")"
	admin_docker rm -f "$c" >/dev/null
}

# rss_during PID_TO_WATCH PROXY_PID: samples PROXY_PID's VmRSS every 0.02 s while
# PID_TO_WATCH runs; prints "MAX_KB SAMPLES".
rss_during() {
	local max=0 n=0 r
	while proc_alive "$1"; do
		r=$(proc_rss_kb "$2")
		if [ -n "$r" ]; then
			n=$((n + 1))
			[ "$r" -gt "$max" ] && max=$r
		fi
		sleep 0.02
	done
	echo "$max $n"
}

# Proxy-only: a 256 MiB upload / download moves through bounded memory. A fresh
# private proxy, so that memory earlier scenarios left in its heap cannot absorb
# the transfer, and enough samples that the maximum means something.
sc_memory() { # DIRECTION: upload|download
	local c base max n cp rc back="$RUN_DIR/mem-back" limit=$((16 * 1024)) min_samples=10 host
	proxy_mode || { skip_because "needs the proxy process (raw mode)"; return 77; }
	big_file || { why "cannot make the ${BIG_MIB} MiB file"; return 1; }
	c=$(admin_docker run -d "${LBL[@]}" --name "dpp-e2e-$RUN_ID-mem-$1" "$IMG" sleep 600) || { why "run -d failed"; return 1; }
	if [ "$1" = download ]; then
		admin_docker cp "$BIG" "$c:/big" || { why "setup cp (raw) failed"; return 1; }
	fi
	printf 'auth:\n  type: none\n' >"$RUN_DIR/mem.yaml"
	start_private --socket "$DOCKER_SOCK" --config "$RUN_DIR/mem.yaml" || return 1
	host="tcp://127.0.0.1:$P_PORT"
	# One small request first: per-connection set-up is not what is measured.
	timeout 60 "$DOCKER" -H "$host" version >/dev/null || { why "docker version through the fresh proxy failed"; stop_private; return 1; }
	sleep 1
	base=$(proc_rss_kb "$P_PID")
	if [ "$1" = upload ]; then
		timeout -k 5 300 "$DOCKER" -H "$host" cp "$BIG" "$c:/big" &
	else
		timeout -k 5 300 "$DOCKER" -H "$host" cp "$c:/big" "$back" &
	fi
	cp=$!
	read -r max n < <(rss_during "$cp" "$P_PID")
	wait "$cp"; rc=$?
	echo "VmRSS of a fresh proxy: baseline ${base} kB, max ${max} kB over $n samples, growth $((max - base)) kB (limit $limit kB)"
	expect_eq "cp exit code" 0 "$rc" || { stop_private; return 1; }
	[ "$n" -ge "$min_samples" ] || { why "only $n RSS samples during the $1 (want >= $min_samples): the maximum proves nothing"; stop_private; return 1; }
	stop_private || return 1
	if [ "$1" = upload ]; then
		expect_eq "sha256 in the container" "$BIG_SUM" "$(admin_docker exec "$c" sha256sum /big | cut -d' ' -f1)" || return 1
	else
		expect_eq "sha256 of the download" "$BIG_SUM" "$(sha256sum "$back" | cut -d' ' -f1)" || return 1
		rm -f "$back"
	fi
	[ $((max - base)) -lt "$limit" ] || { why "proxy VmRSS grew by $((max - base)) kB during the $1 (limit $limit kB)"; return 1; }
	admin_docker rm -f "$c" >/dev/null
}

# Proxy-only, run last: SIGTERM with an open events stream; exit 0 within 2 s.
sc_sigterm_events() {
	local ep out="$RUN_DIR/events-sigterm"
	proxy_mode || { skip_because "needs the proxy process (raw mode)"; return 77; }
	dkp events >"$out" 2>&1 &
	ep=$!
	sleep 1.5
	proc_alive "$ep" || { why "events client exited before SIGTERM: $(cat "$out")"; return 1; }
	stop_proxy 12 || { kill_bg "$ep"; return 1; }
	# README: events streams end "at once".
	[ "$STOP_MS" -le 2000 ] || { kill_bg "$ep"; why "the proxy took $STOP_MS ms to exit with an events stream open (want <= 2000)"; return 1; }
	wait_for 5 eval '! proc_alive "$ep"' || { kill_bg "$ep"; why "events client still connected 5 s after the proxy exited"; return 1; }
	wait "$ep" 2>/dev/null
	return 0
}

sc_stop_idle() { stop_proxy 15; }

# ==========================================================================

e2e_init
ensure_packages
[ -n "$SETUP_BROKEN" ] || ensure_dockerd
[ -n "$SETUP_BROKEN" ] || build_image
[ -n "$SETUP_BROKEN" ] || setup_target

mapfile -t CLIS < <(list_clis)
[ "${#CLIS[@]}" -gt 0 ] || setup_failed clis "no docker CLI found"
for cli in "${CLIS[@]}"; do
	run_cli_scenarios "$cli"
done
# The newest CLI (last in the list) drives the client-independent CLI checks.
DOCKER=${CLIS[${#CLIS[@]} - 1]:-docker}
TAG=$(cli_tag "$DOCKER")
log "e2e: --- client-independent scenarios (CLI $DOCKER)"
run_scenario buildkit/session-upgrade sc_build_buildkit
run_scenario sdk/docker-py sc_sdk
run_scenario curl/head-ping sc_curl_head_ping
run_scenario curl/404-body sc_curl_404
run_scenario curl/keep-alive sc_curl_keepalive
run_scenario curl/chunked-create sc_curl_chunked_create
run_scenario curl/legacy-hijack sc_curl_legacy_hijack
run_scenario proxy/aborted-streams sc_resource_streams
run_scenario proxy/upload-memory sc_memory upload
run_scenario proxy/download-memory sc_memory download
run_scenario proxy/sigterm-open-events sc_sigterm_events
# Whatever was selected, a proxy still running must stop cleanly.
if [ -n "$PROXY_PID" ] && proxy_mode; then
	DPP_E2E_ONLY="" run_scenario proxy/sigterm-idle sc_stop_idle
fi
e2e_finish
