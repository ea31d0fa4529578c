//! Private logging shim.
//!
//! With the `defmt` feature the macros forward to `defmt` (frames decoded on the host with
//! `defmt-print`); without it they expand to nothing but still type-check their arguments, so a
//! build without logging carries no format strings and no code.

#![allow(unused_macros)]

#[cfg(feature = "defmt")]
macro_rules! error { ($($t:tt)*) => { defmt::error!($($t)*) }; }
#[cfg(feature = "defmt")]
macro_rules! warning { ($($t:tt)*) => { defmt::warn!($($t)*) }; }
#[cfg(feature = "defmt")]
macro_rules! info { ($($t:tt)*) => { defmt::info!($($t)*) }; }
#[cfg(feature = "defmt")]
macro_rules! debug { ($($t:tt)*) => { defmt::debug!($($t)*) }; }
#[cfg(feature = "defmt")]
macro_rules! trace { ($($t:tt)*) => { defmt::trace!($($t)*) }; }

#[cfg(not(feature = "defmt"))]
macro_rules! error { ($s:literal $(, $x:expr)* $(,)?) => { { $( let _ = &$x; )* } }; }
#[cfg(not(feature = "defmt"))]
macro_rules! warning { ($s:literal $(, $x:expr)* $(,)?) => { { $( let _ = &$x; )* } }; }
#[cfg(not(feature = "defmt"))]
macro_rules! info { ($s:literal $(, $x:expr)* $(,)?) => { { $( let _ = &$x; )* } }; }
#[cfg(not(feature = "defmt"))]
macro_rules! debug { ($s:literal $(, $x:expr)* $(,)?) => { { $( let _ = &$x; )* } }; }
#[cfg(not(feature = "defmt"))]
macro_rules! trace { ($s:literal $(, $x:expr)* $(,)?) => { { $( let _ = &$x; )* } }; }

#[allow(unused_imports)]
pub(crate) use {debug, error, info, trace, warning};
