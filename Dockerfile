# syntax=docker/dockerfile:1
#
# Rampart: the chat API and the secops CLI in one image.
#
# Every FROM is pinned by digest (test/cli/dockerfile.test.ts enforces it). The digest below is the
# multi-platform index of node:20.20.2-bookworm-slim as published on Docker Hub; it was taken from
# public references, since no registry is reachable from the machine this file was written on. When
# bumping Node or refreshing base-image patches, resolve the tag again and replace all four lines:
#   docker buildx imagetools inspect node:20.20.2-bookworm-slim --format '{{json .Manifest.Digest}}'
# (or `crane digest node:20.20.2-bookworm-slim`), then build and run the test suite.
#
# Build:  docker build --build-arg GIT_SHA="$(git rev-parse HEAD)" -t rampart .
# Run:    docker run --read-only --tmpfs /tmp -e DATABASE_URL=… -e JWT_SECRET=… -p 3000:3000 rampart
# CLI:    docker run --rm -e DATABASE_URL=… rampart secops migrate latest

# ---- deps: every dependency, for the TypeScript build -------------------------------------------
FROM node:20.20.2-bookworm-slim@sha256:2cf067cfed83d5ea958367df9f966191a942351a2df77d6f0193e162b5febfc0 AS deps
WORKDIR /app
COPY package.json package-lock.json ./
# Install scripts follow package.json "allowScripts": argon2 loads its shipped prebuilt binary, and
# cyclonedx's optional libxmljs2 is not compiled (JSON SBOMs do not need it).
RUN npm ci --no-audit --no-fund

# ---- build: compile to dist/ and stamp dist/build-info.json -------------------------------------
FROM node:20.20.2-bookworm-slim@sha256:2cf067cfed83d5ea958367df9f966191a942351a2df77d6f0193e162b5febfc0 AS build
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY . .
# .git is not in the build context (.dockerignore): the commit comes in as a build argument.
ARG GIT_SHA=unknown
RUN GIT_SHA="${GIT_SHA}" npm run build

# ---- prod-deps: production dependencies only ----------------------------------------------------
FROM node:20.20.2-bookworm-slim@sha256:2cf067cfed83d5ea958367df9f966191a942351a2df77d6f0193e162b5febfc0 AS prod-deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

# ---- runtime ------------------------------------------------------------------------------------
FROM node:20.20.2-bookworm-slim@sha256:2cf067cfed83d5ea958367df9f966191a942351a2df77d6f0193e162b5febfc0 AS runtime
WORKDIR /app
# secops backup/drill need pg_dump, pg_restore and pg_amcheck (PostgreSQL 15 client, as the server).
RUN apt-get update \
 && apt-get install -y --no-install-recommends postgresql-client-15 \
 && rm -rf /var/lib/apt/lists/*
# UV_THREADPOOL_SIZE: the pod's CPU limit + 4 (service/src/platform/threadpool.cjs explains why).
# Set here because os.availableParallelism() sees the node's CPUs, not the container's CPU quota;
# override it at deploy time when the CPU limit is not 4. HOME points at /tmp so that nothing tries
# to write under a read-only root file system.
ENV NODE_ENV=production \
    UV_THREADPOOL_SIZE=8 \
    HOME=/tmp \
    PORT=3000
# Code and dependencies stay owned by root and read-only for the service user.
COPY --from=prod-deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
COPY bin ./bin
RUN ln -s /app/bin/secops.js /usr/local/bin/secops \
 && groupadd --system --gid 10001 rampart \
 && useradd --system --uid 10001 --gid 10001 --home-dir /tmp --no-create-home --shell /usr/sbin/nologin rampart
USER 10001:10001
EXPOSE 3000 9464
# Liveness through node itself: the slim image has no curl or wget.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||3000)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
CMD ["node", "--require", "./dist/service/src/platform/threadpool.cjs", "--import", "./dist/service/src/platform/tracing-preload.mjs", "dist/service/src/main.js"]
