# The SignalDesk web server with its built site. Build from the repository root:
#   docker build -f deploy/containers/server.Dockerfile -t signaldesk-server .
# The toolchain is pinned as in ../../README.md ("The two commands"): rustc 1.95, cargo-leptos
# 0.3.10, wasm-bindgen-cli at the version in Cargo.lock.
FROM rust:1.95-bookworm AS build
RUN rustup target add wasm32-unknown-unknown \
 && cargo install --locked cargo-leptos --version 0.3.10
WORKDIR /src
COPY . .
RUN cargo install --locked wasm-bindgen-cli \
      --version "$(grep -A1 '^name = "wasm-bindgen"$' Cargo.lock | sed -n 's/^version = "\(.*\)"/\1/p')" \
 && LEPTOS_OUTPUT_NAME=signaldesk cargo leptos build --release \
 && mkdir -p /out && cp target/release/server /out/server && cp -r target/site /out/site

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --home /var/lib/signaldesk --create-home signaldesk
COPY --from=build /out/server /usr/local/bin/server
COPY --from=build /out/site /opt/signaldesk/site
USER signaldesk
ENV SITE_ROOT=/opt/signaldesk/site BIND_ADDR=0.0.0.0:3000 DATA_DIR=/var/lib/signaldesk LOG_FORMAT=json
EXPOSE 3000
CMD ["/usr/local/bin/server", "serve"]
