# Quorum Lock server image: `docker build -t quorumlock .`, then `docker run quorumlock serve`
# with QUORUMLOCK_* variables (see deploy/docker-compose.yml and deploy/k8s/).

# ---- build: compiles TypeScript with the dev dependencies, then drops them -------------------
FROM node:20-bookworm-slim AS build
# rocksdb ships prebuilt binaries for linux-x64; other architectures compile it.
RUN apt-get update \
  && apt-get install -y --no-install-recommends python3 make g++ \
  && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY proto ./proto
COPY libs ./libs
COPY apps ./apps
RUN npx tsc -p tsconfig.build.json && npm prune --omit=dev --no-audit --no-fund

# ---- runtime -------------------------------------------------------------------------------
FROM node:20-bookworm-slim
WORKDIR /app
# A fixed uid/gid so that volumes (and Kubernetes fsGroup) can be prepared for it.
RUN groupadd --system --gid 10001 quorumlock \
  && useradd --system --uid 10001 --gid quorumlock --home-dir /app --shell /usr/sbin/nologin quorumlock \
  && mkdir -p /data \
  && chown quorumlock:quorumlock /data
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
# The Raft transport finds proto/raft/v1/raft.proto by walking up from dist/; the public API is
# compiled in (generated code).
COPY --from=build /app/proto ./proto

# Containers bind every listener on all interfaces; QUORUMLOCK_ID, QUORUMLOCK_PEERS,
# QUORUMLOCK_CLIENT_ADDRESS (the advertised name) and the TLS files (QUORUMLOCK_CERT_FILE and the
# rest, or QUORUMLOCK_INSECURE=true to run in plaintext) come from the deployment.
ENV QUORUMLOCK_DATA_DIR=/data \
  QUORUMLOCK_CLIENT_LISTEN_ADDRESS=0.0.0.0:7001 \
  QUORUMLOCK_PEER_ADDRESS=0.0.0.0:7101 \
  QUORUMLOCK_HTTP_ADDRESS=0.0.0.0:9101 \
  QUORUMLOCK_LOG_FORMAT=json
VOLUME ["/data"]
# 7001 gRPC API, 7101 Raft peers, 9101 HTTP /healthz /readyz /metrics
EXPOSE 7001 7101 9101
USER quorumlock:quorumlock
ENTRYPOINT ["node", "dist/apps/lock-service/src/cli/quorumlock.js"]
CMD ["serve"]
