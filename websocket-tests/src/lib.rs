//! Test-only package: see `tests/websocket.rs` and `Cargo.toml` for why it is separate.
