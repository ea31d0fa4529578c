//! Empty: this package only holds `tests/defmt_log.rs`, which decodes the defmt output of
//! edgeloop's `examples/defmt_hello` firmware. It is a separate workspace member so that
//! `defmt-decoder` (std) stays out of edgeloop's dev-dependencies, whose features would leak
//! into the no_std firmware examples.

#![no_std]
#![forbid(unsafe_code)]
