# The kidney-volumes sidecar and CLI. Build: docker build -t kidney-volumes .
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json tsconfig.json ./
RUN npm ci --no-audit --no-fund
COPY src ./src
COPY scripts/bundle.mjs ./scripts/bundle.mjs
RUN npm run build && npm prune --omit=dev

FROM node:20-bookworm-slim
WORKDIR /app
# The clock's zone is explicit: UTC unless TZ is set. KV_TIMEZONE (the modalities' zone, e.g.
# Europe/Berlin) should be set at run time; without it the sidecar warns at start and uses TZ.
# In a container the API must listen on every interface to be reachable through a published port;
# the compose files publish it on 127.0.0.1 only.
ENV NODE_ENV=production KV_STATE_DIR=/var/lib/kidney-volumes TZ=UTC KV_TIMEZONE= KV_HTTP_HOST=0.0.0.0
# A small V8 heap (README, "Memory"): the sidecar's live heap is about 22 MB, but V8 sizes the heap
# for the machine and let it grow to 80-110 MB of mostly garbage, 160-200 MB RSS; with these two
# limits it stays near 105 MB (bench/memory-probe.ts). Override with -e NODE_OPTIONS=... if needed.
ENV NODE_OPTIONS="--max-semi-space-size=2 --max-old-space-size=96"
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
# The dashboard's pages, read at run time (src/http/dashboard/assets.ts looks for web/ above dist/).
COPY web ./web
RUN mkdir -p /var/lib/kidney-volumes && chown node:node /var/lib/kidney-volumes
USER node
VOLUME ["/var/lib/kidney-volumes"]
ENTRYPOINT ["node", "/app/dist/bundle/main.js"]
CMD ["--help"]
