/* Presets (issue 14 item 1): every vector with a refused and an allowed
 * request, Docker's spellings (any case and CAP_ for capabilities, '=' and
 * ':' in SecurityOpt, Binds forms), and the rule keys (except, include,
 * roles, dry_run, message, status, --check-config). Bodies go through
 * dpp_body_parse and dpp_body_lookup, endpoints through dpp_route_endpoint,
 * as in the proxy. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <unistd.h>

#include <cmocka.h>

#include "dpp/body.h"
#include "dpp/presets.h"
#include "dpp/route.h"
#include "policy_fixture.h"

static const struct cJSON *doc_get(void *ctx, const char *const *segs, size_t n)
{
	return dpp_body_lookup(ctx, segs, n);
}

static int doc_each(void *ctx, const char *const *segs, size_t n,
		    int (*fn)(void *arg, const struct cJSON *value), void *arg)
{
	return dpp_body_each(ctx, segs, n, fn, arg);
}

struct req {
	const char *method, *path;
	const char *const *query; /* name/value pairs, NULL-terminated */
	const char *body;
	const char *role;
};

/* The ruleset of the last run: the decision's strings are borrowed from it. */
static struct dpp_ruleset *held;

/* Evaluates one request against rules_yaml; fills *d (release with done()). */
static void run(const char *rules_yaml, const struct req *q, struct dpp_policy_decision *d)
{
	static const char *const no_query[] = {NULL};
	struct dpp_ruleset *rs = NULL;
	struct dpp_body_doc *doc = NULL;
	char *errors = NULL, *perr = NULL;
	struct dpp_request_view v = {0};

	if (fx_compile(rules_yaml, &rs, &errors) != 0)
		fail_msg("compile failed:\n%s\n%s", rules_yaml, errors ? errors : "?");
	if (q->body != NULL) {
		enum dpp_body_status st = dpp_body_parse(q->body, strlen(q->body), 0, &doc, &perr);

		if (st != DPP_BODY_OK)
			fail_msg("body refused: %s: %s", q->body, perr ? perr : "?");
	}
	v.method = q->method;
	v.path = q->path;
	v.endpoint = dpp_route_endpoint(q->method, q->path, 1);
	v.query_get = fx_query_get;
	v.query_ctx = (void *)(q->query != NULL ? q->query : no_query);
	v.role = q->role;
	v.body_get = doc_get;
	v.body_each = doc_each;
	v.body_ctx = doc;
	assert_int_equal(dpp_policy_evaluate(rs, &v, NULL, 0, d), 0);
	/* the decision's strings outlive the body and the request */
	dpp_body_free(doc);
	held = rs;
}

static void done(struct dpp_policy_decision *d)
{
	dpp_policy_decision_done(d);
	dpp_ruleset_unref(held);
	held = NULL;
}

static const char strict[] = "rules:\n  - preset: no-host-escape-strict\n";

struct row {
	const char *method, *path;
	const char *body;
	const char *vector; /* NULL: allowed */
	const char *detail; /* substring of the message, or NULL */
};

#define CREATE "POST", "/containers/create"
#define HC(x) "{\"Image\":\"busybox\",\"User\":\"1000\",\"HostConfig\":{" x "}}"

#define SEG64 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define SEG512 SEG64 SEG64 SEG64 SEG64 SEG64 SEG64 SEG64 SEG64
#define LONG_SEG SEG512 SEG512 SEG512 SEG512 SEG512 SEG512 SEG512 SEG512 SEG512

static const struct row rows[] = {
	/* a plain create */
	{CREATE, "{\"Image\":\"busybox\",\"User\":\"1000\",\"HostConfig\":{\"Binds\":null}}", NULL, NULL},
	{CREATE, HC("\"Privileged\":true"), "privileged", "HostConfig.Privileged is true"},
	{CREATE, HC("\"privileged\":true"), "privileged", NULL},
	{CREATE, HC("\"Privileged\":false"), NULL, NULL},
	/* CapAdd: any case, with or without CAP_, ALL; defaults are no-ops */
	{CREATE, HC("\"CapAdd\":[\"SYS_ADMIN\"]"), "cap-add", "adds CAP_SYS_ADMIN"},
	{CREATE, HC("\"CapAdd\":[\"cap_sys_admin\"]"), "cap-add", "adds CAP_SYS_ADMIN (sent as cap_sys_admin)"},
	{CREATE, HC("\"capadd\":[\"Sys_Ptrace\"]"), "cap-add", "CAP_SYS_PTRACE"},
	{CREATE, HC("\"CapAdd\":[\"all\"]"), "cap-add", "adds ALL (sent as all)"},
	{CREATE, HC("\"CapAdd\":[\"CAP_SYS_MODULE\"]"), "cap-add", "HostConfig.CapAdd adds CAP_SYS_MODULE"},
	{CREATE, HC("\"CapAdd\":[\"CAP_ALL\"]"), "cap-add", NULL},
	{CREATE, HC("\"CapAdd\":[\"NET_BIND_SERVICE\",\"cap_chown\"]"), NULL, NULL},
	{CREATE, HC("\"Capabilities\":[\"CAP_NET_ADMIN\"]"), "cap-add", "HostConfig.Capabilities"},
	/* Binds: host paths, Windows forms; volume names and anonymous volumes pass */
	{CREATE, HC("\"Binds\":[\"/tmp/x:/x\"]"), "bind-mount", "HostConfig.Binds[0] mounts host path /tmp/x"},
	{CREATE, HC("\"Binds\":[\"/tmp/x:/x:ro,Z\"]"), "bind-mount", NULL},
	{CREATE, HC("\"Binds\":[\"data:/x\",\"/y:/y\"]"), "bind-mount", "Binds[1]"},
	{CREATE, HC("\"Binds\":[\"c:\\\\Windows:c:\\\\w\"]"), "bind-mount", NULL},
	{CREATE, HC("\"Binds\":[\"c:/x\"]"), "bind-mount", NULL},
	{CREATE, HC("\"Binds\":[\"./rel:/x\"]"), "bind-mount", NULL},
	{CREATE, HC("\"Binds\":[\"data:/x\",\"vol_1.a-b:/y:ro\",\"/anon\",\"/anon2:ro\"]"), NULL, NULL},
	/* Mounts */
	{CREATE, HC("\"Mounts\":[{\"Type\":\"bind\",\"Source\":\"/tmp\",\"Target\":\"/t\"}]"), "bind-mount", "(type bind) mounts host path /tmp"},
	{CREATE, HC("\"mounts\":[{\"tYpe\":\"bind\",\"source\":\"/tmp\",\"Target\":\"/t\"}]"), "bind-mount", NULL},
	{CREATE, HC("\"Mounts\":[{\"Type\":\"npipe\",\"Source\":\"\\\\\\\\.\\\\pipe\\\\docker_engine\",\"Target\":\"/t\"}]"), "bind-mount", NULL},
	{CREATE, HC("\"Mounts\":[{\"Type\":\"BIND\",\"Source\":\"/tmp\",\"Target\":\"/t\"}]"), "mount-type", "has type BIND"},
	{CREATE, HC("\"Mounts\":[{\"Type\":\"cluster\",\"Source\":\"x\",\"Target\":\"/t\"}]"), "mount-type", NULL},
	{CREATE, HC("\"Mounts\":[{\"Source\":\"x\",\"Target\":\"/t\"}]"), "mount-type", "(missing)"},
	{CREATE, HC("\"Mounts\":[{\"Type\":\"volume\",\"Source\":\"/etc\",\"Target\":\"/t\"}]"), "bind-mount", NULL},
	{CREATE, HC("\"Mounts\":[{\"Type\":\"volume\",\"Source\":\"v1\",\"Target\":\"/t\",\"VolumeOptions\":{\"Subpath\":\"../../etc\"}}]"), "mount-subpath", "climbs out"},
	{CREATE, HC("\"Mounts\":[{\"Type\":\"volume\",\"Source\":\"v1\",\"Target\":\"/t\",\"VolumeOptions\":{\"Subpath\":\"a/../../b\"}}]"), "mount-subpath", NULL},
	{CREATE, HC("\"Mounts\":[{\"Type\":\"image\",\"Source\":\"busybox\",\"Target\":\"/t\",\"ImageOptions\":{\"subpath\":\"/etc\"}}]"), "mount-subpath", "is absolute"},
	{CREATE, HC("\"Mounts\":[{\"Type\":\"volume\",\"Source\":\"v1\",\"Target\":\"/t\",\"VolumeOptions\":{\"Subpath\":\"a/b..c\"}}]"), NULL, NULL},
	{CREATE, HC("\"Mounts\":[{\"Type\":\"volume\",\"Target\":\"/t\",\"VolumeOptions\":{\"DriverConfig\":{\"Name\":\"local\",\"Options\":{\"type\":\"none\",\"o\":\"bind\",\"device\":\"/etc\"}}}}]"), "volume-host-path", "o=bind binds host path /etc"},
	{CREATE, HC("\"Mounts\":[{\"Type\":\"volume\",\"Target\":\"/t\",\"VolumeOptions\":{\"DriverConfig\":{\"Options\":{\"type\":\"ext4\",\"device\":\"/dev/sda1\"}}}}]"), "volume-host-path", "device=/dev/sda1"},
	{CREATE, HC("\"Mounts\":[{\"Type\":\"volume\",\"Target\":\"/t\",\"VolumeOptions\":{\"DriverConfig\":{\"Options\":{\"type\":\"tmpfs\",\"device\":\"tmpfs\",\"o\":\"size=1m\"}}}}]"), NULL, NULL},
	{CREATE, HC("\"Mounts\":[{\"Type\":\"volume\",\"Target\":\"/t\",\"VolumeOptions\":{\"DriverConfig\":{\"Name\":\"local-persist\"}}}]"), "volume-driver", "local-persist"},
	{CREATE, HC("\"VolumeDriver\":\"rexray\",\"Binds\":[\"vol:/v\"]"), "volume-driver", NULL},
	{CREATE, HC("\"Mounts\":[{\"Type\":\"tmpfs\",\"Target\":\"/t\",\"TmpfsOptions\":{\"Options\":[[\"exec\"]]}}]"), "tmpfs-exec", NULL},
	{CREATE, HC("\"Mounts\":[{\"Type\":\"tmpfs\",\"Target\":\"/t\",\"TmpfsOptions\":{\"SizeBytes\":1024}}]"), NULL, NULL},
	{CREATE, HC("\"VolumesFrom\":[\"other:ro\"]"), "volumes-from", "takes the mounts of other:ro"},
	{CREATE, HC("\"Tmpfs\":{\"/run\":\"rw,exec,size=1m\"}"), "tmpfs-exec", "HostConfig.Tmpfs /run is mounted exec, dev or suid"},
	{CREATE, HC("\"Tmpfs\":{\"/run\":\"suid\"}"), "tmpfs-exec", NULL},
	{CREATE, HC("\"Tmpfs\":{\"/run\":\"rw,noexec,nosuid,nodev,size=1m\"}"), NULL, NULL},
	{CREATE, HC("\"Devices\":[{\"PathOnHost\":\"/dev/sda\",\"PathInContainer\":\"/dev/sda\",\"CgroupPermissions\":\"rwm\"}]"), "devices", "maps /dev/sda"},
	{CREATE, HC("\"Devices\":[]"), NULL, NULL},
	{CREATE, HC("\"DeviceCgroupRules\":[\"b 8:* rmw\"]"), "device-cgroup-rules", "b 8:* rmw"},
	{CREATE, HC("\"DeviceRequests\":[{\"Driver\":\"nvidia\",\"Count\":-1}]"), "device-requests", "nvidia"},
	/* namespaces */
	{CREATE, HC("\"PidMode\":\"host\""), "pid-host", "HostConfig.PidMode is host"},
	{CREATE, HC("\"pidmode\":\"container:abc\""), "pid-host", NULL},
	{CREATE, HC("\"IpcMode\":\"host\""), "ipc-host", NULL},
	{CREATE, HC("\"IpcMode\":\"container:abc\""), "ipc-host", NULL},
	{CREATE, HC("\"IpcMode\":\"shareable\""), NULL, NULL},
	{CREATE, HC("\"UTSMode\":\"host\""), "uts-host", NULL},
	{CREATE, HC("\"UsernsMode\":\"host\""), "userns-host", NULL},
	{CREATE, HC("\"CgroupnsMode\":\"host\""), "cgroupns-host", NULL},
	{CREATE, HC("\"CgroupnsMode\":\"private\""), NULL, NULL},
	{CREATE, HC("\"NetworkMode\":\"host\""), "network-host", "NetworkMode is host"},
	{CREATE, HC("\"NetworkMode\":\"HOST\""), "network-host", NULL},
	{CREATE, HC("\"NetworkMode\":\"container:web\""), "network-host", NULL},
	{CREATE, HC("\"NetworkMode\":\"bridge\""), NULL, NULL},
	{CREATE, HC("\"NetworkMode\":\"my-net\""), NULL, NULL},
	{CREATE, "{\"Image\":\"b\",\"User\":\"1\",\"NetworkingConfig\":{\"EndpointsConfig\":{\"host\":{}}}}", "network-host", "EndpointsConfig"},
	/* SecurityOpt: '=' and ':' separators */
	{CREATE, HC("\"SecurityOpt\":[\"seccomp=unconfined\"]"), "seccomp", "seccomp=unconfined"},
	{CREATE, HC("\"SecurityOpt\":[\"seccomp:unconfined\"]"), "seccomp", NULL},
	{CREATE, HC("\"SecurityOpt\":[\"seccomp={\\\"defaultAction\\\":\\\"SCMP_ACT_ALLOW\\\"}\"]"), "seccomp", "custom profile"},
	{CREATE, HC("\"SecurityOpt\":[\"apparmor=unconfined\"]"), "apparmor", NULL},
	{CREATE, HC("\"SecurityOpt\":[\"apparmor:unconfined\"]"), "apparmor", NULL},
	{CREATE, HC("\"SecurityOpt\":[\"apparmor=docker-default\"]"), NULL, NULL},
	{CREATE, HC("\"SecurityOpt\":[\"label=disable\"]"), "selinux-label", NULL},
	{CREATE, HC("\"SecurityOpt\":[\"label:disable\"]"), "selinux-label", NULL},
	{CREATE, HC("\"SecurityOpt\":[\"disable\"]"), "selinux-label", NULL},
	{CREATE, HC("\"SecurityOpt\":[\"label=type:spc_t\"]"), "selinux-label", NULL},
	{CREATE, HC("\"SecurityOpt\":[\"label=level:s0:c100,c200\"]"), NULL, NULL},
	{CREATE, HC("\"SecurityOpt\":[\"no-new-privileges=false\"]"), "no-new-privileges", NULL},
	{CREATE, HC("\"SecurityOpt\":[\"no-new-privileges:0\"]"), "no-new-privileges", NULL},
	{CREATE, HC("\"SecurityOpt\":[\"no-new-privileges=true\",\"no-new-privileges\"]"), NULL, NULL},
	{CREATE, HC("\"SecurityOpt\":[\"systempaths=unconfined\"]"), "systempaths", NULL},
	{CREATE, HC("\"SecurityOpt\":[\"systempaths:unconfined\"]"), "systempaths", NULL},
	{CREATE, HC("\"SecurityOpt\":[\"writable-cgroups=true\"]"), "security-opt", NULL},
	{CREATE, HC("\"MaskedPaths\":[]"), "systempaths", "leaves out /proc/asound"},
	{CREATE, HC("\"ReadonlyPaths\":[\"/proc/bus\"]"), "systempaths", "leaves out /proc/fs"},
	{CREATE, HC("\"ReadonlyPaths\":[\"/proc/bus\",\"/proc/fs\",\"/proc/irq\",\"/proc/sys\",\"/proc/sysrq-trigger\",\"/extra\"]"), NULL, NULL},
	{CREATE, HC("\"CgroupParent\":\"/\""), "cgroup-parent", NULL},
	{CREATE, HC("\"Sysctls\":{\"kernel.shm_rmid_forced\":\"1\"}"), "sysctls", "kernel.shm_rmid_forced"},
	{CREATE, HC("\"Sysctls\":{}"), NULL, NULL},
	{CREATE, HC("\"Runtime\":\"io.containerd.kata.v2\""), "runtime", NULL},
	{CREATE, HC("\"Runtime\":\"runc\""), NULL, NULL},
	{CREATE, HC("\"Runtime\":\"io.containerd.runc.v2\""), NULL, NULL},
	{CREATE, HC("\"Runtime\":\"nvidia\""), "runtime", "HostConfig.Runtime is nvidia"},
	{CREATE, HC("\"GroupAdd\":[\"disk\"]"), "group-add", "adds disk"},
	{CREATE, HC("\"ExtraHosts\":[\"registry:10.0.0.1\"]"), "extra-hosts", NULL},
	{CREATE, "{\"Image\":\"b\",\"User\":\"1\",\"WorkingDir\":\"/proc/self/fd/8\"}", "workdir-proc", NULL},
	{CREATE, "{\"Image\":\"b\",\"User\":\"1\",\"WorkingDir\":\"//tmp/../proc\"}", "workdir-proc", NULL},
	{CREATE, "{\"Image\":\"b\",\"User\":\"1\",\"WorkingDir\":\"/process\"}", NULL, NULL},
	{CREATE, "{\"Image\":\"b\",\"User\":\"1\",\"WorkingDir\":\"/proc/" LONG_SEG "/..\"}", "workdir-proc", "too long to judge"},
	/* root-user (optional, on in strict) */
	{CREATE, "{\"Image\":\"b\"}", "root-user", "is not set"},
	{CREATE, "{\"Image\":\"b\",\"User\":\"root\"}", "root-user", NULL},
	{CREATE, "{\"Image\":\"b\",\"User\":\"1000:0\"}", "root-user", NULL},
	{CREATE, "{\"Image\":\"b\",\"User\":\"+00\"}", "root-user", NULL},
	{CREATE, "{\"Image\":\"b\",\"User\":\"nobody:nogroup\"}", NULL, NULL},
	/* update */
	{"POST", "/containers/web/update", "{\"Devices\":[{\"PathOnHost\":\"/dev/mem\"}]}", "devices", "Devices maps /dev/mem"},
	{"POST", "/containers/web/update", "{\"CgroupParent\":\"x\"}", "cgroup-parent", NULL},
	{"POST", "/containers/web/update", "{\"Memory\":1048576}", NULL, NULL},
	/* services */
	{"POST", "/services/create", "{\"TaskTemplate\":{\"ContainerSpec\":{\"Image\":\"b\",\"User\":\"1\",\"Mounts\":[{\"Type\":\"bind\",\"Source\":\"/\",\"Target\":\"/h\"}]}}}", "bind-mount", "TaskTemplate.ContainerSpec.Mounts[0]"},
	{"POST", "/services/x/update", "{\"TaskTemplate\":{\"ContainerSpec\":{\"Image\":\"b\",\"User\":\"1\",\"CapabilityAdd\":[\"CAP_SYS_ADMIN\"]}}}", "cap-add", NULL},
	{"POST", "/services/create", "{\"TaskTemplate\":{\"ContainerSpec\":{\"Image\":\"b\",\"User\":\"1\",\"Sysctls\":{\"net.ipv4.ip_forward\":\"1\"}}}}", "sysctls", NULL},
	{"POST", "/services/create", "{\"TaskTemplate\":{\"ContainerSpec\":{\"Image\":\"b\",\"User\":\"1\",\"Privileges\":{\"SELinuxContext\":{\"Disable\":true}}}}}", "selinux-label", NULL},
	{"POST", "/services/create", "{\"TaskTemplate\":{\"ContainerSpec\":{\"Image\":\"b\",\"User\":\"1\",\"Privileges\":{\"Seccomp\":{\"Mode\":\"unconfined\"}}}}}", "seccomp", NULL},
	{"POST", "/services/create", "{\"TaskTemplate\":{\"ContainerSpec\":{\"Image\":\"b\",\"User\":\"1\"},\"Networks\":[{\"Target\":\"host\"}]}}", "network-host", NULL},
	{"POST", "/services/create", "{\"TaskTemplate\":{\"ContainerSpec\":{\"Image\":\"b\",\"User\":\"1\"}},\"Networks\":[{\"Target\":\"HOST\"}]}", "network-host", "Networks attaches to host"},
	{"POST", "/services/create", "{\"TaskTemplate\":{\"ContainerSpec\":{\"Image\":\"b\",\"User\":\"1\",\"Groups\":[\"docker\"],\"Dir\":\"/proc/self\"}}}", "group-add", "ContainerSpec.Groups adds docker"},
	{"POST", "/services/create", "{\"TaskTemplate\":{\"ContainerSpec\":{\"Image\":\"b\",\"User\":\"1\",\"Dir\":\"/proc/self\"}}}", "workdir-proc", "ContainerSpec.Dir"},
	{"POST", "/services/create", "{\"TaskTemplate\":{\"ContainerSpec\":{\"Image\":\"b\",\"User\":\"0\"}}}", "root-user", "ContainerSpec.User 0 is root"},
	{"POST", "/services/create", "{\"TaskTemplate\":{\"ContainerSpec\":{\"Image\":\"b\",\"User\":\"1\",\"Mounts\":[{\"Type\":\"volume\",\"Target\":\"/v\",\"VolumeOptions\":{\"DriverConfig\":{\"Options\":{\"device\":\"/dev/sdb\"}}}}]}}}", "volume-host-path", "ContainerSpec.Mounts[0].VolumeOptions.DriverConfig device=/dev/sdb"},
	{"POST", "/services/create", "{\"TaskTemplate\":{\"Runtime\":\"plugin\",\"PluginSpec\":{\"Name\":\"x\"}}}", "plugin-privileges", NULL},
	{"POST", "/services/create", "{\"TaskTemplate\":{\"ContainerSpec\":{\"Image\":\"b\",\"User\":\"1\",\"Mounts\":[{\"Type\":\"volume\",\"Source\":\"v\",\"Target\":\"/v\"}]},\"Networks\":[{\"Target\":\"overlay1\"}]}}", NULL, NULL},
	/* exec */
	{"POST", "/containers/web/exec", "{\"Cmd\":[\"sh\"],\"Privileged\":true,\"User\":\"1\"}", "exec-privileged", NULL},
	{"POST", "/containers/web/exec", "{\"Cmd\":[\"sh\"],\"User\":\"0:0\"}", "exec-root-user", "is root"},
	{"POST", "/containers/web/exec", "{\"Cmd\":[\"sh\"]}", "exec-root-user", "is not set"},
	{"POST", "/containers/web/exec", "{\"Cmd\":[\"sh\"],\"User\":\"1\",\"WorkingDir\":\"/proc/1/cwd\"}", "workdir-proc", NULL},
	{"POST", "/containers/web/exec", "{\"Cmd\":[\"sh\"],\"User\":\"app\"}", NULL, NULL},
	/* volumes */
	{"POST", "/volumes/create", "{\"Name\":\"v\",\"DriverOpts\":{\"type\":\"none\",\"o\":\"bind\",\"device\":\"/etc\"}}", "volume-host-path", NULL},
	{"POST", "/volumes/create", "{\"Name\":\"v\",\"DriverOpts\":{\"o\":\"rbind,ro\"}}", "volume-host-path", NULL},
	{"POST", "/volumes/create", "{\"Name\":\"v\",\"Driver\":\"local\",\"DriverOpts\":{\"type\":\"tmpfs\",\"device\":\"tmpfs\"}}", NULL, NULL},
	{"POST", "/volumes/create", "{\"Name\":\"v\"}", NULL, NULL},
	{"POST", "/volumes/create", "{\"Name\":\"v\",\"DriverOpts\":{\"o\":\"size=" SEG512 SEG512 SEG512 ",bind\"}}", "volume-host-path", "o=bind"},
	/* plugins and swarm */
	{"POST", "/plugins/pull", "[{\"Name\":\"network\",\"Value\":[\"host\"]}]", "plugin-privileges", "network"},
	{"POST", "/plugins/vieux/sshfs/upgrade", "[{\"Name\":\"mount\",\"Value\":[\"/\"]}]", "plugin-privileges", NULL},
	{"POST", "/plugins/pull", "[]", NULL, NULL},
	{"POST", "/plugins/p/set", "[\"mymount.source=/etc\"]", "plugin-privileges", NULL},
	{"POST", "/plugins/p/set", "[\"DEBUG=1\"]", NULL, NULL},
	{"POST", "/plugins/create", NULL, "plugin-create", NULL},
	{"POST", "/swarm/init", "{\"ListenAddr\":\"0.0.0.0:2377\"}", "swarm", NULL},
	{"POST", "/swarm/join", "{\"RemoteAddrs\":[\"10.0.0.1\"]}", "swarm", NULL},
	{"POST", "/swarm/update", "{}", "swarm", NULL},
	{"POST", "/swarm/unlock", "{\"UnlockKey\":\"x\"}", "swarm", NULL},
	{"POST", "/swarm/leave", NULL, NULL, NULL},
	{"POST", "/nodes/n1/update", "{\"Role\":\"manager\"}", "swarm", "promotes a node to manager"},
	{"POST", "/nodes/n1/update", "{\"Role\":\"worker\",\"Availability\":\"drain\"}", NULL, NULL},
	/* BuildKit's channel */
	{"POST", "/session", NULL, "buildkit-session", NULL},
	{"POST", "/grpc", NULL, "buildkit-session", NULL},
	/* reading is not an escape */
	{"GET", "/containers/json", NULL, NULL, NULL},
	{"GET", "/containers/web/archive", NULL, NULL, NULL},
};

static void test_vectors(void **state)
{
	size_t i;
	char want[128];

	(void)state;
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const struct row *r = &rows[i];
		struct req q = {.method = r->method, .path = r->path, .body = r->body};
		struct dpp_policy_decision d;

		run(strict, &q, &d);
		if (r->vector == NULL) {
			if (d.verdict != DPP_POLICY_ALLOW)
				fail_msg("row %zu %s %s %s: refused: %s", i, r->method, r->path,
					 r->body ? r->body : "", d.message);
		} else {
			snprintf(want, sizeof(want), "preset no-host-escape-strict: %s: ", r->vector);
			if (d.verdict != DPP_POLICY_DENY || d.status != 403 || d.message == NULL ||
			    strncmp(d.message, want, strlen(want)) != 0 ||
			    (r->detail != NULL && strstr(d.message, r->detail) == NULL))
				fail_msg("row %zu %s %s %s: want %s%s, got %s %s", i, r->method,
					 r->path, r->body ? r->body : "", want,
					 r->detail ? r->detail : "",
					 dpp_policy_verdict_name(d.verdict),
					 d.message ? d.message : "(no message)");
			assert_string_equal(d.rule, "no-host-escape-strict");
			assert_string_equal(d.rule_action, "deny");
		}
		done(&d);
	}
}

/* The default no-host-escape leaves the optional vectors off. */
static void test_optional_off(void **state)
{
	static const char *const bodies[] = {
		"{\"Image\":\"b\"}",
		"{\"Image\":\"b\",\"User\":\"root\",\"HostConfig\":{\"ExtraHosts\":[\"a:1.2.3.4\"],\"Tmpfs\":{\"/t\":\"exec\"}}}",
	};
	size_t i;

	(void)state;
	for (i = 0; i < 2; i++) {
		struct req q = {CREATE, NULL, bodies[i], NULL};
		struct dpp_policy_decision d;

		run("rules:\n  - preset: no-host-escape\n", &q, &d);
		assert_int_equal(d.verdict, DPP_POLICY_ALLOW);
		done(&d);
	}
}

static void test_build_query(void **state)
{
	static const char *const host[] = {"networkmode", "host", "t", "x", NULL};
	static const char *const cont[] = {"networkmode", "container:abc", NULL};
	static const char *const cg[] = {"cgroupparent", "/", NULL};
	static const char *const so[] = {"securityopt", "seccomp=unconfined", NULL};
	static const char *const eh[] = {"extrahosts", "a:1.2.3.4", NULL};
	static const char *const ok[] = {"networkmode", "default", "t", "x", NULL};
	const struct {
		const char *const *q;
		const char *vector;
	} cases[] = {{host, "build-network-host"}, {cont, "build-network-host"},
		     {cg, "build-cgroup-parent"}, {so, "build-security-opt"},
		     {eh, "build-extra-hosts"}, {ok, NULL}};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct req q = {"POST", "/build", cases[i].q, NULL, NULL};
		struct dpp_policy_decision d;

		run(strict, &q, &d);
		if (cases[i].vector == NULL) {
			assert_int_equal(d.verdict, DPP_POLICY_ALLOW);
		} else {
			assert_int_equal(d.verdict, DPP_POLICY_DENY);
			assert_non_null(strstr(d.message, cases[i].vector));
		}
		done(&d);
	}
}

static void expect(const char *yaml, const char *method, const char *path, const char *body,
		   const char *role, const char *msg_prefix)
{
	struct req q = {method, path, NULL, body, role};
	struct dpp_policy_decision d;

	run(yaml, &q, &d);
	if (msg_prefix == NULL) {
		if (d.verdict != DPP_POLICY_ALLOW)
			fail_msg("%s %s refused: %s", method, path, d.message);
	} else if (d.verdict != DPP_POLICY_DENY || strncmp(d.message, msg_prefix, strlen(msg_prefix)) != 0) {
		fail_msg("%s %s: want %s..., got %s", method, path, msg_prefix,
			 d.message ? d.message : "allow");
	}
	done(&d);
}

static void test_read_exfiltration(void **state)
{
	const char *y = "rules:\n  - preset: read-exfiltration\n";

	(void)state;
	expect(y, "GET", "/containers/web/archive", NULL, NULL, "preset read-exfiltration: archive-read:");
	expect(y, "HEAD", "/containers/web/archive", NULL, NULL, "preset read-exfiltration: archive-read:");
	expect(y, "PUT", "/containers/web/archive", NULL, NULL, NULL);
	expect(y, "GET", "/containers/web/export", NULL, NULL, "preset read-exfiltration: export:");
	expect(y, "GET", "/images/get", NULL, NULL, "preset read-exfiltration: image-save:");
	expect(y, "GET", "/images/library/busybox/get", NULL, NULL, "preset read-exfiltration: image-save:");
	expect(y, "GET", "/containers/web/attach/ws", NULL, NULL, "preset read-exfiltration: attach:");
	expect(y, "POST", "/containers/web/attach", NULL, NULL, "preset read-exfiltration: attach:");
	expect(y, "GET", "/containers/web/logs", NULL, NULL, "preset read-exfiltration: logs:");
	expect(y, "GET", "/services/s/logs", NULL, NULL, "preset read-exfiltration: logs:");
	expect(y, "GET", "/tasks/t/logs", NULL, NULL, "preset read-exfiltration: logs:");
	expect(y, "GET", "/containers/web/json", NULL, NULL, NULL);
}

static void test_readonly_and_consumers(void **state)
{
	(void)state;
	expect("rules:\n  - preset: readonly\n", "POST", "/containers/web/stop", NULL, NULL,
	       "preset readonly: write-method: method POST");
	expect("rules:\n  - preset: readonly\n", "GET", "/containers/web/attach/ws", NULL, NULL,
	       "preset readonly: attach:");
	expect("rules:\n  - preset: readonly\n", "GET", "/containers/json", NULL, NULL, NULL);
	expect("rules:\n  - preset: readonly\n", "HEAD", "/_ping", NULL, NULL, NULL);
	expect("rules:\n  - preset: traefik\n", "GET", "/containers/web/json", NULL, NULL, NULL);
	expect("rules:\n  - preset: traefik\n", "GET", "/events", NULL, NULL, NULL);
	expect("rules:\n  - preset: traefik\n", "POST", "/containers/create", "{\"Image\":\"b\"}", NULL,
	       "preset traefik: traefik-api: POST /containers/create is not in Traefik's set");
	expect("rules:\n  - preset: traefik\n", "GET", "/nonexistent", NULL, NULL,
	       "preset traefik: traefik-api: GET (no endpoint)");
	expect("rules:\n  - preset: watchtower\n", "POST", "/images/create", NULL, NULL, NULL);
	expect("rules:\n  - preset: watchtower\n", "POST", "/containers/web/exec", "{\"Cmd\":[\"sh\"]}", NULL,
	       "preset watchtower: watchtower-api:");
	expect("rules:\n  - preset: watchtower\n", "POST", "/containers/create",
	       HC("\"Privileged\":true"), NULL, "preset watchtower: privileged:");
	expect("rules:\n  - preset: ci-runner\n", "POST", "/containers/create",
	       HC("\"Binds\":[\"/var/run/docker.sock:/var/run/docker.sock\"]"), NULL,
	       "preset ci-runner: bind-mount:");
	expect("rules:\n  - preset: ci-runner\n", "POST", "/containers/create",
	       HC("\"Binds\":[\"cache:/cache\"]"), NULL, NULL);
	expect("rules:\n  - preset: ci-runner\n", "POST", "/swarm/init", "{}", NULL,
	       "preset ci-runner: ci-runner-api:");
	expect("rules:\n  - preset: portainer-agent\n", "POST", "/swarm/init", "{}", NULL,
	       "preset portainer-agent: swarm:");
	expect("rules:\n  - preset: portainer-agent\n", "POST", "/containers/web/exec",
	       "{\"Cmd\":[\"sh\"]}", NULL, NULL);
}

static void test_protect_self(void **state)
{
	const char *y = "rules:\n  - preset: protect-self\n";
	const char *id = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

	(void)state;
	assert_int_equal(dpp_presets_set_self(id, "/dpp", "/var/run/docker.sock",
					      "/etc/dpp/config.yaml"), 0);
	expect(y, "POST", "/containers/0123456789ab/stop", NULL, NULL,
	       "preset protect-self: self-container: POST /containers/{name}/stop");
	expect(y, "POST", "/containers/dpp/kill", NULL, NULL, "preset protect-self: self-container:");
	expect(y, "DELETE", "/containers/0123", NULL, NULL, "preset protect-self: self-container:");
	expect(y, "POST", "/containers/dpp/exec", "{\"Cmd\":[\"sh\"]}", NULL, "preset protect-self: self-container:");
	expect(y, "GET", "/containers/dpp/archive", NULL, NULL, "preset protect-self: self-container:");
	expect(y, "PUT", "/containers/dpp/archive", NULL, NULL, "preset protect-self: self-container:");
	expect(y, "POST", "/containers/dpp/rename", NULL, NULL, "preset protect-self: self-container:");
	expect(y, "POST", "/containers/dpp/update", "{}", NULL, "preset protect-self: self-container:");
	expect(y, "GET", "/containers/dpp/json", NULL, NULL, NULL);
	expect(y, "POST", "/containers/other/stop", NULL, NULL, NULL);
	expect(y, "POST", "/containers/create", HC("\"VolumesFrom\":[\"dpp:ro\"]"), NULL,
	       "preset protect-self: self-container: HostConfig.VolumesFrom");
	expect(y, "POST", "/containers/create", HC("\"PidMode\":\"container:0123456789abcdef\""), NULL,
	       "preset protect-self: self-container:");
	expect(y, "POST", "/containers/create", HC("\"Binds\":[\"/var/run:/r\"]"), NULL,
	       "preset protect-self: self-paths: HostConfig.Binds[0] mounts /var/run, which holds the proxy's Docker socket");
	expect(y, "POST", "/containers/create", HC("\"Binds\":[\"/etc/dpp/../dpp/config.yaml:/c\"]"), NULL,
	       "preset protect-self: self-paths:");
	expect(y, "POST", "/containers/create",
	       HC("\"Mounts\":[{\"Type\":\"bind\",\"Source\":\"/\",\"Target\":\"/h\"}]"), NULL,
	       "preset protect-self: self-paths:");
	expect(y, "POST", "/volumes/create",
	       "{\"DriverOpts\":{\"type\":\"none\",\"o\":\"bind\",\"device\":\"/etc/dpp\"}}", NULL,
	       "preset protect-self: self-paths:");
	/* protect-self alone does not refuse other binds */
	expect(y, "POST", "/containers/create", HC("\"Binds\":[\"/tmp/x:/x\"]"), NULL, NULL);
	assert_int_equal(dpp_presets_set_self(NULL, NULL, NULL, NULL), 0);
	expect(y, "POST", "/containers/0123456789ab/stop", NULL, NULL, NULL);
}

static void test_rule_keys(void **state)
{
	struct req q = {CREATE, NULL, HC("\"GroupAdd\":[\"disk\"]"), "dev"};
	struct dpp_policy_decision d;

	(void)state;
	/* except */
	run("rules:\n  - preset: no-host-escape\n    except: [group-add]\n", &q, &d);
	assert_int_equal(d.verdict, DPP_POLICY_ALLOW);
	done(&d);
	/* roles: applies to the listed roles only, admin is not exempt */
	run("rules:\n  - preset: no-host-escape\n    roles: [ops]\n", &q, &d);
	assert_int_equal(d.verdict, DPP_POLICY_ALLOW);
	done(&d);
	q.role = "admin";
	run("rules:\n  - preset: no-host-escape\n", &q, &d);
	assert_int_equal(d.verdict, DPP_POLICY_DENY);
	done(&d);
	q.role = NULL;
	run("rules:\n  - preset: no-host-escape\n    roles: [dev]\n", &q, &d);
	assert_int_equal(d.verdict, DPP_POLICY_ALLOW); /* no role: not one of them */
	done(&d);
	q.role = "dev";
	/* name, message, status */
	run("rules:\n  - preset: no-host-escape\n    name: guard\n    message: \"not here\"\n"
	    "    status: 451\n    roles: [dev, ci]\n", &q, &d);
	assert_int_equal(d.verdict, DPP_POLICY_DENY);
	assert_int_equal(d.status, 451);
	assert_string_equal(d.rule, "guard");
	assert_string_equal(d.message,
			    "not here (preset no-host-escape: group-add: HostConfig.GroupAdd adds disk)");
	done(&d);
	/* dry_run: recorded with the vector's message, not enforced */
	run("rules:\n  - preset: no-host-escape\n    dry_run: true\n", &q, &d);
	assert_int_equal(d.verdict, DPP_POLICY_ALLOW);
	assert_int_equal(d.n_dry_run, 1);
	assert_string_equal(d.dry_run[0], "no-host-escape");
	assert_string_equal(d.dry_run_actions[0], "deny");
	assert_string_equal(d.dry_run_messages[0],
			    "preset no-host-escape: group-add: HostConfig.GroupAdd adds disk");
	done(&d);
	/* include adds an optional vector */
	q.body = HC("\"ExtraHosts\":[\"a:1.2.3.4\"]");
	run("rules:\n  - preset: no-host-escape\n    include: [extra-hosts]\n", &q, &d);
	assert_int_equal(d.verdict, DPP_POLICY_DENY);
	assert_non_null(strstr(d.message, "extra-hosts"));
	done(&d);
	/* conditions narrow where it applies; default priority is the top */
	run("rules:\n  - name: allow-all\n    action: allow\n    priority: 999999\n"
	    "  - preset: no-host-escape\n    include: [extra-hosts]\n"
	    "    conditions:\n      - {field: method, operator: equals, value: POST}\n",
	    &q, &d);
	assert_int_equal(d.verdict, DPP_POLICY_DENY);
	done(&d);
}

static void expect_error(const char *yaml, const char *needle)
{
	struct dpp_ruleset *rs = NULL;
	char *errors = NULL;

	assert_int_equal(fx_compile(yaml, &rs, &errors), -1);
	assert_null(rs);
	if (errors == NULL || strstr(errors, needle) == NULL)
		fail_msg("want error containing \"%s\", got:\n%s", needle, errors ? errors : "(none)");
	free(errors);
}

static void test_compile_errors(void **state)
{
	(void)state;
	expect_error("rules:\n  - preset: no-such\n", "rules[0].preset: unknown preset \"no-such\"");
	expect_error("rules:\n  - preset: no-host-escape\n    except: [nope]\n", "unknown vector \"nope\"");
	expect_error("rules:\n  - preset: readonly\n    except: [privileged]\n",
		     "preset readonly does not check vector privileged");
	expect_error("rules:\n  - preset: readonly\n    action: allow\n",
		     "rules[0].action: does not apply to a preset rule (it denies)");
	expect_error("rules:\n  - preset: readonly\n    role: ops\n", "rules[0].role: does not apply to a preset rule");
	expect_error("rules:\n  - preset: readonly\n    roles: []\n", "must be a non-empty list of roles");
	expect_error("rules:\n  - name: x\n    action: deny\n    except: [privileged]\n",
		     "rules[0].except: only applies to a preset rule");
	expect_error("rules:\n  - preset: readonly\n  - preset: readonly\n", "duplicate rule name \"readonly\"");
}

/* --check-config's form compiles back to the same rules. */
static void test_print_roundtrip(void **state)
{
	const char *y = "rules:\n  - preset: no-host-escape\n    name: g\n    except: [group-add, sysctls]\n"
			"    include: [tmpfs-exec]\n    roles: [dev]\n    message: m\n    status: 418\n"
			"    dry_run: true\n    priority: 5\n";
	struct dpp_ruleset *rs = NULL, *rs2 = NULL;
	char *errors = NULL, *text = NULL, *text2 = NULL, *y2;
	size_t len = 0, len2 = 0;
	FILE *f;

	(void)state;
	assert_int_equal(fx_compile(y, &rs, &errors), 0);
	f = open_memstream(&text, &len);
	assert_int_equal(dpp_ruleset_print(rs, f), 0);
	fclose(f);
	assert_non_null(strstr(text, "    preset: no-host-escape\n    include: [tmpfs-exec]\n"
				     "    except: [sysctls, group-add]\n    roles: [\"dev\"]\n"
				     "    status: 418\n    message: \"m\"\n    dry_run: true\n    # checks:"));
	assert_non_null(y2 = strstr(text, "rules:"));
	assert_int_equal(fx_compile(y2, &rs2, &errors), 0);
	f = open_memstream(&text2, &len2);
	assert_int_equal(dpp_ruleset_print(rs2, f), 0);
	fclose(f);
	assert_string_equal(text, text2);
	free(text);
	free(text2);
	dpp_ruleset_unref(rs);
	dpp_ruleset_unref(rs2);
}

static void test_list(void **state)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	(void)state;
	assert_int_equal(dpp_presets_list(f), 0);
	fclose(f);
	assert_non_null(strstr(text, "no-host-escape: "));
	assert_non_null(strstr(text, "\n  cap-add "));
	assert_non_null(strstr(text, "\n    tmpfs-exec "));
	assert_non_null(strstr(text, "traefik: "));
	assert_non_null(strstr(text, "GET /containers/{name}/json"));
	assert_non_null(strstr(text, "protect-self: "));
	free(text);
}

static void test_detect(void **state)
{
	char mi[] = "/tmp/dpp-mi-XXXXXX", cg[] = "/tmp/dpp-cg-XXXXXX", id[80];
	int fm = mkstemp(mi), fc = mkstemp(cg);
	const char *cid = "4f1c8a7e2b3d4c5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6";
	FILE *f;

	(void)state;
	assert_true(fm >= 0 && fc >= 0);
	close(fm);
	close(fc);
	f = fopen(mi, "w");
	fprintf(f, "500 490 0:51 / / rw,relatime - overlay overlay rw\n"
		   "510 500 8:1 /var/lib/docker/containers/%s/resolv.conf /etc/resolv.conf rw - ext4 /dev/sda1 rw\n",
		cid);
	fclose(f);
	f = fopen(cg, "w");
	fprintf(f, "0::/\n");
	fclose(f);
	assert_int_equal(dpp_presets_detect_container(mi, cg, id, sizeof(id)), 0);
	assert_string_equal(id, cid);
	/* a Docker host's own mountinfo: another container's shm, not ours */
	f = fopen(mi, "w");
	fprintf(f, "500 490 0:51 / / rw - overlay overlay rw\n"
		   "612 29 0:77 / /var/lib/docker/containers/%s/mounts/shm rw - tmpfs shm rw\n",
		cid);
	fclose(f);
	assert_int_equal(dpp_presets_detect_container(mi, cg, id, sizeof(id)), -1);
	f = fopen(cg, "w");
	fprintf(f, "12:pids:/docker/%s\n", cid);
	fclose(f);
	assert_int_equal(dpp_presets_detect_container(mi, cg, id, sizeof(id)), 0);
	assert_string_equal(id, cid);
	unlink(mi);
	unlink(cg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vectors),
		cmocka_unit_test(test_optional_off),
		cmocka_unit_test(test_build_query),
		cmocka_unit_test(test_read_exfiltration),
		cmocka_unit_test(test_readonly_and_consumers),
		cmocka_unit_test(test_protect_self),
		cmocka_unit_test(test_rule_keys),
		cmocka_unit_test(test_compile_errors),
		cmocka_unit_test(test_print_roundtrip),
		cmocka_unit_test(test_list),
		cmocka_unit_test(test_detect),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
