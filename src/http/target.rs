//! The request-target and its four forms (RFC 9112 §3.2).

use super::fields::is_valid_host;
use super::method::Method;

/// The form of a request-target (RFC 9112 §3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum TargetForm {
    /// `/path?query`, the usual form.
    Origin,
    /// `http://host[:port]/path?query`, sent to proxies and accepted by servers.
    Absolute,
    /// `host:port`, only with `CONNECT`.
    Authority,
    /// `*`, only with `OPTIONS`.
    Asterisk,
}

/// A request-target split into the parts a server routes on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Target<'b> {
    /// Which of the four forms the target has.
    pub form: TargetForm,
    /// Path and query: the whole target in origin-form, the part from the first `/` in
    /// absolute-form (`/` when the URI has no path), `*` in asterisk-form, `""` in
    /// authority-form.
    pub path: &'b str,
    /// `host[:port]` for the absolute and authority forms. RFC 9112 §3.2.2: when present, it
    /// replaces the `Host` header field.
    pub authority: Option<&'b str>,
}

/// Splits a request-target, or returns `None` when it is not valid for `method`.
///
/// Absolute-form is accepted only for the `http` and `https` schemes (case-insensitive), with a
/// non-empty authority and a path that is empty or starts with `/`; a fragment is refused in
/// every form.
pub fn split_target(target: &str, method: Method) -> Option<Target<'_>> {
    if target.is_empty() || target.contains('#') {
        return None;
    }
    if target.starts_with('/') {
        if method == Method::Connect {
            return None;
        }
        return Some(Target {
            form: TargetForm::Origin,
            path: target,
            authority: None,
        });
    }
    if target == "*" {
        if method != Method::Options {
            return None;
        }
        return Some(Target {
            form: TargetForm::Asterisk,
            path: target,
            authority: None,
        });
    }
    if method == Method::Connect {
        if !is_valid_host(target.as_bytes()) {
            return None;
        }
        return Some(Target {
            form: TargetForm::Authority,
            path: "",
            authority: Some(target),
        });
    }
    // Byte searches and checked splits (every bound is next to ASCII): no substring searcher and
    // no panicking slice, which would link `core`'s formatting into small firmware.
    let colon = target.bytes().position(|b| b == b':')?;
    let (scheme, rest) = target.split_at_checked(colon)?;
    let rest = rest.strip_prefix("://")?;
    if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
        return None;
    }
    let (authority, path) = match rest.bytes().position(|b| b == b'/' || b == b'?') {
        Some(i) => rest.split_at_checked(i)?,
        None => (rest, "/"),
    };
    if authority.is_empty() || !is_valid_host(authority.as_bytes()) || !path.starts_with('/') {
        return None;
    }
    Some(Target {
        form: TargetForm::Absolute,
        path,
        authority: Some(authority),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_origin_form() {
        let t = split_target("/a/b?c=d", Method::Get).unwrap();
        assert_eq!(
            t,
            Target {
                form: TargetForm::Origin,
                path: "/a/b?c=d",
                authority: None
            }
        );
    }

    #[test]
    fn test_absolute_form_exposes_path_and_authority() {
        let t = split_target("http://example.com:8080/p?q=1", Method::Get).unwrap();
        assert_eq!(t.form, TargetForm::Absolute);
        assert_eq!(t.path, "/p?q=1");
        assert_eq!(t.authority, Some("example.com:8080"));
        let t = split_target("HTTPS://example.com", Method::Get).unwrap();
        assert_eq!((t.path, t.authority), ("/", Some("example.com")));
    }

    #[test]
    fn test_absolute_form_rejects_odd_uris() {
        for t in [
            "http:///p",
            "http://host?q",
            "ftp://host/p",
            "http://user@host/p",
            "http//host/p",
            "mailto:a@b",
            "http://host/p#frag",
        ] {
            assert_eq!(split_target(t, Method::Get), None, "{t}");
        }
    }

    #[test]
    fn test_asterisk_only_with_options() {
        assert_eq!(
            split_target("*", Method::Options).unwrap().form,
            TargetForm::Asterisk
        );
        assert_eq!(split_target("*", Method::Get), None);
    }

    #[test]
    fn test_authority_only_with_connect() {
        let t = split_target("example.com:443", Method::Connect).unwrap();
        assert_eq!(
            (t.form, t.authority),
            (TargetForm::Authority, Some("example.com:443"))
        );
        assert_eq!(split_target("/x", Method::Connect), None);
        assert_eq!(split_target("example.com:443", Method::Get), None);
    }
}
