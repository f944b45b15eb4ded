# syntax=docker/dockerfile:1
# One image for api, worker and emulator; the compose file picks the command.
FROM node:20-bookworm-slim AS base
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
COPY tests/package.json tests/
RUN pnpm install --frozen-lockfile
COPY . .
RUN pnpm build && pnpm deploy --filter @tabpfn-jobs/api --prod --legacy /out/api \
 && pnpm deploy --filter @tabpfn-jobs/worker --prod --legacy /out/worker \
 && pnpm deploy --filter @tabpfn-jobs/tabpfn-emulator --prod --legacy /out/tabpfn-emulator

FROM node:20-bookworm-slim AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build --chown=node:node /app/pnpm-workspace.yaml ./
COPY --from=build --chown=node:node /app/migrations ./migrations
COPY --from=build --chown=node:node /out/api ./apps/api
COPY --from=build --chown=node:node /out/worker ./apps/worker
COPY --from=build --chown=node:node /out/tabpfn-emulator ./apps/tabpfn-emulator
USER node
EXPOSE 3000 8089
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s CMD node -e "fetch('http://127.0.0.1:'+(process.env.PORT||3000)+'/health').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
CMD ["node", "apps/api/dist/main.js"]
