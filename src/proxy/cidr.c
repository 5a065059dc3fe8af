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

bool dpp_cidr_match(const struct dpp_cidr *c, const char *ip)
{
	static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	unsigned char a[16];
	const unsigned char *p = a;
	unsigned full, rest;

	if (ip == NULL)
		return false;
	if (inet_pton(AF_INET, ip, a) == 1) {
		if (c->family != AF_INET)
			return false;
	} else if (inet_pton(AF_INET6, ip, a) == 1) {
		if (c->family == AF_INET) {
			if (memcmp(a, mapped, sizeof(mapped)) != 0)
				return false;
			p = a + 12;
		}
	} else {
		return false;
	}
	full = c->prefix / 8;
	rest = c->prefix % 8;
	if (memcmp(p, c->addr, full) != 0)
		return false;
	if (rest != 0) {
		unsigned char mask = (unsigned char)(0xffu << (8 - rest));

		if ((p[full] & mask) != (c->addr[full] & mask))
			return false;
	}
	return true;
}
