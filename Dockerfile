# One image, every role: docker run weir relay --dir /data ...
# Build stage: native modules (better-sqlite3) need a compiler, the build needs the development
# dependencies (TypeScript, solc); the runtime stage gets the compiled JavaScript and runtime packages only.
FROM node:20-bookworm-slim AS build
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY . .
# --omit=optional drops TypeScript, which npm otherwise keeps as viem's optional peer
RUN npm run build && npm prune --omit=dev --omit=optional --no-audit --no-fund

FROM node:20-bookworm-slim
WORKDIR /app
COPY --from=build --chown=node:node /app/package.json ./
COPY --from=build --chown=node:node /app/node_modules ./node_modules
COPY --from=build --chown=node:node /app/bin ./bin
COPY --from=build --chown=node:node /app/dist ./dist
COPY --from=build --chown=node:node /app/contracts/artifacts ./contracts/artifacts
COPY --from=build --chown=node:node /app/simulations/scenarios ./simulations/scenarios
USER node
# The data dir holds the identity key (0600), network.json, config.json and the ledger's SQLite file.
VOLUME ["/data"]
ENV WEIR_HEALTH=127.0.0.1:9090/status
# Point WEIR_HEALTH at the role's status or API address: relay/witness --status, ledger --api (/healthz).
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s \
  CMD node -e "fetch('http://'+process.env.WEIR_HEALTH).then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
ENTRYPOINT ["node", "bin/weir.js"]
CMD ["--help"]
