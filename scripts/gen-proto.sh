#!/usr/bin/env bash
# Regenerates src/gen from proto/. With --check, fails when the committed files are stale.
set -euo pipefail
cd "$(dirname "$0")/.."
out=src/gen
if [[ "${1:-}" == "--check" ]]; then
  out=$(mktemp -d)
  trap 'rm -rf "$out"' EXIT
fi
rm -rf "${out:?}/meshlet" "$out"/*.ts 2>/dev/null || true
mapfile -t protos < <(find proto -name '*.proto' | sort)
proto-loader-gen-types --grpcLib=@grpc/grpc-js --longs=Number --enums=String --defaults --oneofs \
  --importFileExtension=.ts --outDir="$out" "${protos[@]}"
node scripts/gen-descriptor.ts "$out"
if [[ "${1:-}" == "--check" ]]; then
  if ! diff -r "$out" src/gen >/dev/null; then
    diff -r "$out" src/gen | head -40
    echo "src/gen is stale: run 'npm run gen' and commit the result" >&2
    exit 1
  fi
  echo "src/gen is up to date"
fi
