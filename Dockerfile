# graylane gateway image: `docker build -t graylane:0.1.0 .`
# Runs `graylane serve -c /etc/graylane/graylane.yaml` (mount the config there: a ConfigMap, a bind
# mount; none is baked in) as uid 1000, fit for a read-only root filesystem:
# everything it writes (the SQLite state, clustered mode's spec cache) goes under /var/lib/graylane,
# its working directory, where the default relative paths (.graylane/...) land.
# test/deploy/dockerfile.test.ts lints this file and runs its commands in a temporary directory.

# Node ^20.19 or >= 22.12 (package.json engines): require(esm) for CommonJS users of @graylane/lanes.
ARG NODE_IMAGE=node:20-bookworm-slim

# --- build: compile TypeScript and the native better-sqlite3, then drop the dev dependencies ---
FROM ${NODE_IMAGE} AS build
# node-gyp builds better-sqlite3 from source when no prebuilt binary fits (.ci/debian-packages).
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Dependencies first (a layer that changes only with the lock file); `prepare` needs the sources.
COPY package.json package-lock.json ./
COPY packages/lanes/package.json packages/lanes/
RUN npm ci --ignore-scripts --no-audit --no-fund \
 && npm rebuild better-sqlite3 esbuild protobufjs
COPY . .
RUN npm run build
RUN npm prune --omit=dev --no-audit --no-fund

# --- runtime: the compiled gateway, its dashboard and production dependencies only ---
FROM ${NODE_IMAGE} AS runtime
# docker build --build-arg VERSION=0.1.0 --build-arg REVISION=$(git rev-parse HEAD) --build-arg SOURCE=<repository URL> .
ARG VERSION=0.1.0
ARG REVISION=unknown
ARG SOURCE=unknown
LABEL org.opencontainers.image.title="graylane" \
      org.opencontainers.image.description="Gray-release (canary) gateway: mark requests into lanes, dispatch them to service versions, roll out step by step." \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.documentation="docs/deploy.md in the source repository" \
      org.opencontainers.image.base.name="${NODE_IMAGE}"
ENV NODE_ENV=production
WORKDIR /opt/graylane
COPY --from=build /src/package.json ./package.json
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist/src ./dist/src
COPY --from=build /src/dist/web ./dist/web
COPY --from=build /src/schema ./schema
COPY --from=build /src/packages/lanes/package.json ./packages/lanes/package.json
COPY --from=build /src/packages/lanes/dist/src ./packages/lanes/dist/src
# uid 1000 is the base image's `node` user; numeric, so runAsNonRoot can verify it.
RUN mkdir -p /var/lib/graylane && chown 1000:1000 /var/lib/graylane
USER 1000:1000
WORKDIR /var/lib/graylane
VOLUME ["/var/lib/graylane"]
# 8080: traffic; 9090: admin API, /metrics, /healthz, /readyz (the config's admin.listen must not be loopback-only for probes from outside).
EXPOSE 8080 9090
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD ["node", "-e", "fetch(process.env.GRAYLANE_HEALTH_URL||'http://127.0.0.1:9090/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["node", "/opt/graylane/dist/src/cli/main.js"]
CMD ["serve", "-c", "/etc/graylane/graylane.yaml"]
