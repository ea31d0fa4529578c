//! [`OwnedHead`]: a parsed request head copied out of its buffer, to compare the results of
//! several parses (split invariance in the property tests, incremental parsing in the fuzzer).

use std::borrow::ToOwned;
use std::string::String;
use std::vec::Vec;

use edgeloop::http::{Framing, Head, Method, TargetForm};

/// Every field of a [`Head`], owned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnedHead {
    /// [`Head::method`].
    pub method: Method,
    /// [`Head::method_token`].
    pub method_token: String,
    /// [`Head::target`].
    pub target: String,
    /// [`Head::target_form`].
    pub target_form: TargetForm,
    /// [`Head::path`].
    pub path: String,
    /// [`Head::authority`].
    pub authority: Option<String>,
    /// [`Head::version`].
    pub version: u8,
    /// [`Head::headers`], as (name, value) pairs in order.
    pub headers: Vec<(String, Vec<u8>)>,
    /// [`Head::len`].
    pub len: usize,
    /// [`Head::framing`].
    pub framing: Framing,
    /// [`Head::keep_alive`].
    pub keep_alive: bool,
    /// [`Head::expect_continue`].
    pub expect_continue: bool,
    /// [`Head::host`].
    pub host: Option<Vec<u8>>,
}

impl From<&Head<'_, '_>> for OwnedHead {
    fn from(h: &Head<'_, '_>) -> Self {
        OwnedHead {
            method: h.method,
            method_token: h.method_token.to_owned(),
            target: h.target.to_owned(),
            target_form: h.target_form,
            path: h.path.to_owned(),
            authority: h.authority.map(str::to_owned),
            version: h.version,
            headers: h
                .headers
                .iter()
                .map(|f| (f.name.to_owned(), f.value.to_vec()))
                .collect(),
            len: h.len,
            framing: h.framing,
            keep_alive: h.keep_alive,
            expect_continue: h.expect_continue,
            host: h.host.map(<[u8]>::to_vec),
        }
    }
}
