# syntax=docker/dockerfile:1
# One image for api, worker and emulator (the default target); the compose file picks the command.
# `--target emulator` builds the same image set up to run only the TabPFN emulator.
# Build stage: full workspace install, tsc build, then `pnpm deploy --prod` of each app (its
# production dependencies only). Runtime stage: node + those folders, as the unprivileged `node` user.
# Node as package.json `engines` says (>=20.19); keep the two in step (tests/ecosystem/node-version.test.ts).
ARG NODE_VERSION=20.19
FROM node:${NODE_VERSION}-bookworm-slim AS base
ENV PNPM_HOME=/pnpm PATH=/pnpm:$PATH
RUN npm install -g pnpm@12.4.2
WORKDIR /app

FROM base AS build
COPY pnpm-lock.yaml pnpm-workspace.yaml package.json ./
COPY apps/api/package.json apps/api/
COPY apps/worker/package.json apps/worker/
COPY apps/tabpfn-emulator/package.json apps/tabpfn-emulator/
COPY packages/shared/package.json packages/shared/
COPY packages/tabpfn/package.json packages/tabpfn/
COPY packages/client/package.json packages/client/
COPY tests/package.json tests/
RUN pnpm install --frozen-lockfile
COPY . .
RUN pnpm build && pnpm deploy --filter @tabpfn-jobs/api --prod --legacy /out/api \
 && pnpm deploy --filter @tabpfn-jobs/worker --prod --legacy /out/worker \
 && pnpm deploy --filter @tabpfn-jobs/tabpfn-emulator --prod --legacy /out/tabpfn-emulator

FROM node:${NODE_VERSION}-bookworm-slim AS runtime
ENV NODE_ENV=production
WORKDIR /app
# tini reaps zombies and forwards SIGTERM, so graceful shutdown (drain, finish jobs) works as PID 1.
RUN apt-get update && apt-get install -y --no-install-recommends tini && rm -rf /var/lib/apt/lists/*
COPY --from=build --chown=node:node /app/pnpm-workspace.yaml ./
COPY --from=build --chown=node:node /app/migrations ./migrations
COPY --from=build --chown=node:node /out/api ./apps/api
COPY --from=build --chown=node:node /out/worker ./apps/worker
COPY --from=build --chown=node:node /out/tabpfn-emulator ./apps/tabpfn-emulator
USER node
# api, emulator, worker metrics
EXPOSE 3000 8089 9464
# The api's /health by default; the worker and emulator set HEALTHCHECK_URL (see docker-compose.yml).
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s CMD ["node", "-e", "fetch(process.env.HEALTHCHECK_URL||'http://127.0.0.1:'+(process.env.PORT||3000)+'/health').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["node", "apps/api/dist/main.js"]

# The offline TabPFN server alone: `docker build --target emulator -t tabpfn-emulator .` then
# `docker run -p 8089:8089 tabpfn-emulator`. It must listen on all interfaces inside the container;
# EMULATOR_TOKENS, EMULATOR_CONTROL, EMULATOR_SEED, ... are passed with `docker run -e`.
FROM runtime AS emulator
ENV EMULATOR_HOST=0.0.0.0 EMULATOR_PORT=8089
EXPOSE 8089
# `GET /` is the client's own reachability check; it needs no token.
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.EMULATOR_PORT||8089)+'/').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
CMD ["node", "apps/tabpfn-emulator/dist/main.js"]

# Last, so a plain `docker build` (and compose's `build: .`) still gives the all-roles image above.
FROM runtime AS all-roles
