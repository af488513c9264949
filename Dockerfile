# syntax=docker/dockerfile:1
# Build stage: dependencies are compiled in their own layer, so a source change
# rebuilds only our crate.
FROM rust:1.95-slim-bookworm AS builder
WORKDIR /app
COPY Cargo.toml Cargo.lock ./
RUN mkdir src && echo 'fn main() {}' > src/main.rs && touch src/lib.rs \
    && cargo build --release --locked \
    && rm -rf src
COPY src ./src
RUN touch src/main.rs src/lib.rs && cargo build --release --locked

# Runtime stage: the binary, CA certificates, a non-root user. No .env, no secrets.
FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/*
COPY --from=builder /app/target/release/axum-supabase-auth /usr/local/bin/axum-supabase-auth
USER 10001:10001
ENV BIND_ADDR=0.0.0.0:3000 \
    LOG_FORMAT=json
EXPOSE 3000
ENTRYPOINT ["/usr/local/bin/axum-supabase-auth"]
CMD ["serve"]
