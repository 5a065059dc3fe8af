/* What the transport knows about the client of one connection: TLS and a
 * verified client certificate, or the Unix-socket peer credentials. Filled by
 * the server (GnuTLS, SO_PEERCRED), read by the auth module
 * (dpp_auth_authenticate_request). A plain value: copy it freely; no pointers.
 *
 * Rules for whoever fills it (the auth module fails closed when they are
 * broken):
 *  - has_cert is 1 only when the certificate chain was verified against
 *    global.client_ca during this connection's handshake (GnuTLS merely
 *    *requests* a certificate: the handshake succeeds without one). A
 *    certificate counts only together with tls = 1.
 *  - cn and dns_sans[i] are NUL-terminated within their arrays; a name that
 *    does not fit (255 bytes) must not be truncated into a different name:
 *    leave it out, or fill the whole array without a NUL, which the auth
 *    module rejects. Only the first n_dns_sans (at most DPP_PEER_SANS_MAX)
 *    entries are read.
 *  - unix_peer is 1 only for the Unix-socket listener, with uid/gid/pid from
 *    SO_PEERCRED (getsockopt(2), socket(7)); gid is the primary group only
 *    (supplementary groups are not known). When SO_PEERCRED fails, leave
 *    unix_peer 0 or set uid and gid to (uint32_t)-1, which no map entry can
 *    name. */
#ifndef DPP_PEER_H
#define DPP_PEER_H

#include <stddef.h>
#include <stdint.h>

#define DPP_PEER_NAME_MAX 256 /* bytes including NUL: CN and each DNS SAN */
#define DPP_PEER_SANS_MAX 8   /* DNS subjectAltNames kept */

struct dpp_peer {
	int tls;                    /* came over TLS */
	int has_cert;               /* a certificate verified against client_ca */
	char cn[DPP_PEER_NAME_MAX]; /* subject CN ("" when none) */
	char dns_sans[DPP_PEER_SANS_MAX][DPP_PEER_NAME_MAX]; /* DNS subjectAltNames */
	size_t n_dns_sans;          /* entries used in dns_sans */
	char serial_hex[64];        /* TLS: certificate serial, lower-case hex as
				       `certtool -i` shows it ("" when none) */
	int unix_peer;              /* came over the Unix-socket listener */
	uint32_t uid, gid;          /* SO_PEERCRED (gid: primary group) */
	int32_t pid;                /* SO_PEERCRED; informational */
};

#endif
