#!/usr/bin/env python3
"""Writes a docker-policy-proxy configuration for the benchmarks.

usage: gen_config.py RULES SOCKET PORT > config.yaml

RULES is 0, 20 or any larger count. The 20-rule set is the issue's mix: 16
regex path rules, a body rule, a method rule, a CIDR rule and a rate limit,
none of which denies the benchmark's requests (so every rule that can match
is evaluated). Larger counts add rules of the same shapes on other paths and
methods, as a big site policy would have them.
"""
import sys

SECTIONS = ["secrets", "configs", "swarm", "nodes", "services", "tasks", "plugins",
            "build", "commit", "session", "distribution", "auth", "system/df",
            "images/[^/]+/push", "containers/[^/]+/exec", "exec/[^/]+/start"]


def q(s):
    return "'" + s.replace("'", "''") + "'"


def main():
    n, sock, port = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    out = ["global:", f"  port: {port}", "  bind: 127.0.0.1", f"  socket: {sock}",
           "  log_level: warn", "auth:", "  type: none", "rules:"]
    rules = []
    if n >= 20:
        for i, s in enumerate(SECTIONS):
            rules.append(f"  - {{name: deny-{i}, action: deny, conditions: "
                         f"[{{field: path, operator: matches, value: {q('^/' + s + '(/|$)')}}}]}}")
        rules.append("  - {name: no-privileged, action: deny, conditions: ["
                     "{field: path, operator: equals, value: /containers/create}, "
                     "{field: body.HostConfig.Privileged, operator: equals, value: true}]}")
        rules.append("  - {name: no-patch, action: deny, conditions: "
                     "[{field: method, operator: equals, value: PATCH}]}")
        rules.append("  - {name: loopback-only, action: deny, conditions: "
                     "[{field: client_ip, operator: not_in, value: ['127.0.0.0/8', '::1/128']}]}")
        rules.append("  - {name: global-limit, action: rate_limit, "
                     "rate_limit: {requests: 1000000, period: 1s}, conditions: "
                     "[{field: path, operator: starts_with, value: /}]}")
    i = 0
    while len(rules) < n:
        kind = i % 5
        if kind == 0:
            rules.append(f"  - {{name: x{i}, action: deny, conditions: [{{field: path, operator: matches, "
                         f"value: {q(f'^/volumes/vol{i}(/|$)')}}}]}}")
        elif kind == 1:
            rules.append(f"  - {{name: x{i}, action: deny, conditions: [{{field: path, operator: equals, "
                         f"value: /containers/create}}, {{field: body.Labels.team{i}, operator: exists}}]}}")
        elif kind == 2:
            rules.append(f"  - {{name: x{i}, action: deny, conditions: [{{field: method, operator: equals, "
                         f"value: DELETE}}, {{field: path, operator: starts_with, value: /networks/net{i}}}]}}")
        elif kind == 3:
            rules.append(f"  - {{name: x{i}, action: deny, conditions: [{{field: path, operator: starts_with, "
                         f"value: /images/img{i}}}, {{field: client_ip, operator: in, value: ['10.{i % 250}.0.0/16']}}]}}")
        else:
            rules.append(f"  - {{name: x{i}, action: deny, conditions: [{{field: path, operator: matches, "
                         f"value: {q(f'^/containers/c{i}[0-9a-f]*/(kill|stop)$')}}}]}}")
        i += 1
    out += rules if rules else []
    if not rules:
        out[-1] = "rules: []"
    print("\n".join(out))


if __name__ == "__main__":
    main()
