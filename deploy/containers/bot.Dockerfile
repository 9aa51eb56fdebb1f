# The SignalDesk Discord bot. Build from the repository root:
#   docker build -f deploy/containers/bot.Dockerfile -t signaldesk-bot .
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --locked --release -p bot && cp target/release/bot /bot

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --home /var/lib/signaldesk --create-home signaldesk
COPY --from=build /bot /usr/local/bin/bot
USER signaldesk
ENV LOG_FORMAT=json DATA_DIR=/var/lib/signaldesk
CMD ["/usr/local/bin/bot"]
