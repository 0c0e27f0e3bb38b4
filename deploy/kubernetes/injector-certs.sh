#!/usr/bin/env bash
# Makes the injector's TLS certificate without cert-manager: a private CA, a server certificate for the
# injector's Service name, the Secret meshlet-injector-tls, and the CA as the webhook's caBundle.
# Usage: deploy/kubernetes/injector-certs.sh [DAYS]   (after `kubectl apply -k deploy/kubernetes`)
# Run it again before DAYS (default 365) pass: the injector reloads the renewed files without a restart.
set -euo pipefail

days="${1:-365}"
namespace="${MESHLET_NAMESPACE:-meshlet-system}"
service="meshlet-injector"
kubectl="${KUBECTL:-kubectl}"
dir="$(mktemp -d)"
trap 'rm -rf "$dir"' EXIT

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days "$days" \
  -subj "/CN=meshlet-injector-ca" -keyout "$dir/ca.key" -out "$dir/ca.crt" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
  -subj "/CN=$service.$namespace.svc" -keyout "$dir/tls.key" -out "$dir/tls.csr" 2>/dev/null
printf 'subjectAltName=DNS:%s.%s.svc,DNS:%s.%s.svc.cluster.local\nextendedKeyUsage=serverAuth\n' \
  "$service" "$namespace" "$service" "$namespace" >"$dir/ext.cnf"
openssl x509 -req -in "$dir/tls.csr" -CA "$dir/ca.crt" -CAkey "$dir/ca.key" -CAcreateserial -days "$days" \
  -extfile "$dir/ext.cnf" -out "$dir/tls.crt" 2>/dev/null

"$kubectl" -n "$namespace" create secret tls meshlet-injector-tls --cert "$dir/tls.crt" --key "$dir/tls.key" \
  --dry-run=client -o yaml | "$kubectl" apply -f -
ca_bundle="$(base64 <"$dir/ca.crt" | tr -d '\n')"
"$kubectl" patch mutatingwebhookconfiguration meshlet-injector --type=json \
  -p "[{\"op\":\"add\",\"path\":\"/webhooks/0/clientConfig/caBundle\",\"value\":\"$ca_bundle\"}]"
echo "meshlet-injector-tls written in $namespace; the webhook trusts its CA (valid $days days)"
