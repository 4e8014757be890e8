FROM node:20-bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ git bubblewrap curl \
  && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json tsconfig.json tsconfig.build.json ./
COPY bin ./bin
COPY src ./src
COPY profiles ./profiles
# npm ci builds (prepare): tsc, then scripts/bundle.mjs bundles the CLI with esbuild.
COPY scripts/bundle.mjs ./scripts/bundle.mjs
RUN npm ci && npm prune --omit=dev
ENTRYPOINT ["node", "/app/dist/bin/sheri.js"]
