#!/bin/sh
# tests/http/certs.sh DIR - a test CA and server certificates made now,
# valid for hours only:
#   ca.pem                        the CA the tests trust
#   https.{pem,key}               localhost / 127.0.0.1, signed by the CA
#   expired.{pem,key}             the same names, expired in 2020
#   wrongname.{pem,key}           wrong.example only, signed by the CA
#   untrusted.{pem,key}           localhost / 127.0.0.1, signed by another CA
set -eu
d=$1
mkdir -p "$d"
cd "$d"
q() { "$@" >/dev/null 2>&1; }
cat >ca.cnf <<'EOF'
[ca]
default_ca = test
[test]
dir = .
database = index.txt
new_certs_dir = .
serial = serial
default_md = sha256
policy = any
copy_extensions = copy
unique_subject = no
[any]
commonName = supplied
[req]
distinguished_name = dn
prompt = no
[dn]
CN = netmcu test
[v3_ca]
basicConstraints = critical,CA:true
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
EOF
: >index.txt
echo 1000 >serial
# ca NAME: a self-signed CA
ca() {
  q openssl req -x509 -new -newkey rsa:2048 -nodes -keyout "$1.key" -out "$1.pem" -days 1 \
    -subj "/CN=netmcu $1" -config ca.cnf -extensions v3_ca
}
# leaf NAME SAN CA [ca options]: a server certificate signed by CA
leaf() {
  n=$1 san=$2 signer=$3
  shift 3
  q openssl req -new -newkey rsa:2048 -nodes -keyout "$n.key" -out "$n.csr" -subj "/CN=$n" \
    -addext "subjectAltName=$san" -addext "basicConstraints=CA:false" \
    -addext "extendedKeyUsage=serverAuth"
  q openssl ca -batch -config ca.cnf -cert "$signer.pem" -keyfile "$signer.key" -in "$n.csr" \
    -out "$n.pem" -notext "$@"
}
ca ca
ca otherca
leaf https "DNS:localhost,IP:127.0.0.1" ca -days 1
leaf expired "DNS:localhost,IP:127.0.0.1" ca -startdate 20200101000000Z -enddate 20200102000000Z
leaf wrongname "DNS:wrong.example" ca -days 1
leaf untrusted "DNS:localhost,IP:127.0.0.1" otherca -days 1
for n in https expired wrongname untrusted; do [ -s "$n.pem" ] || exit 1; done
