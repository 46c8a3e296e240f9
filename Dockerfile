# The API image: Bun, the locked dependencies and the source. Migrations and
# seeds are applied by the same start-up code `./run.sh` uses.
FROM oven/bun:1.4.5
WORKDIR /app
# bun install applies patches/ (patchedDependencies in package.json).
COPY package.json bun.lock bunfig.toml ./
COPY patches ./patches
RUN bun install --frozen-lockfile --production
COPY tsconfig.json ./
COPY src ./src
COPY db ./db
# Heap sized as if the host had 512 MiB, as ./run.sh does (see run.sh).
ENV HOST=0.0.0.0 PORT=8000 BUN_JSC_forceRAMSize=536870912 BUN_OPTIONS=--max-http-header-size=65536
EXPOSE 8000
USER bun
CMD ["bun", "src/cli/stack.ts"]
