#!/usr/bin/env bash
# Generates the TypeScript of the public API (proto/quorumlock/v1) with ts-proto, twice from the
# same .proto files: the SDK's copy reads uint64 as bigint (exact whatever a server sends), the
# server's as number (its fencing tokens and indexes are Raft log positions, far below 2^53).
#
#   scripts/gen-proto.sh          regenerate the committed code
#   scripts/gen-proto.sh --check  fail when the committed code is not what proto/ generates
#
# Needs protoc (Debian: protobuf-compiler); the plugin is the pinned ts-proto in node_modules.
set -euo pipefail
cd "$(dirname "$0")/.."

# snake_case fields as on the wire; enums without ts-proto's extra UNRECOGNIZED member;
# generic definitions (method names and message codecs) from which grpc-js definitions are made;
# no version header, so that any protoc gives the same bytes.
OPTS=snakeToCamel=false,esModuleInterop=true,importSuffix=.js,outputServices=generic-definitions
OPTS+=,outputJsonMethods=false,unrecognizedEnum=false,useExactTypes=false
OPTS+=,exportCommonSymbols=false,annotateFilesWithVersion=false

# output directory and uint64 representation of each copy
TARGETS=(libs/client/src/gen:bigint apps/lock-service/src/gen:number)

command -v protoc >/dev/null || {
  echo "gen-proto: protoc not found (Debian: apt-get install protobuf-compiler)" >&2
  exit 1
}

generate() { # $1: output directory, $2: forceLong
  rm -rf "$1"
  mkdir -p "$1"
  protoc --plugin=protoc-gen-ts_proto=node_modules/.bin/protoc-gen-ts_proto --proto_path=proto \
    --ts_proto_out="$1" --ts_proto_opt="$OPTS,forceLong=$2" proto/quorumlock/v1/*.proto
}

if [[ "${1:-}" == "--check" ]]; then
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  stale=0
  for t in "${TARGETS[@]}"; do
    generate "$tmp/${t%%:*}" "${t##*:}"
    diff -ru "${t%%:*}" "$tmp/${t%%:*}" || stale=1
  done
  if ((stale)); then
    echo "gen-proto: generated code is stale: run 'npm run gen:proto' and commit it" >&2
    exit 1
  fi
  echo "gen-proto: generated code matches proto/"
else
  for t in "${TARGETS[@]}"; do generate "${t%%:*}" "${t##*:}"; done
fi
