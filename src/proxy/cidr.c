#include "dpp/cidr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

int dpp_cidr_parse(const char *s, struct dpp_cidr *out)
{
	char addr[INET6_ADDRSTRLEN + 1];
	const char *slash = strchr(s, '/');
	size_t alen = slash != NULL ? (size_t)(slash - s) : strlen(s);
	unsigned max;

	if (alen == 0 || alen >= sizeof(addr))
		return -1;
	memcpy(addr, s, alen);
	addr[alen] = '\0';
	memset(out, 0, sizeof(*out));
	if (inet_pton(AF_INET, addr, out->addr) == 1) {
		out->family = AF_INET;
		max = 32;
	} else if (inet_pton(AF_INET6, addr, out->addr) == 1) {
		out->family = AF_INET6;
		max = 128;
	} else {
		return -1;
	}
	out->prefix = max;
	if (slash != NULL) {
		char *end;
		unsigned long p;

		if (slash[1] < '0' || slash[1] > '9')
			return -1;
		errno = 0;
		p = strtoul(slash + 1, &end, 10);
		if (errno != 0 || *end != '\0' || p > max)
			return -1;
		out->prefix = (unsigned)p;
	}
	return 0;
}

int dpp_cidr_addr_parse(const char *ip, struct dpp_cidr *out)
{
	static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

	if (ip == NULL)
		return -1;
	memset(out, 0, sizeof(*out));
	if (inet_pton(AF_INET, ip, out->addr) == 1) {
		out->family = AF_INET;
		out->prefix = 32;
	} else if (inet_pton(AF_INET6, ip, out->addr) == 1) {
		out->family = AF_INET6;
		out->prefix = 128;
		if (memcmp(out->addr, mapped, sizeof(mapped)) == 0)
			out->mapped = true;
	} else {
		return -1;
	}
	return 0;
}

bool dpp_cidr_contains(const struct dpp_cidr *c, const struct dpp_cidr *a)
{
	const unsigned char *p = a->addr;
	unsigned full, rest;

	if (a->family == AF_INET) {
		if (c->family != AF_INET)
			return false;
	} else if (c->family == AF_INET) {
		if (!a->mapped)
			return false;
		p = a->addr + 12;
	}
	full = c->prefix / 8;
	rest = c->prefix % 8;
	for (unsigned i = 0; i < full; i++) { /* at most 16: no memcmp call */
		if (p[i] != c->addr[i])
			return false;
	}
	if (rest != 0) {
		unsigned char mask = (unsigned char)(0xffu << (8 - rest));

		if ((p[full] & mask) != (c->addr[full] & mask))
			return false;
	}
	return true;
}

bool dpp_cidr_match(const struct dpp_cidr *c, const char *ip)
{
	struct dpp_cidr a;

	return dpp_cidr_addr_parse(ip, &a) == 0 && dpp_cidr_contains(c, &a);
}
