# Advocate in a container: a build stage with the Rust toolchain, and a
# small runtime stage with only the binary, CA certificates and a non-root
# user. Build: docker build -t advocate .
# Run:   docker run -p 8080:8080 --env-file .env -v advocate-data:/data advocate

FROM rust:1-slim-bookworm AS build
WORKDIR /src
# Dependencies first, so a change to the sources reuses their layer.
# The workspace's manifests (the product, bench/ and sim/), with empty
# sources in their place.
COPY Cargo.toml Cargo.lock build.rs ./
COPY bench/Cargo.toml bench/
COPY sim/Cargo.toml sim/
COPY migrations migrations
COPY shopify.app.toml ./
RUN mkdir -p src bench/src sim/src \
    && echo 'fn main() {}' > src/main.rs \
    && echo 'fn main() {}' > bench/src/main.rs \
    && echo 'fn main() {}' > sim/src/main.rs \
    && touch src/lib.rs sim/src/lib.rs \
    && cargo build --release -p advocate --bin advocate \
    && rm -rf src bench/src sim/src
# Everything else (sources, and any file they include at compile time);
# .dockerignore keeps build output and dependencies out.
COPY . .
RUN touch src/main.rs src/lib.rs sim/src/lib.rs && cargo build --release -p advocate --bin advocate

FROM debian:bookworm-slim AS runtime
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates tini \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /data --shell /usr/sbin/nologin advocate \
    && mkdir -p /data && chown advocate:advocate /data
COPY --from=build /src/target/release/advocate /usr/local/bin/advocate
USER advocate
WORKDIR /data
ENV HOST=0.0.0.0 \
    PORT=8080 \
    DATABASE_URL=sqlite:///data/advocate.db
EXPOSE 8080
# tini forwards SIGTERM to Advocate, which stops gracefully within
# ADVOCATE_SHUTDOWN_SECS; give `docker stop -t` a little more than that.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/bin/tini", "--", "/usr/local/bin/advocate"]
CMD ["serve"]
