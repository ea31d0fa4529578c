//! Empty: this package only holds tests that decode defmt frames on the host —
//! `tests/defmt_log.rs` (edgeloop's `examples/defmt_hello` firmware, run here) and
//! `tests/qemu_status.rs` (the status firmware booted on QEMU by `cargo xtask systest`), with
//! what they share in `tests/common/`. It is a separate workspace member so that
//! `defmt-decoder` (std) stays out of edgeloop's and xtask's dependencies, whose features would
//! leak into the no_std firmware builds.

#![no_std]
#![forbid(unsafe_code)]
