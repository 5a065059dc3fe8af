#!/usr/bin/env bash
# End-to-end tests of the built-in presets (issue 14 item 1) against the real
# dockerd: each vector is first sent through the raw socket for contrast
# (dockerd creates it, and it is removed at once; nothing is started; when
# dockerd 20.10 refuses the value itself, or needs swarm mode, its own answer
# is asserted and said so), then through the proxy, where it is refused with
# 403, Docker's JSON message naming the vector, an audit record with the
# preset rule's name, and nothing created on Docker's side. A plain request
# under the same configuration passes. Uses lib.sh (see there for the
# environment).
#
#   tests/e2e/presets_test.sh        # ends with "e2e: N passed, M failed"

# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"

ADMIN_TOKEN="adm-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
USER_TOKEN="usr-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
export ADMIN_TOKEN USER_TOKEN

# preset_proxy RULES_YAML: (re)starts the proxy with an admin and a user
# token, an audit file and the given rules section.
preset_proxy() {
	[ -z "$PROXY_PID" ] || stop_proxy 15 || return 1
	AUDIT="$RUN_DIR/audit-$SCEN_NO.jsonl"
	CFG="$RUN_DIR/presets-$SCEN_NO.yaml"
	{
		printf 'global:\n  audit_log: %s\n' "$AUDIT"
		printf 'auth:\n  tokens:\n'
		printf '    - {token: "${ADMIN_TOKEN}", role: admin}\n'
		printf '    - {token: "${USER_TOKEN}", role: user}\n'
		printf '%s\n' "$1"
	} >"$CFG"
	DPP_PROXY_ARGS="--config $CFG"
	start_proxy || { why "proxy did not start with $CFG"; return 1; }
}

# api WHO CURL-ARGS... PATH: through the proxy with WHO's token (admin, user);
# WHO raw: straight to the Docker socket. Prints the body, a newline, the status.
api() {
	local who=$1 auth=()
	shift
	local path=${*: -1}
	case $who in
	admin) auth=(-H "Authorization: Bearer $ADMIN_TOKEN") ;;
	user) auth=(-H "Authorization: Bearer $USER_TOKEN") ;;
	raw)
		curl -sS --max-time 60 -w '\n%{http_code}' --unix-socket "$DOCKER_SOCK" "${@:1:$#-1}" "http://localhost$path"
		return
		;;
	esac
	curl -sS --max-time 60 -w '\n%{http_code}' "${auth[@]}" "${@:1:$#-1}" "http://127.0.0.1:$PROXY_PORT$path"
}

status_of() { printf '%s' "${1##*$'\n'}"; }
body_of() { printf '%s' "${1%$'\n'*}"; }
message_of() { "$PY" -c 'import json,sys; print(json.loads(sys.argv[1])["message"])' "$(body_of "$1")"; }

# refused_vector PRESET VECTOR FRAGMENT WHO CURL-ARGS... PATH: 403 with Docker's
# JSON {"message": "preset PRESET: VECTOR: ..."} containing FRAGMENT.
refused_vector() {
	local preset=$1 vec=$2 frag=$3 out msg
	shift 3
	out=$(api "$@")
	echo "proxy: ${*: -1} -> $(status_of "$out") $(body_of "$out")"
	expect_eq "proxy status ($vec)" 403 "$(status_of "$out")" || return 1
	msg=$(message_of "$out") || { why "the 403 has no Docker JSON body: $(short "$out")"; return 1; }
	[[ $msg == "preset $preset: $vec: "* ]] || { why "message does not name preset $preset, vector $vec: $(short "$msg")"; return 1; }
	[[ $msg == *"$frag"* ]] || { why "message lacks '$frag': $(short "$msg")"; return 1; }
	LAST_MSG=$msg
}

# audit_deny RULE MESSAGE: a deny record with that rule_name and message.
audit_deny() {
	wait_for 5 "$PY" - "$AUDIT" "$1" "$2" <<'PYEOF'
import json, sys
path, rule, msg = sys.argv[1:4]
try:
    recs = [json.loads(l) for l in open(path).read().splitlines()]
except OSError:
    sys.exit(1)
ok = any(r["event"] == "deny" and r["rule_name"] == rule and r["rule_action"] == "deny"
         and r["status"] == 403 and r["message"] == msg for r in recs)
sys.exit(0 if ok else 1)
PYEOF
}

cname() { echo "dpp-pre-$RUN_ID-$1"; }

# create_body HOSTCONFIG_JSON [EXTRA_TOP_LEVEL_MEMBERS]: a create body with this run's label.
create_body() {
	printf '{"Image":"%s","Cmd":["true"],"Labels":{"%s":"%s"}%s,"HostConfig":%s}' "$IMG" \
		"${LABEL%%=*}" "${LABEL#*=}" "${2:+,$2}" "${1:-{\}}"
}

JSON=(-H 'Content-Type: application/json')

# raw_create_contrast NAME BODY WANT: the raw socket answers WANT (201: the
# container exists, and is removed again with its volumes).
raw_create_contrast() {
	local out
	out=$(api raw "${JSON[@]}" -d "$2" "/v1.41/containers/create?name=$1")
	echo "raw: create $1 -> $(status_of "$out") $(body_of "$out")"
	expect_eq "raw create status" "$3" "$(status_of "$out")" || return 1
	if [ "$3" = 201 ]; then
		admin_docker inspect "$1" >/dev/null || { why "raw create answered 201 but $1 does not exist"; return 1; }
		admin_docker rm -fv "$1" >/dev/null || { why "cannot remove $1"; return 1; }
	fi
}

# vector_create PRESET VECTOR HOSTCONFIG RAW_STATUS FRAGMENT [TOP_MEMBERS]
vector_create() {
	local preset=$1 vec=$2 hc=$3 raw=$4 frag=$5 top=${6:-} n body
	VEC_NO=$((VEC_NO + 1))
	n=$(cname "c$VEC_NO")
	body=$(create_body "$hc" "$top")
	echo "--- $vec: $body"
	[ "$raw" = 201 ] || echo "note: dockerd 20.10 refuses this body itself ($raw); the proxy's refusal is tested"
	raw_create_contrast "$n" "$body" "$raw" || return 1
	refused_vector "$preset" "$vec" "$frag" admin "${JSON[@]}" -d "$body" "/v1.41/containers/create?name=$n" || return 1
	! admin_docker inspect "$n" >/dev/null 2>&1 || { why "$n exists on Docker's side after the refusal"; return 1; }
}

# plain_create WHO: a plain container is created through the proxy, then removed.
plain_create() {
	local n out
	n=$(cname "plain$SCEN_NO")
	out=$(api "$1" "${JSON[@]}" -d "$(create_body '{"Binds":["dpp-pre-vol-'"$RUN_ID"':/data"],"Tmpfs":{"/run":"rw,noexec,nosuid,size=1m"},"CapAdd":["chown","CAP_KILL"],"SecurityOpt":["no-new-privileges"]}' '"User":"1000","WorkingDir":"/tmp"')" "/v1.41/containers/create?name=$n")
	echo "plain create -> $(status_of "$out") $(body_of "$out")"
	expect_eq "plain create through the proxy" 201 "$(status_of "$out")" || return 1
	admin_docker inspect "$n" >/dev/null || { why "plain container $n not created"; return 1; }
	admin_docker rm -fv "$n" >/dev/null
	admin_docker volume rm -f "dpp-pre-vol-$RUN_ID" >/dev/null 2>&1
	return 0
}

# Containers that run use --network none and the plain build networkmode=none:
# the scenarios do not depend on the default bridge.

# ---------------------------------------------------------------------------

sc_list() {
	local out
	out=$("$DPP_BIN" --list-presets) || { why "--list-presets failed"; return 1; }
	for p in no-host-escape no-host-escape-strict non-root read-exfiltration protect-self readonly \
		traefik watchtower portainer-agent ci-runner; do
		grep -q "^$p: " <<<"$out" || { why "--list-presets lacks $p"; return 1; }
	done
	grep -Eq '^  cap-add +CapAdd' <<<"$out" || { why "--list-presets lacks the cap-add line"; return 1; }
	CFG="$RUN_DIR/check.yaml"
	printf 'rules:\n  - preset: no-host-escape\n    except: [group-add]\n    roles: [user]\n' >"$CFG"
	out=$("$DPP_BIN" --check-config --config "$CFG" --socket "$DOCKER_SOCK") || { why "--check-config refused a preset rule: $out"; return 1; }
	echo "$out"
	grep -q '^    preset: no-host-escape$' <<<"$out" || { why "--check-config does not print the preset"; return 1; }
	grep -q '^    except: \[group-add\]$' <<<"$out" || { why "--check-config does not print except"; return 1; }
	grep -q '^    roles: \["user"\]$' <<<"$out" || { why "--check-config does not print roles"; return 1; }
	printf 'rules:\n  - preset: no-host-escape\n    except: [no-such-vector]\n' >"$CFG"
	if out=$("$DPP_BIN" --check-config --config "$CFG" --socket "$DOCKER_SOCK" 2>&1); then
		why "an unknown vector was accepted"
		return 1
	fi
	grep -q 'rules\[0\].except\[0\]: unknown vector "no-such-vector"' <<<"$out" || { why "no error for the unknown vector: $out"; return 1; }
}

sc_create() {
	local d="$RUN_DIR/hostdir" c
	mkdir -p "$d"
	preset_proxy 'rules:
  - preset: no-host-escape
    include: [tmpfs-exec, extra-hosts]' || return 1
	c=$(cname donor)
	admin_docker create "${LBL[@]}" --name "$c" "$IMG" true >/dev/null || { why "cannot create the donor container"; return 1; }
	local P=no-host-escape
	vector_create $P privileged '{"Privileged":true}' 201 "HostConfig.Privileged is true" || return 1
	vector_create $P cap-add '{"CapAdd":["SYS_ADMIN"]}' 201 "adds CAP_SYS_ADMIN" || return 1
	vector_create $P cap-add '{"CapAdd":["cap_sys_ptrace"]}' 201 "adds CAP_SYS_PTRACE (sent as cap_sys_ptrace)" || return 1
	vector_create $P cap-add '{"capadd":["Net_Admin"]}' 201 "adds CAP_NET_ADMIN" || return 1
	vector_create $P cap-add '{"CapAdd":["ALL"]}' 201 "adds ALL" || return 1
	vector_create $P cap-add '{"Capabilities":["CAP_SYS_ADMIN"]}' 201 "HostConfig.Capabilities adds CAP_SYS_ADMIN" || return 1
	vector_create $P bind-mount '{"Binds":["'"$d"':/h"]}' 201 "HostConfig.Binds[0] mounts host path $d" || return 1
	vector_create $P bind-mount '{"Binds":["'"$d"':/h:ro,rprivate"]}' 201 "mounts host path $d" || return 1
	vector_create $P bind-mount '{"Binds":["c:\\x:c:\\y"]}' 500 'HostConfig.Binds[0] mounts host path c:\x:c:\y' || return 1
	vector_create $P bind-mount '{"Mounts":[{"Type":"bind","Source":"'"$d"'","Target":"/h"}]}' 201 "HostConfig.Mounts[0] (type bind) mounts host path $d" || return 1
	vector_create $P bind-mount '{"mounts":[{"tYpe":"bind","source":"'"$d"'","target":"/h"}]}' 201 "(type bind) mounts host path $d" || return 1
	vector_create $P mount-type '{"Mounts":[{"Type":"BIND","Source":"'"$d"'","Target":"/h"}]}' 400 "HostConfig.Mounts[0] has type BIND" || return 1
	vector_create $P mount-subpath '{"Mounts":[{"Type":"volume","Target":"/t","VolumeOptions":{"Subpath":"../../etc"}}]}' 201 "Subpath ../../etc climbs out" || return 1
	echo "note: dockerd 20.10 ignores Subpath (API 1.45); newer daemons use it"
	vector_create $P volume-host-path '{"Mounts":[{"Type":"volume","Target":"/t","VolumeOptions":{"DriverConfig":{"Name":"local","Options":{"type":"none","o":"bind","device":"'"$d"'"}}}}]}' 201 "o=bind binds host path $d" || return 1
	vector_create $P volume-driver '{"VolumeDriver":"local-persist","Binds":["vol'"$RUN_ID"':/v"]}' 404 "HostConfig.VolumeDriver uses volume driver local-persist" || return 1
	vector_create $P volumes-from '{"VolumesFrom":["'"$c"':ro"]}' 201 "takes the mounts of $c:ro" || return 1
	vector_create $P tmpfs-exec '{"Tmpfs":{"/run":"rw,exec,size=1m"}}' 201 "HostConfig.Tmpfs /run is mounted exec, dev or suid" || return 1
	vector_create $P devices '{"Devices":[{"PathOnHost":"/dev/null","PathInContainer":"/dev/xnull","CgroupPermissions":"rwm"}]}' 201 "HostConfig.Devices maps /dev/null" || return 1
	vector_create $P device-cgroup-rules '{"DeviceCgroupRules":["b 8:* rmw"]}' 201 "allows b 8:* rmw" || return 1
	vector_create $P device-requests '{"DeviceRequests":[{"Driver":"nvidia","Count":-1,"Capabilities":[["gpu"]]}]}' 201 "requests nvidia" || return 1
	vector_create $P pid-host '{"PidMode":"host"}' 201 "HostConfig.PidMode is host" || return 1
	vector_create $P pid-host '{"PidMode":"container:'"$c"'"}' 201 "HostConfig.PidMode is container:$c" || return 1
	vector_create $P ipc-host '{"IpcMode":"host"}' 201 "HostConfig.IpcMode is host" || return 1
	vector_create $P uts-host '{"UTSMode":"host"}' 201 "HostConfig.UTSMode is host" || return 1
	vector_create $P userns-host '{"UsernsMode":"host"}' 201 "HostConfig.UsernsMode is host" || return 1
	vector_create $P cgroupns-host '{"CgroupnsMode":"host"}' 201 "HostConfig.CgroupnsMode is host" || return 1
	vector_create $P network-host '{"NetworkMode":"host"}' 201 "HostConfig.NetworkMode is host" || return 1
	vector_create $P network-host '{"NetworkMode":"container:'"$c"'"}' 201 "HostConfig.NetworkMode is container:$c" || return 1
	vector_create $P seccomp '{"SecurityOpt":["seccomp=unconfined"]}' 201 "seccomp=unconfined replaces" || return 1
	vector_create $P seccomp '{"SecurityOpt":["seccomp:unconfined"]}' 201 "seccomp:unconfined replaces" || return 1
	vector_create $P apparmor '{"SecurityOpt":["apparmor=unconfined"]}' 201 "apparmor=unconfined turns AppArmor off" || return 1
	vector_create $P apparmor '{"SecurityOpt":["apparmor:unconfined"]}' 201 "apparmor:unconfined" || return 1
	vector_create $P selinux-label '{"SecurityOpt":["label=disable"]}' 201 "label=disable" || return 1
	vector_create $P selinux-label '{"SecurityOpt":["label:disable"]}' 201 "label:disable" || return 1
	vector_create $P no-new-privileges '{"SecurityOpt":["no-new-privileges=false"]}' 201 "no-new-privileges=false lets processes gain privileges" || return 1
	vector_create $P no-new-privileges '{"SecurityOpt":["no-new-privileges:false"]}' 201 "no-new-privileges:false" || return 1
	vector_create $P systempaths '{"SecurityOpt":["systempaths=unconfined"]}' 500 "systempaths=unconfined unmasks" || return 1
	vector_create $P systempaths '{"MaskedPaths":[],"ReadonlyPaths":[]}' 201 "HostConfig.MaskedPaths leaves out /proc/asound" || return 1
	vector_create $P security-opt '{"SecurityOpt":["writable-cgroups=true"]}' 500 "is not a known option" || return 1
	vector_create $P cgroup-parent '{"CgroupParent":"/dpp-presets"}' 201 "HostConfig.CgroupParent is /dpp-presets" || return 1
	vector_create $P sysctls '{"Sysctls":{"net.ipv4.ip_unprivileged_port_start":"0"}}' 201 "HostConfig.Sysctls sets net.ipv4.ip_unprivileged_port_start" || return 1
	vector_create $P runtime '{"Runtime":"io.containerd.runtime.v1.linux"}' 201 "HostConfig.Runtime is io.containerd.runtime.v1.linux" || return 1
	vector_create $P group-add '{"GroupAdd":["disk"]}' 201 "HostConfig.GroupAdd adds disk" || return 1
	vector_create $P extra-hosts '{"ExtraHosts":["registry:10.9.9.9"]}' 201 "HostConfig.ExtraHosts adds registry:10.9.9.9" || return 1
	vector_create $P workdir-proc '{}' 201 "WorkingDir /proc/self/fd/8 is under /proc" '"WorkingDir":"/proc/self/fd/8"' || return 1
	audit_deny no-host-escape "$LAST_MSG" || { why "no deny audit record with rule_name no-host-escape and the vector's message"; return 1; }
	plain_create admin
}

sc_update() {
	local c out
	preset_proxy 'rules:
  - preset: no-host-escape' || return 1
	c=$(cname upd)
	admin_docker create "${LBL[@]}" --name "$c" "$IMG" true >/dev/null || { why "cannot create $c"; return 1; }
	out=$(api raw "${JSON[@]}" -d '{"CgroupParent":"/dpp-presets"}' "/v1.41/containers/$c/update")
	echo "raw: update CgroupParent -> $(status_of "$out") $(body_of "$out")"
	expect_eq "raw update status (dockerd accepts, and ignores, CgroupParent on update)" 200 "$(status_of "$out")" || return 1
	refused_vector no-host-escape cgroup-parent "CgroupParent is /dpp-presets" admin "${JSON[@]}" -d '{"CgroupParent":"/dpp-presets"}' "/v1.41/containers/$c/update" || return 1
	refused_vector no-host-escape devices "Devices maps /dev/null" admin "${JSON[@]}" \
		-d '{"Devices":[{"PathOnHost":"/dev/null","PathInContainer":"/dev/x","CgroupPermissions":"rwm"}]}' "/v1.41/containers/$c/update" || return 1
	out=$(api admin "${JSON[@]}" -d '{"CpuShares":512}' "/v1.41/containers/$c/update")
	expect_eq "plain update through the proxy" 200 "$(status_of "$out")" || return 1
	expect_eq "CpuShares after the allowed update" 512 "$(admin_docker inspect -f '{{.HostConfig.CpuShares}}' "$c")"
}

sc_exec() {
	local c out
	preset_proxy 'rules:
  - preset: no-host-escape
    include: [exec-root-user]' || return 1
	c=$(cname exec)
	admin_docker run -d "${LBL[@]}" --network none --name "$c" "$IMG" sleep 300 >/dev/null || { why "cannot run $c"; return 1; }
	out=$(api raw "${JSON[@]}" -d '{"Cmd":["true"],"Privileged":true,"User":"1000"}' "/v1.41/containers/$c/exec")
	echo "raw: privileged exec create -> $(status_of "$out") $(body_of "$out")"
	expect_eq "raw privileged exec create" 201 "$(status_of "$out")" || return 1
	expect_eq "exec instances after the raw create" 1 "$(admin_docker inspect -f '{{len .ExecIDs}}' "$c")" || return 1
	refused_vector no-host-escape exec-privileged "Privileged is true" admin "${JSON[@]}" \
		-d '{"Cmd":["true"],"Privileged":true,"User":"1000"}' "/v1.41/containers/$c/exec" || return 1
	refused_vector no-host-escape exec-root-user "User 0:0 is root" admin "${JSON[@]}" \
		-d '{"Cmd":["true"],"User":"0:0"}' "/v1.41/containers/$c/exec" || return 1
	refused_vector no-host-escape exec-root-user "User is not set" admin "${JSON[@]}" \
		-d '{"Cmd":["true"]}' "/v1.41/containers/$c/exec" || return 1
	refused_vector no-host-escape workdir-proc "WorkingDir /proc/1/cwd is under /proc" admin "${JSON[@]}" \
		-d '{"Cmd":["true"],"User":"1000","WorkingDir":"/proc/1/cwd"}' "/v1.41/containers/$c/exec" || return 1
	expect_eq "exec instances after the refusals" 1 "$(admin_docker inspect -f '{{len .ExecIDs}}' "$c")" || return 1
	out=$(api admin "${JSON[@]}" -d '{"Cmd":["true"],"User":"1000"}' "/v1.41/containers/$c/exec")
	expect_eq "plain exec create through the proxy" 201 "$(status_of "$out")" || return 1
	expect_eq "exec instances after the allowed create" 2 "$(admin_docker inspect -f '{{len .ExecIDs}}' "$c")"
}

sc_volumes() {
	local d="$RUN_DIR/voldir" v out
	mkdir -p "$d"
	preset_proxy 'rules:
  - preset: no-host-escape' || return 1
	v="dpp-pre-$RUN_ID-bindvol"
	out=$(api raw "${JSON[@]}" -d '{"Name":"'"$v"'","DriverOpts":{"type":"none","o":"bind","device":"'"$d"'"}}' /v1.41/volumes/create)
	echo "raw: volume create -> $(status_of "$out") $(body_of "$out")"
	expect_eq "raw bind volume create" 201 "$(status_of "$out")" || return 1
	admin_docker volume rm "$v" >/dev/null || { why "cannot remove $v"; return 1; }
	refused_vector no-host-escape volume-host-path "DriverOpts o=bind binds host path $d" admin "${JSON[@]}" \
		-d '{"Name":"'"$v"'","DriverOpts":{"type":"none","o":"bind","device":"'"$d"'"}}' /v1.41/volumes/create || return 1
	refused_vector no-host-escape volume-host-path "device=/dev/loop0" admin "${JSON[@]}" \
		-d '{"Name":"'"$v"'","DriverOpts":{"type":"ext4","device":"/dev/loop0"}}' /v1.41/volumes/create || return 1
	! admin_docker volume inspect "$v" >/dev/null 2>&1 || { why "volume $v exists after the refusal"; return 1; }
	out=$(api admin "${JSON[@]}" -d '{"Name":"'"$v"'","Labels":{"'"${LABEL%%=*}"'":"'"${LABEL#*=}"'"},"DriverOpts":{"type":"tmpfs","device":"tmpfs","o":"size=1m"}}' /v1.41/volumes/create)
	expect_eq "tmpfs volume create through the proxy" 201 "$(status_of "$out")" || return 1
	admin_docker volume rm "$v" >/dev/null
}

sc_swarm_plugins_services() {
	local plugins_before out
	preset_proxy 'rules:
  - preset: no-host-escape' || return 1
	plugins_before=$(admin_docker plugin ls -q | wc -l)
	echo "note: the swarm and plugin vectors are not sent raw (they would change this host); services need swarm mode:"
	out=$(api raw "${JSON[@]}" -d '{"Name":"x","TaskTemplate":{"ContainerSpec":{"Image":"'"$IMG"'","Mounts":[{"Type":"bind","Source":"/tmp","Target":"/h"}]}}}' /v1.41/services/create)
	echo "raw: services/create -> $(status_of "$out") $(body_of "$out")"
	expect_eq "raw service create (not a swarm manager)" 503 "$(status_of "$out")" || return 1
	refused_vector no-host-escape bind-mount "TaskTemplate.ContainerSpec.Mounts[0] (type bind) mounts host path /tmp" admin "${JSON[@]}" \
		-d '{"Name":"x","TaskTemplate":{"ContainerSpec":{"Image":"'"$IMG"'","Mounts":[{"Type":"bind","Source":"/tmp","Target":"/h"}]}}}' /v1.41/services/create || return 1
	refused_vector no-host-escape cap-add "TaskTemplate.ContainerSpec.CapabilityAdd adds CAP_SYS_ADMIN" admin "${JSON[@]}" \
		-d '{"Name":"x","TaskTemplate":{"ContainerSpec":{"Image":"'"$IMG"'","CapabilityAdd":["sys_admin"]}}}' /v1.41/services/x/update || return 1
	refused_vector no-host-escape network-host "TaskTemplate.Networks attaches to host" admin "${JSON[@]}" \
		-d '{"Name":"x","TaskTemplate":{"ContainerSpec":{"Image":"'"$IMG"'"},"Networks":[{"Target":"host"}]}}' /v1.41/services/create || return 1
	out=$(api admin "${JSON[@]}" -d '{"Name":"x","TaskTemplate":{"ContainerSpec":{"Image":"'"$IMG"'"}}}' /v1.41/services/create)
	expect_eq "a plain service create reaches dockerd (not a swarm manager)" 503 "$(status_of "$out")" || return 1
	local ep
	for ep in init join update unlock; do
		refused_vector no-host-escape swarm "POST /swarm/$ep hands this node to a swarm" admin "${JSON[@]}" \
			-d '{"ListenAddr":"127.0.0.1:2377","RemoteAddrs":["127.0.0.1:2377"],"JoinToken":"x","UnlockKey":"x"}' "/v1.41/swarm/$ep" || return 1
	done
	expect_eq "swarm state on Docker's side" inactive "$(admin_docker info -f '{{.Swarm.LocalNodeState}}')" || return 1
	refused_vector no-host-escape plugin-privileges "grants plugin privilege network" admin "${JSON[@]}" \
		-d '[{"Name":"network","Value":["host"]}]' "/v1.41/plugins/pull?remote=vieux/sshfs&name=dpp-$RUN_ID" || return 1
	refused_vector no-host-escape plugin-privileges "grants plugin privilege mount" admin "${JSON[@]}" \
		-d '[{"Name":"mount","Value":["/var/lib/docker/plugins/"]}]' "/v1.41/plugins/dpp-$RUN_ID/upgrade?remote=vieux/sshfs" || return 1
	refused_vector no-host-escape plugin-privileges "plugin set state.source=/etc changes a mount source" admin "${JSON[@]}" \
		-d '["state.source=/etc"]' "/v1.41/plugins/dpp-$RUN_ID/set" || return 1
	refused_vector no-host-escape plugin-create "POST /plugins/create installs a plugin" admin -H 'Content-Type: application/x-tar' \
		--data-binary 'x' "/v1.41/plugins/create?name=dpp-$RUN_ID" || return 1
	expect_eq "plugins on Docker's side" "$plugins_before" "$(admin_docker plugin ls -q | wc -l)"
}

sc_build() {
	local ctx="$RUN_DIR/ctx" tar="$RUN_DIR/ctx.tar" t out
	mkdir -p "$ctx"
	printf 'FROM %s\nRUN true\n' "$IMG" >"$ctx/Dockerfile"
	tar -C "$ctx" -cf "$tar" Dockerfile
	preset_proxy 'rules:
  - preset: no-host-escape
    include: [build-extra-hosts]' || return 1
	t="dpp-e2e-build:run$RUN_ID"
	out=$(api raw -H 'Content-Type: application/x-tar' --data-binary "@$tar" "/v1.41/build?networkmode=host&t=$t&rm=1")
	echo "raw: build networkmode=host -> $(status_of "$out") $(body_of "$out" | tail -c 300)"
	expect_eq "raw build with networkmode=host" 200 "$(status_of "$out")" || return 1
	admin_docker image inspect "$t" >/dev/null || { why "the raw build made no image"; return 1; }
	admin_docker rmi -f "$t" >/dev/null
	refused_vector no-host-escape build-network-host "networkmode=host" admin -H 'Content-Type: application/x-tar' \
		--data-binary "@$tar" "/v1.41/build?networkmode=host&t=$t" || return 1
	refused_vector no-host-escape build-cgroup-parent "cgroupparent=/dpp" admin -H 'Content-Type: application/x-tar' \
		--data-binary "@$tar" "/v1.41/build?cgroupparent=/dpp&t=$t" || return 1
	refused_vector no-host-escape build-extra-hosts "extrahosts=a:10.9.9.9" admin -H 'Content-Type: application/x-tar' \
		--data-binary "@$tar" "/v1.41/build?extrahosts=a:10.9.9.9&t=$t" || return 1
	out=$(api raw -H 'Content-Type: application/x-tar' --data-binary "@$tar" "/v1.41/build?securityopt=seccomp%3Dunconfined&t=$t")
	echo "raw: build securityopt -> $(status_of "$out") $(body_of "$out" | tail -c 300)"
	echo "note: dockerd on Linux refuses securityopt on build itself"
	refused_vector no-host-escape build-security-opt "securityopt=seccomp=unconfined" admin -H 'Content-Type: application/x-tar' \
		--data-binary "@$tar" "/v1.41/build?securityopt=seccomp%3Dunconfined&t=$t" || return 1
	refused_vector no-host-escape buildkit-session "/session is BuildKit's opaque channel" admin \
		-X POST -H 'Connection: Upgrade' -H 'Upgrade: h2c' -H 'X-Docker-Expose-Session-Uuid: x' /v1.41/session || return 1
	refused_vector no-host-escape buildkit-session "/grpc is BuildKit's opaque channel" admin \
		-X POST -H 'Connection: Upgrade' -H 'Upgrade: h2c' /v1.41/grpc || return 1
	! admin_docker image inspect "$t" >/dev/null 2>&1 || { why "an image was built through the proxy"; return 1; }
	out=$(api admin -H 'Content-Type: application/x-tar' --data-binary "@$tar" "/v1.41/build?t=$t&rm=1&networkmode=none")
	expect_eq "a plain build through the proxy" 200 "$(status_of "$out")" || return 1
	admin_docker image inspect "$t" >/dev/null || { why "the plain build made no image"; return 1; }
	admin_docker rmi -f "$t" >/dev/null
}

sc_read_exfiltration() {
	local c out
	preset_proxy 'rules:
  - preset: read-exfiltration' || return 1
	c=$(cname read)
	admin_docker run "${LBL[@]}" --network none --name "$c" "$IMG" echo secret-output >/dev/null || { why "cannot run $c"; return 1; }
	for p in "/containers/$c/archive?path=/bin/sh archive-read" "/containers/$c/export export" \
		"/images/get?names=$IMG image-save" "/images/$IMG/get image-save" \
		"/containers/$c/logs?stdout=1 logs"; do
		local path=${p% *} vec=${p##* }
		out=$(api raw -o /dev/null "/v1.41$path")
		expect_eq "raw GET $path" 200 "$(status_of "$out")" || return 1
		refused_vector read-exfiltration "$vec" "GET" admin "/v1.41$path" || return 1
	done
	# HEAD has no body to carry the message: the status says it
	out=$(api raw -o /dev/null -I "/v1.41/containers/$c/archive?path=/bin/sh")
	expect_eq "raw HEAD archive" 200 "$(status_of "$out")" || return 1
	out=$(api admin -o /dev/null -I "/v1.41/containers/$c/archive?path=/bin/sh")
	expect_eq "HEAD archive through the proxy" 403 "$(status_of "$out")" || return 1
	refused_vector read-exfiltration attach "POST /containers/{name}/attach" admin -X POST \
		-H 'Connection: Upgrade' -H 'Upgrade: tcp' "/v1.41/containers/$c/attach?stream=1&stdout=1" || return 1
	out=$(api admin "/v1.41/containers/$c/json")
	expect_eq "inspect through the proxy" 200 "$(status_of "$out")" || return 1
	audit_deny read-exfiltration "$LAST_MSG" || { why "no deny record for read-exfiltration"; return 1; }
}

sc_protect_self() {
	local n out
	preset_proxy 'rules:
  - preset: protect-self' || return 1
	n=$(cname self)
	raw_create_contrast "$n" "$(create_body '{"Binds":["'"$CFG"':/cfg:ro"]}')" 201 || return 1
	refused_vector protect-self self-paths "mounts $CFG, which holds the proxy's configuration" admin "${JSON[@]}" \
		-d "$(create_body '{"Binds":["'"$CFG"':/cfg:ro"]}')" "/v1.41/containers/create?name=$n" || return 1
	refused_vector protect-self self-paths "which holds the proxy's Docker socket" admin "${JSON[@]}" \
		-d "$(create_body '{"Mounts":[{"Type":"bind","Source":"'"$(dirname "$DOCKER_SOCK")"'","Target":"/r"}]}')" "/v1.41/containers/create?name=$n" || return 1
	! admin_docker inspect "$n" >/dev/null 2>&1 || { why "$n created"; return 1; }
	mkdir -p "$RUN_DIR/other"
	out=$(api admin "${JSON[@]}" -d "$(create_body '{"Binds":["'"$RUN_DIR/other"':/scratch:ro"]}')" "/v1.41/containers/create?name=$n")
	expect_eq "another bind under protect-self alone" 201 "$(status_of "$out")" || return 1
	admin_docker rm -f "$n" >/dev/null
	grep -q 'protect-self: running in container' "$PROXY_LOG" &&
		echo "note: the proxy found its own container" ||
		echo "note: the proxy does not run in a container here: self-container is covered by the unit tests"
	return 0
}

sc_readonly_roles_dry_run() {
	local n out
	preset_proxy 'rules:
  - preset: readonly
    roles: [user]
  - preset: no-host-escape
    name: escape-audit
    dry_run: true' || return 1
	n=$(cname ro)
	refused_vector readonly write-method "method POST changes state" user "${JSON[@]}" -d "$(create_body)" "/v1.41/containers/create?name=$n" || return 1
	! admin_docker inspect "$n" >/dev/null 2>&1 || { why "$n created by a readonly caller"; return 1; }
	out=$(api user /v1.41/containers/json)
	expect_eq "readonly caller lists containers" 200 "$(status_of "$out")" || return 1
	# roles: [user] does not bind admin; the dry-run preset only records
	out=$(api admin "${JSON[@]}" -d "$(create_body '{"Privileged":true}')" "/v1.41/containers/create?name=$n")
	expect_eq "admin create under a dry-run preset" 201 "$(status_of "$out")" || return 1
	admin_docker rm -f "$n" >/dev/null
	wait_for 5 "$PY" - "$AUDIT" <<'PYEOF' || { why "no dry_run record naming the vector"; return 1; }
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1]).read().splitlines()]
sys.exit(0 if any(r["event"] == "dry_run" and r["rule_name"] == "escape-audit" and
                  r["message"] == "preset no-host-escape: privileged: HostConfig.Privileged is true"
                  for r in recs) else 1)
PYEOF
}

sc_traefik() {
	local out
	preset_proxy 'rules:
  - preset: traefik' || return 1
	out=$(api user /v1.41/containers/json)
	expect_eq "traefik lists containers" 200 "$(status_of "$out")" || return 1
	out=$(api user /v1.41/events?until=1)
	expect_eq "traefik reads events" 200 "$(status_of "$out")" || return 1
	refused_vector traefik traefik-api "POST /containers/create is not in Traefik's set" user "${JSON[@]}" -d "$(create_body)" "/v1.41/containers/create?name=$(cname tr)" || return 1
	refused_vector traefik traefik-api "GET /images/json is not in Traefik's set" user /v1.41/images/json || return 1
	! admin_docker inspect "$(cname tr)" >/dev/null 2>&1 || { why "traefik created a container"; return 1; }
}

# cli_refused VECTOR FRAGMENT NAME docker-args...: the docker CLI through the
# proxy fails printing the vector's message, and NAME does not exist.
cli_refused() {
	local vec=$1 frag=$2 n=$3 out
	shift 3
	if out=$(DOCKER_CONFIG="$RUN_DIR/cfg-admin" timeout -k 5 120 "$DOCKER" -H "$PROXY_HOST" "$@" 2>&1); then
		why "docker $* succeeded through the proxy: $(short "$out")"
		return 1
	fi
	echo "docker $* -> $out"
	[[ $out == *"preset no-host-escape: $vec: "*"$frag"* ]] || { why "docker $* did not print the $vec message: $(short "$out")"; return 1; }
	[ -z "$n" ] || ! admin_docker inspect "$n" >/dev/null 2>&1 || { why "$n exists after the refusal"; return 1; }
}

# What real clients send: the docker CLI's flags, as it encodes them.
sc_cli() {
	local d="$RUN_DIR/clidir" n v
	mkdir -p "$d" "$RUN_DIR/cfg-admin"
	printf '{"HttpHeaders":{"Authorization":"Bearer %s"}}\n' "$ADMIN_TOKEN" >"$RUN_DIR/cfg-admin/config.json"
	[ -n "$PROXY_PID" ] && grep -q 'preset: no-host-escape$' "$CFG" 2>/dev/null || preset_proxy 'rules:
  - preset: no-host-escape' || return 1
	n=$(cname "cli-$(cli_tag "$DOCKER")")
	cli_refused privileged "HostConfig.Privileged is true" "$n" create --name "$n" --privileged "$IMG" true || return 1
	cli_refused cap-add "HostConfig.CapAdd adds CAP_SYS_ADMIN" "$n" create --name "$n" --cap-add sys_admin "$IMG" true || return 1
	cli_refused cap-add "adds ALL" "$n" create --name "$n" --cap-add ALL "$IMG" true || return 1
	cli_refused bind-mount "mounts host path $d" "$n" create --name "$n" -v "$d:/x:ro" "$IMG" true || return 1
	cli_refused bind-mount "mounts host path $d" "$n" create --name "$n" --mount "type=bind,src=$d,dst=/x" "$IMG" true || return 1
	cli_refused volume-host-path "o=bind binds host path $d" "$n" create --name "$n" \
		--mount "type=volume,dst=/x,volume-opt=type=none,volume-opt=o=bind,volume-opt=device=$d" "$IMG" true || return 1
	cli_refused seccomp "seccomp=unconfined" "$n" create --name "$n" --security-opt seccomp=unconfined "$IMG" true || return 1
	# the CLI turns systempaths=unconfined into empty MaskedPaths and ReadonlyPaths
	cli_refused systempaths "HostConfig.MaskedPaths leaves out" "$n" create --name "$n" --security-opt systempaths=unconfined "$IMG" true || return 1
	cli_refused pid-host "HostConfig.PidMode is host" "$n" create --name "$n" --pid host "$IMG" true || return 1
	cli_refused network-host "HostConfig.NetworkMode is host" "$n" create --name "$n" --network host "$IMG" true || return 1
	cli_refused devices "HostConfig.Devices maps /dev/null" "$n" create --name "$n" --device /dev/null "$IMG" true || return 1
	cli_refused sysctls "HostConfig.Sysctls sets" "$n" create --name "$n" --sysctl net.ipv4.ip_unprivileged_port_start=0 "$IMG" true || return 1
	v="dpp-pre-$RUN_ID-clivol"
	cli_refused volume-host-path "DriverOpts o=bind" "" volume create -o type=none -o o=bind -o "device=$d" "$v" || return 1
	! admin_docker volume inspect "$v" >/dev/null 2>&1 || { why "volume $v created"; return 1; }
	DOCKER_CONFIG="$RUN_DIR/cfg-admin" timeout -k 5 120 "$DOCKER" -H "$PROXY_HOST" create "${LBL[@]}" --name "$n" \
		--cap-add chown -v "$v:/data" "$IMG" true >/dev/null || { why "a plain docker create was refused"; return 1; }
	admin_docker inspect "$n" >/dev/null || { why "plain container $n missing"; return 1; }
	admin_docker rm -fv "$n" >/dev/null
	admin_docker volume rm -f "$v" >/dev/null 2>&1
	return 0
}

sc_stop() { stop_proxy 15; }

# ---------------------------------------------------------------------------

e2e_init
ensure_packages
[ -n "$SETUP_BROKEN" ] || ensure_dockerd
[ -n "$SETUP_BROKEN" ] || build_image
[ "$DPP_E2E_TARGET" = proxy ] || setup_failed target "preset tests need the proxy (DPP_E2E_TARGET=proxy)"
VEC_NO=0

run_scenario presets/list-and-check-config sc_list
run_scenario presets/no-host-escape-create sc_create
run_scenario presets/no-host-escape-update sc_update
run_scenario presets/no-host-escape-exec sc_exec
run_scenario presets/no-host-escape-volumes sc_volumes
run_scenario presets/no-host-escape-swarm-plugins-services sc_swarm_plugins_services
run_scenario presets/no-host-escape-build sc_build
run_scenario presets/read-exfiltration sc_read_exfiltration
run_scenario presets/protect-self sc_protect_self
run_scenario presets/readonly-roles-dry-run sc_readonly_roles_dry_run
run_scenario presets/traefik sc_traefik
# What the docker CLIs send is refused with the vector's message.
mapfile -t CLIS < <(list_clis)
for cli in "${CLIS[@]}"; do
	DOCKER=$cli
	run_scenario "presets/$(cli_tag "$cli")" sc_cli
done
if [ -n "$PROXY_PID" ]; then
	run_scenario presets/stop sc_stop
fi
e2e_finish
