# loggerator in a container: built from this repository (crates from crates.io only), run as an
# unprivileged user, the database on a volume. Nothing else is downloaded.
#
#   docker build -t loggerator .
#   docker run -v loggerator-data:/var/lib/loggerator -p 127.0.0.1:8000:8000 \
#       -e LOGGERATOR_SOURCES=source.example:8080 -e LOGGERATOR_TOKENS_FILE=/run/secrets/tokens \
#       -v ./tokens.txt:/run/secrets/tokens:ro loggerator
#
# It listens on 0.0.0.0 inside the container, so it starts only with a tokens file
# (LOGGERATOR_TOKENS_FILE) or an explicit LOGGERATOR_ALLOW_UNAUTHENTICATED=true.

FROM rust:1-slim-bookworm AS build
WORKDIR /src
# ring's build needs a C compiler, which the rust image has.
COPY . .
RUN cargo build --release --locked -p loggerator \
    && strip target/release/loggerator

FROM debian:bookworm-slim
RUN useradd --system --uid 10001 --home-dir /var/lib/loggerator --create-home loggerator
COPY --from=build /src/target/release/loggerator /usr/local/bin/loggerator
USER loggerator
VOLUME /var/lib/loggerator
ENV LOGGERATOR_DB=/var/lib/loggerator/loggerator.db \
    LOGGERATOR_LISTEN=0.0.0.0:8000 \
    LOGGERATOR_LOG_FORMAT=json
EXPOSE 8000
# Slim images have no curl: the binary checks its own /healthz.
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s \
    CMD ["loggerator", "healthcheck", "--url", "http://127.0.0.1:8000/healthz"]
ENTRYPOINT ["loggerator"]
CMD ["serve"]
