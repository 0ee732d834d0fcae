# Client certificates with openssl, as kubeadm makes them (ECDSA P-256, client-auth usage). Source it.
#   make_ca DIR NAME                  → DIR/NAME.crt, DIR/NAME.key
#   make_client DIR CA FILE CN [ORG]  → DIR/FILE.crt, DIR/FILE.key signed by DIR/CA.crt
make_ca() {
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj "/CN=$2" \
    -keyout "$1/$2.key" -out "$1/$2.crt" 2>/dev/null
}
make_client() {
  local dir=$1 ca=$2 file=$3 subject="/CN=$4${5:+/O=$5}"
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "$subject" \
    -keyout "$dir/$file.key" -out "$dir/$file.csr" 2>/dev/null
  printf 'extendedKeyUsage=clientAuth\n' >"$dir/$file.ext"
  openssl x509 -req -in "$dir/$file.csr" -CA "$dir/$ca.crt" -CAkey "$dir/$ca.key" -CAcreateserial -days 2 \
    -extfile "$dir/$file.ext" -out "$dir/$file.crt" 2>/dev/null
}
