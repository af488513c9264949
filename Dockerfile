# syntax=docker/dockerfile:1
#
# Build: a static (musl) binary. Dependencies compile in their own layer, so a
# source change rebuilds only our two crates (the axum-supabase library and the server). musl-tools gives cc for the C parts
# (aws-lc, mimalloc).
FROM rust:1.95-slim-bookworm AS builder
ARG TARGET=x86_64-unknown-linux-musl
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends musl-tools ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && rustup target add "$TARGET"
# Symbols are not needed in the image; locally built binaries keep them for profiling.
ENV CARGO_PROFILE_RELEASE_STRIP=symbols
WORKDIR /app
# .cargo/config.toml carries the C flags for mimalloc (it says why).
COPY .cargo ./.cargo
COPY Cargo.toml Cargo.lock ./
COPY crates/axum-supabase/Cargo.toml ./crates/axum-supabase/
# Stubs: the manifest names benches, and the dependency layer needs no sources.
RUN mkdir -p src benches crates/axum-supabase/src \
    && printf '//! Stub.\nfn main() {}\n' > src/main.rs \
    && echo 'fn main() {}' > benches/verify.rs \
    && echo 'fn main() {}' > benches/log_line.rs \
    && echo '//! Stub.' > src/lib.rs \
    && echo '//! Stub.' > crates/axum-supabase/src/lib.rs \
    && cargo build --release --locked --target "$TARGET" \
    && rm -rf src crates/axum-supabase/src "target/$TARGET/release/.fingerprint/axum-supabase-"*
COPY crates ./crates
# The local bootstrap SQL is compiled into the binary.
COPY db ./db
COPY src ./src
RUN cargo build --release --locked --target "$TARGET" \
    && cp "target/$TARGET/release/axum-supabase-auth" /axum-supabase-auth \
    && mkdir -p /rootfs/etc/ssl/certs \
    && cp /etc/ssl/certs/ca-certificates.crt /rootfs/etc/ssl/certs/

# Runtime: nothing but the binary, the CA bundle (JWKS is fetched over TLS) and
# a non-root numeric user. No shell, no package manager, no .env, no secret.
FROM scratch
COPY --from=builder /rootfs /
COPY --from=builder /axum-supabase-auth /axum-supabase-auth
# For `migrate`, which reads ./migrations: `podman run … image migrate`.
COPY migrations /migrations
WORKDIR /
USER 10001:10001
ENV BIND_ADDR=0.0.0.0:3000 \
    LOG_FORMAT=json \
    SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
EXPOSE 3000
HEALTHCHECK --interval=10s --timeout=4s --start-period=5s --retries=3 \
    CMD ["/axum-supabase-auth", "healthcheck"]
ENTRYPOINT ["/axum-supabase-auth"]
CMD ["serve"]
