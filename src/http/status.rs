//! Reason phrases of the status codes a server sends (RFC 9110 §15 and RFC 6585).

/// Returns the standard reason phrase of `code`, or `""` for a code this table does not know
/// (a response may carry an empty reason phrase, RFC 9112 §4).
pub const fn reason(code: u16) -> &'static str {
    // A linear search over code/end pairs into one string: about a third of the code of a
    // `match` that returns 48 separate `&str`s. Both tables are built at compile time.
    let mut i = 0;
    let mut start = 0;
    while i < ENDS.len() {
        let (c, end) = ENDS[i];
        if c == code {
            let (head, _) = TEXT.as_bytes().split_at(end as usize);
            let (_, phrase) = head.split_at(start);
            return match core::str::from_utf8(phrase) {
                Ok(s) => s,
                Err(_) => "",
            };
        }
        start = end as usize;
        i += 1;
    }
    ""
}

/// The phrases, by code (RFC 9110 §15, RFC 6585).
const PHRASES: [(u16, &str); 47] = [
    (100, "Continue"),
    (101, "Switching Protocols"),
    (200, "OK"),
    (201, "Created"),
    (202, "Accepted"),
    (203, "Non-Authoritative Information"),
    (204, "No Content"),
    (205, "Reset Content"),
    (206, "Partial Content"),
    (300, "Multiple Choices"),
    (301, "Moved Permanently"),
    (302, "Found"),
    (303, "See Other"),
    (304, "Not Modified"),
    (305, "Use Proxy"),
    (307, "Temporary Redirect"),
    (308, "Permanent Redirect"),
    (400, "Bad Request"),
    (401, "Unauthorized"),
    (402, "Payment Required"),
    (403, "Forbidden"),
    (404, "Not Found"),
    (405, "Method Not Allowed"),
    (406, "Not Acceptable"),
    (407, "Proxy Authentication Required"),
    (408, "Request Timeout"),
    (409, "Conflict"),
    (410, "Gone"),
    (411, "Length Required"),
    (412, "Precondition Failed"),
    (413, "Content Too Large"),
    (414, "URI Too Long"),
    (415, "Unsupported Media Type"),
    (416, "Range Not Satisfiable"),
    (417, "Expectation Failed"),
    (421, "Misdirected Request"),
    (422, "Unprocessable Content"),
    (426, "Upgrade Required"),
    (428, "Precondition Required"),
    (429, "Too Many Requests"),
    (431, "Request Header Fields Too Large"),
    (500, "Internal Server Error"),
    (501, "Not Implemented"),
    (502, "Bad Gateway"),
    (503, "Service Unavailable"),
    (504, "Gateway Timeout"),
    (505, "HTTP Version Not Supported"),
];

/// Every phrase, back to back.
const TEXT: &str = match core::str::from_utf8(&TEXT_BYTES) {
    Ok(s) => s,
    Err(_) => panic!("reason phrases are ASCII"),
};

const TEXT_LEN: usize = {
    let mut n = 0;
    let mut i = 0;
    while i < PHRASES.len() {
        n += PHRASES[i].1.len();
        i += 1;
    }
    n
};

const TEXT_BYTES: [u8; TEXT_LEN] = {
    let mut out = [0; TEXT_LEN];
    let (mut i, mut at) = (0, 0);
    while i < PHRASES.len() {
        let p = PHRASES[i].1.as_bytes();
        let mut j = 0;
        while j < p.len() {
            out[at] = p[j];
            at += 1;
            j += 1;
        }
        i += 1;
    }
    out
};

/// Each code with the end of its phrase in [`TEXT`].
const ENDS: [(u16, u16); PHRASES.len()] = {
    let mut out = [(0, 0); PHRASES.len()];
    let (mut i, mut at) = (0, 0);
    while i < PHRASES.len() {
        at += PHRASES[i].1.len();
        // The phrases total well under 64 KiB.
        out[i] = (PHRASES[i].0, at as u16);
        i += 1;
    }
    out
};

#[cfg(test)]
mod tests {
    use super::reason;

    #[test]
    fn test_known_codes_have_reasons() {
        let codes = [
            100, 101, 200, 201, 202, 203, 204, 205, 206, 301, 302, 303, 304, 305, 307, 308, 400,
            401, 402, 403, 404, 405, 406, 407, 408, 409, 410, 411, 412, 413, 414, 415, 416, 417,
            426, 429, 431, 500, 501, 502, 503, 504, 505,
        ];
        for code in codes {
            let r = reason(code);
            assert!(!r.is_empty(), "{code}");
            assert!(
                r.bytes().all(|b| b == b' ' || b.is_ascii_graphic()),
                "{code}"
            );
        }
    }

    #[test]
    fn test_selected_phrases() {
        assert_eq!(reason(200), "OK");
        assert_eq!(reason(404), "Not Found");
        assert_eq!(reason(431), "Request Header Fields Too Large");
        assert_eq!(reason(505), "HTTP Version Not Supported");
    }

    #[test]
    fn test_table_round_trips() {
        for (code, phrase) in super::PHRASES {
            assert_eq!(reason(code), phrase, "{code}");
        }
        assert!(super::PHRASES.windows(2).all(|w| w[0].0 < w[1].0));
    }

    #[test]
    fn test_unknown_code_is_empty() {
        assert_eq!(reason(0), "");
        assert_eq!(reason(306), "");
        assert_eq!(reason(599), "");
        assert_eq!(reason(u16::MAX), "");
    }
}
