# devtail gateway image: build the release binaries, then run the gateway as a non-root user.
#   docker build -t devtail .
#   docker run -p 127.0.0.1:8722:8722 -v "$PWD:/workspace" -e DEVTAIL_TOKEN=… devtail
# Inside a container the gateway listens on 0.0.0.0, which is not loopback: plain WebSocket
# there needs --insecure, so publish the port on the host's loopback only (as above).

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
    && mkdir /workspace && chown devtail:devtail /workspace
COPY --from=build /src/target/release/devtail-gateway /src/target/release/devtail /usr/local/bin/
USER devtail
ENV SHELL=/bin/bash DEVTAIL_STATE_DIR=/home/devtail/.local/state/devtail
WORKDIR /workspace
EXPOSE 8722
ENTRYPOINT ["devtail-gateway", "--listen", "0.0.0.0:8722", "--workspace", "/workspace", "--insecure"]
