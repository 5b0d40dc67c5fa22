# advserve: CPU image by default (tfjs wasm backend, installs from npm alone).
# GPU hosts: docker build --build-arg GPU=1 -t advserve:gpu .   (CUDA base + @tensorflow/tfjs-node-gpu,
# which downloads libtensorflow at install time, so build it where that download is reachable).
ARG GPU=0
ARG BASE_CPU=node:20-bookworm-slim
ARG BASE_GPU=nvidia/cuda:11.8.0-cudnn8-runtime-ubuntu22.04

FROM ${BASE_CPU} AS build
WORKDIR /app
# npm 10 (the base images') ignores package.json's allowScripts and runs every install script:
# keep onnxruntime-node's from fetching GPU providers advserve does not use.
ENV ONNXRUNTIME_NODE_INSTALL=skip
COPY package.json package-lock.json tsconfig.json tsconfig.build.json ./
RUN npm ci --no-audit --no-fund
COPY src ./src
RUN npm run build

FROM ${BASE_CPU} AS runtime-0
FROM ${BASE_GPU} AS runtime-1
# The CUDA base has no Node: install Node 20 from the distribution's nodesource-free path.
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates curl gnupg \
 && curl -fsSL https://deb.nodesource.com/setup_20.x | bash - \
 && apt-get install -y --no-install-recommends nodejs && rm -rf /var/lib/apt/lists/*

FROM runtime-${GPU}
ARG GPU=0
ENV NODE_ENV=production PORT=8080 HOST=0.0.0.0 ONNXRUNTIME_NODE_INSTALL=skip
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund \
 && if [ "$GPU" = "1" ]; then npm install --no-save @tensorflow/tfjs-node-gpu@4.22.0; fi \
 && npm cache clean --force
COPY --from=build /app/dist ./dist
# The web page's static files (src/routes/web.ts looks for them next to the compiled routes).
COPY src/web ./dist/src/web
COPY bin ./bin
RUN useradd --system --uid 10001 --home /app advserve || adduser --system --uid 10001 advserve
USER 10001
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=120s --retries=3 \
  CMD node -e "fetch('http://127.0.0.1:'+(process.env.PORT||8080)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
# glibc: two malloc arenas for the whole process instead of up to 8 per core (README, Memory).
ENV MALLOC_ARENA_MAX=2
CMD ["node", "bin/advserve.js", "serve"]
