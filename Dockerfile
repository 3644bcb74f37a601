# Build stage: compile TypeScript and the native SQLite binding.
FROM node:24-bookworm-slim AS build
WORKDIR /app
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
RUN npm run build && npm prune --omit=dev

# Runtime stage: only the compiled code and production dependencies, as a non-root user.
# Node 24 (the active LTS) loads better-sqlite3 13, see src/store/sqlite-driver.ts.
FROM node:24-bookworm-slim
# FERRY_CONFIG, not a --config argument: the health check reads the same file as the relay.
ENV NODE_ENV=production FERRY_DATA_DIR=/data FERRY_CONFIG=/app/config/docker.yaml
WORKDIR /app
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
COPY bin ./bin
COPY config ./config
RUN mkdir -p /data && chown node:node /data
USER node
VOLUME ["/data"]
# 2525: submission from applications (plain + STARTTLS); 465-style implicit TLS if configured.
EXPOSE 2525 8025
# /readyz at the configured http.listen (FERRY_CONFIG, FERRY_HTTP_LISTEN), whatever port that is.
HEALTHCHECK --interval=30s --timeout=5s CMD ["node", "bin/ferry", "status", "--health"]
ENTRYPOINT ["node", "bin/ferry"]
CMD ["start"]
