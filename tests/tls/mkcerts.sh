#!/bin/sh
# tests/tls/mkcerts.sh DIR - the certificates of tests/tls.lua, made fresh
# with the openssl command line (nothing is kept in the repository):
#   ca.pem                 the test CA (ca.key)
#   server.pem/.key        localhost and 127.0.0.1, signed by the CA
#   wrongname.pem/.key     wrong.example only, signed by the CA
#   expired.pem/.key       localhost, signed by the CA, valid in 2020 only
#   selfsigned.pem/.key    localhost, signed by itself
#   untrusted.pem/.key     localhost, signed by another CA (other-ca.pem)
#   client.pem/.key        a client certificate of the CA; the key in the
#                          firmware's form (BEGIN RSA PRIVATE KEY)
#   other-client.pem/.key  a client certificate of the other CA
set -eu
d=$1
mkdir -p "$d"
cd "$d"
ec() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }
cat >ext.cnf <<'E'
[server]
basicConstraints = CA:FALSE
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost, IP:127.0.0.1
[wrongname]
basicConstraints = CA:FALSE
extendedKeyUsage = serverAuth
subjectAltName = DNS:wrong.example
[client]
basicConstraints = CA:FALSE
extendedKeyUsage = clientAuth
E
# CAs
for ca in ca other-ca; do
  ec $ca.key
  openssl req -new -x509 -key $ca.key -out $ca.pem -days 2 -subj "/CN=netmcu test $ca" \
    -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign
done
# sign NAME CA EXT [KEYTYPE]: NAME.key, NAME.pem valid for two days
sign() {
  if [ "${4:-ec}" = rsa ]; then
    openssl genrsa -traditional -out "$1.key" 2048 2>/dev/null
  else
    ec "$1.key"
  fi
  openssl req -new -key "$1.key" -subj "/CN=$1" -out "$1.csr" 2>/dev/null
  openssl x509 -req -in "$1.csr" -CA "$2.pem" -CAkey "$2.key" -CAcreateserial -days 2 \
    -extfile ext.cnf -extensions "$3" -out "$1.pem" 2>/dev/null
}
sign server ca server
sign wrongname ca wrongname
sign untrusted other-ca server
sign client ca client rsa
sign other-client other-ca client
# self-signed, for localhost
ec selfsigned.key
openssl req -new -x509 -key selfsigned.key -out selfsigned.pem -days 2 -subj /CN=localhost \
  -addext subjectAltName=DNS:localhost,IP:127.0.0.1 2>/dev/null
# expired: `openssl ca` can date a certificate in the past
mkdir -p db
: >db/index.txt
echo 1000 >db/serial
cat >ca.cnf <<E
[ca]
default_ca = test
[test]
database = db/index.txt
new_certs_dir = db
serial = db/serial
default_md = sha256
policy = any
unique_subject = no
[any]
commonName = supplied
E
ec expired.key
openssl req -new -key expired.key -subj /CN=expired -out expired.csr 2>/dev/null
openssl ca -batch -config ca.cnf -cert ca.pem -keyfile ca.key -in expired.csr -out expired.pem \
  -startdate 20200101000000Z -enddate 20200201000000Z -notext \
  -extfile ext.cnf -extensions server 2>/dev/null
for f in server wrongname untrusted client other-client selfsigned expired; do
  [ -s $f.pem ] && [ -s $f.key ] || { echo "mkcerts: $f missing" >&2; exit 1; }
done
