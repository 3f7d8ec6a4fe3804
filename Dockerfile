# syntax=docker/dockerfile:1
# roomgate: a multi-stage build. The dependency layer is cached apart from the source, so a
# change to src/ rebuilds only roomgate itself. Built with --no-default-features: the production
# image has no EnableX sandbox (no `roomgate sandbox`; `serve --sandbox` is refused at start-up).

FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
# 1. Dependencies only, against a stand-in crate with the same manifest and lock file.
COPY Cargo.toml Cargo.lock ./
# (bench/reference.rs, the benchmark's cargo example, is never built here; the manifest names it.)
RUN mkdir src bench \
 && echo 'fn main() {}' > src/main.rs \
 && touch src/lib.rs \
 && echo 'fn main() {}' > bench/reference.rs \
 && cargo build --release --locked --no-default-features \
 && rm -rf src target/release/roomgate target/release/deps/roomgate-* target/release/deps/libroomgate-* target/release/.fingerprint/roomgate-*
# 2. roomgate itself (migrations are embedded at compile time).
COPY build.rs ./
COPY src ./src
COPY migrations ./migrations
RUN cargo build --release --locked --no-default-features

FROM debian:bookworm-slim AS runtime
# TLS roots are compiled in (rustls with webpki roots): no CA bundle, shell tools or curl needed.
RUN useradd --system --uid 10001 --user-group --home-dir /var/lib/roomgate --create-home roomgate
COPY --from=build /src/target/release/roomgate /usr/local/bin/roomgate
USER 10001:10001
WORKDIR /var/lib/roomgate
ENV ROOMGATE_LISTEN=0.0.0.0:8080 \
    LOG_FORMAT=json
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=4s --start-period=15s --retries=3 \
  CMD ["roomgate", "health", "--url", "http://127.0.0.1:8080/healthz"]
ENTRYPOINT ["roomgate"]
CMD ["serve"]
