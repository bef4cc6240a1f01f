# devtail gateway image: build the release binaries, then run the gateway as a non-root user.
#   docker build -t devtail .
#   docker run -p 8722:8722/tcp -p 8722:8722/udp -v "$PWD:/workspace" -v devtail-state:/state \
#     -e DEVTAIL_TOKEN=… devtail
# wss:// (TCP) and quic:// (UDP) share port 8722, with a certificate kept in /state (keep the
# volume, or the fingerprint clients pin changes). Inside a container the gateway listens on
# 0.0.0.0, which is not loopback, so plain ws:// is refused: clients use wss:// or quic:// with
# the fingerprint the gateway prints (or pair with `docker exec … devtail-gateway pair`).

FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p devtail-gateway -p devtail-client \
    && strip target/release/devtail-gateway target/release/devtail

FROM debian:bookworm-slim
# A shell and the usual tools for the terminals the gateway serves.
RUN apt-get update \
    && apt-get install -y --no-install-recommends bash ca-certificates git less procps vim-tiny \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --create-home --uid 10001 --shell /bin/bash devtail \
    && mkdir /workspace /state && chown devtail:devtail /workspace /state
COPY --from=build /src/target/release/devtail-gateway /src/target/release/devtail /usr/local/bin/
USER devtail
ENV SHELL=/bin/bash DEVTAIL_STATE_DIR=/state
WORKDIR /workspace
EXPOSE 8722/tcp 8722/udp
ENTRYPOINT ["devtail-gateway", "--listen", "0.0.0.0:8722", "--workspace", "/workspace"]
