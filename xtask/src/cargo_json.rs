//! Cargo's `--message-format=json` output, read just far enough for xtask: the executables it
//! built (`cargo build`, `cargo test --no-run`) with their target and package. Plain std, no
//! JSON crate: cargo's messages hold paths and names, one message per line.

use std::path::{Path, PathBuf};

/// A test executable found in cargo's build messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Executable {
    /// `unittests src/lib.rs`-like label: the target kind and name (`lib edgeloop`,
    /// `test http_server`).
    pub label: String,
    /// The executable file.
    pub path: PathBuf,
    /// Its package's directory (cargo runs tests from there).
    pub package_dir: PathBuf,
    /// Its package's name.
    pub package: String,
}

/// The executables named by cargo's `--message-format=json` output (`cargo test --no-run`:
/// the test executables; `cargo build --example`: the example), in the order cargo reported
/// them.
pub fn executables(json_lines: &str) -> Vec<Executable> {
    let mut out = Vec::new();
    for line in json_lines.lines() {
        if !line.contains("\"reason\":\"compiler-artifact\"") {
            continue;
        }
        let Some(path) = string_field(line, "executable") else {
            continue;
        };
        let target = line
            .find("\"target\":{")
            .map(|i| &line[i..])
            .and_then(|t| t.find('}').map(|end| &t[..end]))
            .unwrap_or_default();
        let kind = string_field(target, "kind").unwrap_or_default();
        let name = string_field(target, "name").unwrap_or_default();
        let manifest = string_field(line, "manifest_path").unwrap_or_default();
        let package_dir = Path::new(&manifest)
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default();
        let package = string_field(line, "package_id")
            .and_then(|id| package_name(&id))
            .unwrap_or_default();
        out.push(Executable {
            label: format!("{kind} {name}"),
            path: PathBuf::from(path),
            package_dir,
            package,
        });
    }
    out
}

/// The package name in a package id: `path+file:///w/main#edgeloop@0.1.0` → `edgeloop`; cargo
/// leaves the name out when it is the directory's (`path+file:///w/xtask#0.1.0` → `xtask`).
fn package_name(id: &str) -> Option<String> {
    let (path, fragment) = id.rsplit_once('#')?;
    match fragment.split_once('@') {
        Some((name, _)) => Some(name.to_string()),
        None => path.rsplit('/').next().map(str::to_string),
    }
}

/// The string value of `"key":` in a JSON text (the first element when it is an array of
/// strings; `None` for `null` or absent), unescaped. Enough for cargo's messages, which hold
/// paths and names; not a JSON parser.
fn string_field(json: &str, key: &str) -> Option<String> {
    let pattern = format!("\"{key}\":");
    let start = json.find(&pattern)? + pattern.len();
    let rest = json[start..].trim_start_matches('[');
    let rest = rest.strip_prefix('"')?;
    let mut out = String::new();
    let mut chars = rest.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => return Some(out),
            '\\' => match chars.next()? {
                'n' => out.push('\n'),
                't' => out.push('\t'),
                'u' => {
                    let hex: String = chars.by_ref().take(4).collect();
                    out.push(char::from_u32(u32::from_str_radix(&hex, 16).ok()?)?);
                }
                other => out.push(other), // \" \\ \/
            },
            c => out.push(c),
        }
    }
    None
}

/// The last executable named `name` (a file name) in cargo's JSON messages.
pub fn executable(json: &str, name: &str) -> Option<PathBuf> {
    executables(json)
        .into_iter()
        .map(|e| e.path)
        .rfind(|p| p.file_name().is_some_and(|f| f == name))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MESSAGES: &str = r#"{"reason":"compiler-artifact","package_id":"path+file:///w/main#edgeloop@0.1.0","manifest_path":"/w/main/Cargo.toml","target":{"kind":["test"],"crate_types":["bin"],"name":"http_server","src_path":"/w/main/tests/http_server.rs","edition":"2024","doctest":false,"test":true},"profile":{"test":true},"features":[],"filenames":["/w/t/debug/deps/http_server-1"],"executable":"/w/t/debug/deps/http_server-1","fresh":true}
{"reason":"compiler-artifact","package_id":"x","manifest_path":"/w/main/Cargo.toml","target":{"kind":["lib"],"crate_types":["lib"],"name":"edgeloop","src_path":"/w/main/src/lib.rs"},"profile":{"test":false},"filenames":["/w/t/debug/libedgeloop.rlib"],"executable":null,"fresh":true}
{"reason":"compiler-artifact","package_id":"path+file:///w/main/tests-defmt#0.0.0","manifest_path":"/w/main/tests-defmt/Cargo.toml","target":{"kind":["test"],"name":"defmt_log"},"executable":"/w/t/debug/deps/defmt_log-2","fresh":true}
{"reason":"build-finished","success":true}"#;

    #[test]
    fn finds_test_executables_in_cargo_messages() {
        let exes = executables(MESSAGES);
        assert_eq!(exes.len(), 2, "{exes:?}");
        assert_eq!(exes[0].label, "test http_server");
        assert_eq!(exes[0].path, PathBuf::from("/w/t/debug/deps/http_server-1"));
        assert_eq!(exes[0].package_dir, PathBuf::from("/w/main"));
        assert_eq!(exes[0].package, "edgeloop");
        assert_eq!(exes[1].package_dir, PathBuf::from("/w/main/tests-defmt"));
        assert_eq!(exes[1].package, "tests-defmt");
    }

    #[test]
    fn string_fields_unescape() {
        assert_eq!(
            string_field(r#"{"a":"x\"y\\z"}"#, "a").as_deref(),
            Some("x\"y\\z")
        );
        assert_eq!(string_field(r#"{"a":null}"#, "a"), None);
        assert_eq!(
            string_field(r#"{"k":["lib","x"]}"#, "k").as_deref(),
            Some("lib")
        );
        assert_eq!(string_field(r#"{"a":"open"#, "a"), None);
    }

    #[test]
    fn finds_an_example_by_file_name() {
        let json = concat!(
            r#"{"reason":"compiler-artifact","target":{"name":"edgeloop"},"executable":null}"#,
            "\n",
            r#"{"reason":"compiler-artifact","executable":"/t/a b/release/examples/echo","fresh":true}"#,
            "\n",
            r#"{"reason":"build-finished","success":true}"#,
        );
        assert_eq!(
            executable(json, "echo"),
            Some(PathBuf::from("/t/a b/release/examples/echo"))
        );
        assert_eq!(executable(json, "status"), None);
        assert_eq!(
            string_field(r#"{"k":"a\"b\\c\u0041"}"#, "k").as_deref(),
            Some("a\"b\\cA")
        );
    }
}
