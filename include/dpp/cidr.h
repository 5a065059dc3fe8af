/* IP addresses and CIDR blocks, shared by the rules (client_ip), the trusted
 * proxies and the config checks. Pure and thread-safe. */
#ifndef DPP_CIDR_H
#define DPP_CIDR_H

#include <stdbool.h>

struct dpp_cidr {
	int family;             /* AF_INET or AF_INET6 */
	unsigned char addr[16]; /* network order; 4 bytes used for AF_INET */
	unsigned prefix;        /* bits */
	bool mapped;            /* AF_INET6 address of the form ::ffff:a.b.c.d */
};

/* Parses "10.0.0.0/8", "192.168.1.7", "fd00::/8", "::1" (no prefix: a single
 * address). The prefix is plain decimal within the family's size. Returns 0,
 * or -1 (out undefined). */
int dpp_cidr_parse(const char *s, struct dpp_cidr *out);

/* 1 when the textual address ip lies in c. An IPv4-mapped IPv6 address
 * (::ffff:a.b.c.d, as dual-stack sockets report IPv4 peers) matches IPv4
 * blocks. NULL or not an address: false. */
bool dpp_cidr_match(const struct dpp_cidr *c, const char *ip);

/* The two halves of dpp_cidr_match, for testing one address against many
 * blocks: parse the textual address once (a single address: full prefix;
 * returns 0, or -1 when ip is NULL or not an address), then test it against
 * each block (same answers as dpp_cidr_match). */
int dpp_cidr_addr_parse(const char *ip, struct dpp_cidr *out);
bool dpp_cidr_contains(const struct dpp_cidr *block, const struct dpp_cidr *addr);

#endif
