# syntax=docker/dockerfile:1
# Build stage: install everything, generate nothing (src/gen is committed), compile to dist/.
FROM node:24-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts
COPY tsconfig.json ./
COPY src ./src
RUN npx tsc -p tsconfig.json && npm prune --omit=dev --ignore-scripts

# Runtime stage: the compiled code, production dependencies, the protos loaded at run time.
FROM node:24-slim
ENV NODE_ENV=production
# A 4 MB young-generation semi-space instead of V8's default for a large host: in bench:proxy the sidecar
# peaked 40+ MB lower under saturation (125 vs 170 MB RSS) with no loss of throughput.
ENV NODE_OPTIONS=--max-semi-space-size=4
WORKDIR /app
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
COPY bin ./bin
COPY proto ./proto
RUN ln -s /app/bin/meshlet.js /usr/local/bin/meshlet
USER node
EXPOSE 15000 15001 15006 15010 15014
ENTRYPOINT ["meshlet"]
CMD ["control", "--data-dir", "/var/lib/meshlet", "--grpc", "0.0.0.0:15010", "--http", "0.0.0.0:15014"]
