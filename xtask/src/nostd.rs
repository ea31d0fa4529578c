//! The no_std guard: the library must never pull in `alloc`, and may pull in `std` only for its
//! own unit tests. Comment lines are ignored. It fails when:
//!
//! - any file under `src/` has an `extern crate alloc`;
//! - a file has an `extern crate std` that is not test-only, i.e. not one of:
//!   - directly preceded by a `#[cfg(test)]` line;
//!   - the first line inside a `#[cfg(test)] mod NAME {` block (the usual `mod tests`);
//!   - in a file whose module is declared `#[cfg(test)] mod NAME;` (or inside such a module);
//! - `src/lib.rs` has no `no_std` crate attribute (`#![no_std]` or `#![cfg_attr(.., no_std)]`).

use std::fs;
use std::path::{Path, PathBuf};

/// Checks `root/src`; `Err` lists every violation as `path:line: reason`.
pub fn check(root: &Path) -> Result<(), String> {
    let src = root.join("src");
    let mut files = Vec::new();
    collect(&src, &mut files)?;
    files.sort();
    let mut problems = Vec::new();
    for file in &files {
        let text =
            fs::read_to_string(file).map_err(|e| format!("cannot read {}: {e}", file.display()))?;
        let shown = file.strip_prefix(root).unwrap_or(file).display();
        for (line, why) in scan(&text, test_only_file(&src, file, 0)) {
            problems.push(format!("{shown}:{line}: {why}"));
        }
    }
    match fs::read_to_string(src.join("lib.rs")) {
        Ok(text) if has_no_std(&text) => {}
        Ok(_) => {
            problems.push("src/lib.rs: no `#![no_std]` (or `#![cfg_attr(.., no_std)]`)".into())
        }
        Err(e) => problems.push(format!("src/lib.rs: cannot read: {e}")),
    }
    println!("no_std guard: {} files under src/ checked", files.len());
    if problems.is_empty() {
        return Ok(());
    }
    for p in &problems {
        eprintln!("  {p}");
    }
    Err(format!(
        "{} no_std violation(s) (listed above)",
        problems.len()
    ))
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), String> {
    let entries = fs::read_dir(dir).map_err(|e| format!("cannot list {}: {e}", dir.display()))?;
    for entry in entries {
        let entry = entry.map_err(|e| format!("cannot list {}: {e}", dir.display()))?;
        let path = entry.path();
        let kind = entry
            .file_type()
            .map_err(|e| format!("{}: {e}", path.display()))?;
        if kind.is_dir() {
            collect(&path, out)?;
        } else if path.extension().is_some_and(|x| x == "rs") {
            out.push(path);
        }
    }
    Ok(())
}

/// Whether `file`'s module is compiled only for tests: its parent declares it with
/// `#[cfg(test)] mod NAME;`, or the parent itself is test-only.
fn test_only_file(src: &Path, file: &Path, depth: u32) -> bool {
    let Some((name, parent)) = module_parent(src, file) else {
        return false;
    };
    if depth > 16 {
        return false;
    }
    let Ok(text) = fs::read_to_string(&parent) else {
        return false;
    };
    let lines: Vec<&str> = text.lines().map(code).collect();
    let declared_for_tests = lines.iter().enumerate().any(|(i, l)| {
        mod_name(l).is_some_and(|(n, inline)| n == name && !inline) && cfg_test_attr(&lines[..i])
    });
    declared_for_tests || test_only_file(src, &parent, depth + 1)
}

/// The module name of `file` and the file that declares it (`None` for the crate root).
fn module_parent(src: &Path, file: &Path) -> Option<(String, PathBuf)> {
    let stem = file.file_stem()?.to_str()?;
    let dir = file.parent()?;
    let (name, dir) = if stem == "mod" {
        (dir.file_name()?.to_str()?, dir.parent()?)
    } else if file == src.join("lib.rs") {
        return None;
    } else {
        (stem, dir)
    };
    let parent = if dir == src {
        src.join("lib.rs")
    } else if dir.join("mod.rs").is_file() {
        dir.join("mod.rs")
    } else {
        dir.with_extension("rs")
    };
    Some((name.to_string(), parent))
}

/// `mod NAME;` / `pub(crate) mod NAME {` -> (NAME, has an inline body).
fn mod_name(code: &str) -> Option<(&str, bool)> {
    let rest = code.strip_prefix("pub").map_or(code, |r| {
        let r = r.trim_start();
        match r.strip_prefix('(') {
            Some(vis) => vis.split_once(')').map_or(r, |(_, after)| after),
            None => r,
        }
    });
    let rest = rest.trim_start().strip_prefix("mod ")?.trim_start();
    let end = rest
        .find(|c: char| !(c.is_alphanumeric() || c == '_'))
        .unwrap_or(rest.len());
    let (name, tail) = rest.split_at(end);
    match tail.trim() {
        ";" => Some((name, false)),
        "{" => Some((name, true)),
        _ => None,
    }
}

/// Whether the attribute lines directly above the end of `before` include `#[cfg(test)]`.
fn cfg_test_attr(before: &[&str]) -> bool {
    before
        .iter()
        .rev()
        .take_while(|l| l.starts_with("#[") && l.ends_with(']'))
        .any(|l| *l == "#[cfg(test)]")
}

/// The code part of a line: leading whitespace and any `//` comment removed.
fn code(line: &str) -> &str {
    let line = line.trim();
    match line.find("//") {
        Some(i) => line[..i].trim_end(),
        None => line,
    }
}

/// Whether `code` declares `extern crate <name>` (as a whole word: not `std_foo`).
fn declares(code: &str, name: &str) -> bool {
    let mut rest = code;
    while let Some(i) = rest.find("extern crate") {
        let after = rest[i + "extern crate".len()..].trim_start();
        if let Some(tail) = after.strip_prefix(name)
            && !tail.starts_with(|c: char| c.is_alphanumeric() || c == '_')
        {
            return true;
        }
        rest = &rest[i + 1..];
    }
    false
}

/// Violations in one file's text, as (1-based line number, reason). `test_only`: the whole file
/// is compiled only for tests.
pub fn scan(text: &str, test_only: bool) -> Vec<(usize, &'static str)> {
    let lines: Vec<&str> = text.lines().map(code).collect();
    let mut found = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        if declares(line, "alloc") {
            found.push((
                i + 1,
                "`extern crate alloc` (the library must not allocate)",
            ));
        }
        if declares(line, "std") && !test_only {
            let before = &lines[..i];
            let first_in_test_mod = i > 0
                && mod_name(lines[i - 1]).is_some_and(|(_, inline)| inline)
                && cfg_test_attr(&lines[..i - 1]);
            if !cfg_test_attr(before) && !first_in_test_mod {
                found.push((i + 1, "`extern crate std` outside test-only code"));
            }
        }
    }
    found
}

/// Whether the crate root declares `no_std` in an inner attribute.
fn has_no_std(lib: &str) -> bool {
    lib.lines().map(code).any(|l| {
        l.starts_with("#![")
            && l.split(|c: char| !(c.is_alphanumeric() || c == '_'))
                .any(|w| w == "no_std")
    })
}

#[cfg(test)]
mod tests {
    use super::{check, has_no_std, mod_name, module_parent, scan};
    use std::fs;
    use std::path::Path;

    #[test]
    fn whole_tree() {
        let root = std::env::temp_dir().join(format!("xtask-nostd-{}", std::process::id()));
        let src = root.join("src");
        fs::create_dir_all(src.join("status/testfs")).unwrap();
        let write = |f: &str, text: &str| fs::write(src.join(f), text).unwrap();
        write(
            "lib.rs",
            "#![cfg_attr(not(test), no_std)]\npub mod status;\n",
        );
        write(
            "status/mod.rs",
            "pub mod read;\n#[cfg(test)]\nmod testfs;\n",
        );
        write(
            "status/read.rs",
            "#[cfg(test)]\nmod tests {\n    extern crate std;\n}\n",
        );
        write("status/testfs/mod.rs", "extern crate std;\nmod deep;\n");
        write("status/testfs/deep.rs", "extern crate std;\n");
        assert_eq!(check(&root), Ok(()));
        write("status/read.rs", "extern crate std;\n");
        assert!(check(&root).is_err());
        write("status/read.rs", "");
        write("lib.rs", "pub mod status;\n");
        assert!(check(&root).is_err());
        fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn alloc_is_always_rejected() {
        assert_eq!(scan("extern crate alloc;", false).len(), 1);
        assert_eq!(
            scan("#[cfg(test)]\n  extern crate alloc as a;", true)[0].0,
            2
        );
    }

    #[test]
    fn std_only_in_test_code() {
        assert!(scan("#[cfg(test)]\nextern crate std;", false).is_empty());
        assert!(scan("  #[cfg(test)]\n  extern crate std;", false).is_empty());
        assert!(scan("#[cfg(test)]\nmod tests {\n    extern crate std;", false).is_empty());
        assert!(
            scan(
                "#[cfg(test)]\n#[allow(x)]\npub(crate) mod t {\nextern crate std;",
                false
            )
            .is_empty()
        );
        assert!(scan("extern crate std;", true).is_empty());
        assert_eq!(scan("extern crate std;", false).len(), 1);
        assert_eq!(scan("#[cfg(test)]\n\nextern crate std;", false).len(), 1);
        assert_eq!(
            scan("#[cfg(feature = \"x\")]\nextern crate std;", false).len(),
            1
        );
        assert_eq!(scan("mod tests {\n    extern crate std;", false).len(), 1);
        assert_eq!(
            scan("#[cfg(test)]\nmod t {\nuse x;\nextern crate std;", false).len(),
            1
        );
    }

    #[test]
    fn comments_and_lookalikes_pass() {
        assert!(
            scan(
                "//! never `extern crate alloc`\n// extern crate std;",
                false
            )
            .is_empty()
        );
        assert!(scan("extern crate stdx;\nextern crate allocator;", false).is_empty());
        assert_eq!(scan("use x; extern crate std; // why", false).len(), 1);
    }

    #[test]
    fn module_declarations() {
        assert_eq!(mod_name("mod testfs;"), Some(("testfs", false)));
        assert_eq!(mod_name("pub(crate) mod tests {"), Some(("tests", true)));
        assert_eq!(mod_name("pub mod a_b ;"), Some(("a_b", false)));
        assert_eq!(mod_name("modx;"), None);
        let src = Path::new("/nonexistent/src");
        let parent = |f: &str| module_parent(src, &src.join(f));
        assert_eq!(parent("lib.rs"), None);
        assert_eq!(parent("a.rs"), Some(("a".into(), src.join("lib.rs"))));
        assert_eq!(parent("a/mod.rs"), Some(("a".into(), src.join("lib.rs"))));
        assert_eq!(parent("a/b.rs"), Some(("b".into(), src.join("a.rs"))));
    }

    #[test]
    fn crate_attribute() {
        assert!(has_no_std("//! doc\n#![no_std]\n"));
        assert!(has_no_std("#![cfg_attr(not(test), no_std)]"));
        assert!(!has_no_std("// #![no_std]\n#![forbid(unsafe_code)]"));
        assert!(!has_no_std("#![no_std_like]"));
    }
}
