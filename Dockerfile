# syntax=docker/dockerfile:1
# The dhw image: every component (frontend, worker, mocker, infra tools) and the bundled model.
#   docker build -t dynamo-the-hard-way:0.1.0 .
#   docker run --rm -p 8000:8000 dynamo-the-hard-way:0.1.0          # dhw serve: the whole stack, one process
#   docker run --rm dynamo-the-hard-way:0.1.0 worker --help          # any dhw command
# Kubernetes manifests that use it: deploy/kubernetes (docs/deploy.md).

# Stage 1: install the runtime dependencies only (no compilers, linters or test tools in the image).
FROM node:20-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund

# Stage 2: the runtime. TypeScript runs as it is through tsx (a runtime dependency): no build step.
FROM node:20-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY package.json package-lock.json ./
COPY bin ./bin
COPY src ./src
COPY models ./models
# Files stay root-owned and read-only to the server; it writes only under /tmp (model-card cache, KV
# staging), so the pod can run with readOnlyRootFilesystem and /tmp as an emptyDir.
USER node
ENV HOME=/tmp
EXPOSE 8000 9000 9090
ENTRYPOINT ["node", "bin/dhw.mjs"]
CMD ["serve", "--host", "0.0.0.0"]
