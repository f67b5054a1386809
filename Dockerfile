# One image for the hub, the operator CLI and the agent (a demo/cluster layout; see docker-compose.yml).
FROM node:20-bookworm
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ && rm -rf /var/lib/apt/lists/* \
 && npm install -g pnpm@10
WORKDIR /app
COPY . .
RUN pnpm install --frozen-lockfile && pnpm build
ENV NODE_ENV=production
EXPOSE 7070
CMD ["node", "packages/hub/bin/uplink-hub.js", "serve"]
