#!/bin/sh
# Certificates for deploy/docker-compose.yml, made with openssl: a CA for the client plane (the
# API, which clients verify and which verifies them) and one for the peer plane (members only),
# each node's API and peer certificates, and client certificates for the CLI and Prometheus.
# The same commands as the README's "Securing a cluster", with the compose service names.
#   deploy/make-certs.sh [dir]      (default: deploy/certs, which docker-compose.yml mounts)
set -eu
dir=${1:-$(dirname "$0")/certs}
mkdir -p "$dir"
cd "$dir"

for ca in client-ca peer-ca; do
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 365 \
    -subj "/CN=quorumlock $ca" -keyout $ca.key -out $ca.crt \
    -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign
done

# sign NAME CA USAGE [SANS]: NAME.key and NAME.crt, signed by CA, Common Name NAME.
sign() {
  printf 'extendedKeyUsage=%s\n' "$3" > "$1.ext"
  if [ -n "${4:-}" ]; then printf 'subjectAltName=%s\n' "$4" >> "$1.ext"; fi
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -subj "/CN=$1" -keyout "$1.key" -out "$1.csr"
  openssl x509 -req -in "$1.csr" -CA "$2.crt" -CAkey "$2.key" -CAcreateserial -days 365 \
    -extfile "$1.ext" -out "$1.crt"
  rm "$1.csr" "$1.ext"
}

for n in n1 n2 n3; do
  # The API: clients reach it as nX inside the compose network, localhost from the host.
  sign $n client-ca serverAuth DNS:$n,DNS:localhost,IP:127.0.0.1
  # Raft and forwarded calls: members dial each other as nX, and verify each other both ways.
  sign $n-peer peer-ca serverAuth,clientAuth DNS:$n
done
sign client client-ca clientAuth

# The containers run as uid 10001, which must read the keys through the bind mount: in this
# local sandbox they are world-readable. In production, mount them readable by that user only.
chmod 644 ./*.key
echo "certificates in $(pwd)"
