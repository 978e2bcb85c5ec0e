# Mana Auth: one static binary, `mana`, in a minimal non-root image.
#   docker build -t mana .
#   docker run -p 3001:3001 -e DATABASE_URL=... -e MANA_AUTH_KEK=... (see README "Docker") mana
# Production mode by default: it refuses to start without the production settings.
# Development: -e NODE_ENV=development -e HOST=0.0.0.0 -v mana-data:/data (SQLite in /data).
# Not exercised in CI (our machines have no Docker engine); see deploy/compose.yaml.

FROM golang:1.26-bookworm AS build
WORKDIR /src
# Dependencies first, so source edits do not refetch modules.
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# CGO off: a static binary that runs on distroless/static.
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/mana ./cmd/mana && mkdir -p /out/data

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/mana /mana
# The data directory of `mana serve` without DATABASE_URL (SQLite, captured mail).
COPY --from=build --chown=nonroot:nonroot /out/data /data
USER nonroot:nonroot
ENV NODE_ENV=production PORT=3001 MANA_DATA_DIR=/data
VOLUME /data
EXPOSE 3001
# No shell or curl in this image: the binary probes its own /health on $PORT.
HEALTHCHECK --interval=10s --timeout=6s --start-period=10s --retries=3 CMD ["/mana", "probe"]
ENTRYPOINT ["/mana"]
CMD ["serve"]
