# Multi-stage build: a static binary on a distroless base.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/gateway ./cmd/gateway
# The embedded store's directory, owned by the user the gateway runs as
# (distroless nonroot, uid 65532): the final image has no shell to make it.
RUN mkdir -p /out/data

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/gateway /gateway
COPY --from=build --chown=65532:65532 /out/data /data
ENV GATEWAY_ADDR=:8080 GATEWAY_DATA_DIR=/data
EXPOSE 8080
ENTRYPOINT ["/gateway"]
CMD ["serve"]
