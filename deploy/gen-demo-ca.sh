#!/bin/sh
# A throw-away CA and broker certificate for the demo and tests. A province's
# hub uses a certificate from its own CA (or a public one) instead.
# Usage: gen-demo-ca.sh OUTDIR [EXTRA_DNS_NAME ...]   (does nothing if OUTDIR/server.crt exists)
set -eu
out=${1:?usage: gen-demo-ca.sh OUTDIR [DNS_NAME ...]}
shift
mkdir -p "$out"
if [ -s "$out/server.crt" ]; then
    echo "demo CA already in $out"
    exit 0
fi
san="DNS:mosquitto,DNS:localhost,IP:127.0.0.1"
for name in "$@"; do
    [ -n "$name" ] && san="$san,DNS:$name"
done
umask 077
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 825 \
    -subj "/CN=Tem demo CA" -keyout "$out/ca.key" -out "$out/ca.crt" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -subj "/CN=mosquitto" -keyout "$out/server.key" -out "$out/server.csr" 2>/dev/null
printf 'subjectAltName=%s\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' "$san" > "$out/server.ext"
openssl x509 -req -in "$out/server.csr" -CA "$out/ca.crt" -CAkey "$out/ca.key" -CAcreateserial \
    -days 825 -extfile "$out/server.ext" -out "$out/server.crt" 2>/dev/null
rm -f "$out/server.csr" "$out/server.ext" "$out/ca.srl"
chmod 644 "$out/ca.crt" "$out/server.crt"
# mosquitto may run as another user than the one that made the key (compose: same image, root)
chmod 640 "$out/server.key"
echo "demo CA and broker certificate in $out ($san)"
