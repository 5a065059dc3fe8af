#!/bin/sh
# Generates the test PKI for test_tls into the directory $1 (created if
# missing), with certtool only (Debian gnutls-bin). Fixed serial numbers so
# tests can check that they reach the peer identity.
#
#   ca.pem ca.key               test CA ("dpp test CA")
#   ca2.pem ca2.key             a different CA ("dpp other CA")
#   server.pem                  CN=localhost, DNS SAN localhost, IP SAN 127.0.0.1,
#                               serial 0x5e0001, signed by ca
#   server.key                  its RSA key as PKCS#8  (BEGIN PRIVATE KEY)
#   server-rsa.key              the same key as PKCS#1 (BEGIN RSA PRIVATE KEY)
#   server2.pem server2.key     same names, serial 0x5e0002, own key (PKCS#8)
#   server-ec.pem server-ec.key ECDSA P-256, key in SEC1 (BEGIN EC PRIVATE KEY),
#                               serial 0x5e0003
#   alice.pem/.key              client, CN=alice, serial 0x0a0001
#   bob.pem/.key                client, CN=bob, DNS SAN ci.example.com, serial 0x0b0001
#   node1.pem/.key              client, CN=node1.build.example.com, DNS SANs
#                               node1.build.example.com and *.build.example.com
#   expired.pem/.key            client, CN=old, valid 2020-01-01 .. 2020-01-02
#   foreign.pem/.key            client, CN=mallory, signed by ca2
#   serveronly.pem/.key         CN=carol, signed by ca, key purpose TLS server only
set -eu

dir=${1:?usage: make_certs.sh DIR}
mkdir -p "$dir"
cd "$dir"

# certtool prints each certificate it writes; keep the output quiet.
ct() {
	certtool "$@" >/dev/null 2>certtool.log || { cat certtool.log >&2; exit 1; }
}

rsa_key() { # PKCS#1
	ct --generate-privkey --key-type=rsa --bits=2048 --no-text --outfile "$1"
}

cat >ca.tmpl <<'EOF'
cn = "dpp test CA"
ca
cert_signing_key
expiration_days = 3650
serial = 0x01
EOF
rsa_key ca.key
ct --generate-self-signed --load-privkey ca.key --template ca.tmpl --outfile ca.pem

sed -e 's/dpp test CA/dpp other CA/' ca.tmpl >ca2.tmpl
rsa_key ca2.key
ct --generate-self-signed --load-privkey ca2.key --template ca2.tmpl --outfile ca2.pem

# leaf NAME KEY CA TEMPLATE-LINES...
leaf() {
	name=$1 key=$2 ca=$3
	shift 3
	printf '%s\n' "$@" >"$name.tmpl"
	ct --generate-certificate --load-privkey "$key" --load-ca-privkey "$ca.key" \
		--load-ca-certificate "$ca.pem" --template "$name.tmpl" --outfile "$name.pem"
}

rsa_key server-rsa.key
ct --to-p8 --load-privkey server-rsa.key --password '' --no-text --outfile server.key
leaf server server-rsa.key ca 'cn = "localhost"' 'dns_name = "localhost"' \
	'ip_address = "127.0.0.1"' 'tls_www_server' 'signing_key' 'encryption_key' \
	'expiration_days = 365' 'serial = 0x5e0001'

rsa_key server2-rsa.key
ct --to-p8 --load-privkey server2-rsa.key --password '' --no-text --outfile server2.key
leaf server2 server2.key ca 'cn = "localhost"' 'dns_name = "localhost"' \
	'ip_address = "127.0.0.1"' 'tls_www_server' 'signing_key' 'encryption_key' \
	'expiration_days = 365' 'serial = 0x5e0002'

ct --generate-privkey --key-type=ecdsa --curve=secp256r1 --no-text --outfile server-ec.key
leaf server-ec server-ec.key ca 'cn = "localhost"' 'dns_name = "localhost"' \
	'ip_address = "127.0.0.1"' 'tls_www_server' 'signing_key' \
	'expiration_days = 365' 'serial = 0x5e0003'

client() { # NAME CA TEMPLATE-LINES...
	name=$1 ca=$2
	shift 2
	ct --generate-privkey --key-type=ecdsa --curve=secp256r1 --no-text --outfile "$name.key"
	leaf "$name" "$name.key" "$ca" 'tls_www_client' 'signing_key' "$@"
}

client alice ca 'cn = "alice"' 'expiration_days = 365' 'serial = 0x0a0001'
client bob ca 'cn = "bob"' 'dns_name = "ci.example.com"' 'expiration_days = 365' \
	'serial = 0x0b0001'
client node1 ca 'cn = "node1.build.example.com"' 'dns_name = "node1.build.example.com"' \
	'dns_name = "*.build.example.com"' 'expiration_days = 365' 'serial = 0x0c0001'
client expired ca 'cn = "old"' 'activation_date = "2020-01-01 00:00:00"' \
	'expiration_date = "2020-01-02 00:00:00"' 'serial = 0x0d0001'
client foreign ca2 'cn = "mallory"' 'expiration_days = 365' 'serial = 0x0e0001'

ct --generate-privkey --key-type=ecdsa --curve=secp256r1 --no-text --outfile serveronly.key
leaf serveronly serveronly.key ca 'cn = "carol"' 'tls_www_server' 'signing_key' \
	'expiration_days = 365' 'serial = 0x0f0001'

rm -f ./*.tmpl certtool.log
