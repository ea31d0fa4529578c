//! Child processes: echo the command line, inherit stdio (so output streams live), and turn a
//! failure to start or a non-zero exit into an error message that names the command.

use std::env;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// A `cargo` command: the cargo that runs this xtask (`$CARGO`), else `cargo` from `PATH`.
pub fn cargo(root: &Path) -> Command {
    let program = env::var_os("CARGO").unwrap_or_else(|| OsString::from("cargo"));
    let mut cmd = Command::new(program);
    cmd.current_dir(root);
    cmd
}

/// A shell-like rendering of `cmd` with the environment it sets, for logs and error messages.
pub fn describe(cmd: &Command) -> String {
    let mut parts = Vec::new();
    for (k, v) in cmd.get_envs() {
        if let Some(v) = v {
            parts.push(format!(
                "{}={}",
                k.to_string_lossy(),
                quote(&v.to_string_lossy())
            ));
        }
    }
    let program = cmd.get_program().to_string_lossy();
    // `$CARGO` is an absolute toolchain path; the short name reads better and runs the same.
    let program = match Path::new(&*program).file_name() {
        Some(name) if name == "cargo" => "cargo".into(),
        _ => program,
    };
    parts.push(program.into_owned());
    for a in cmd.get_args() {
        parts.push(quote(&a.to_string_lossy()));
    }
    parts.join(" ")
}

fn quote(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c));
    if plain {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// Runs `cmd` with inherited stdio; `Err` names the command and its exit status.
pub fn run(cmd: &mut Command) -> Result<(), String> {
    let line = describe(cmd);
    println!("$ {line}");
    let status = cmd
        .stdin(Stdio::inherit())
        .stdout(Stdio::inherit())
        .stderr(Stdio::inherit())
        .status()
        .map_err(|e| format!("could not start `{line}`: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("`{line}` failed ({status})"))
    }
}

/// Runs `cmd` quietly and returns its stdout; stderr is inherited.
pub fn output(cmd: &mut Command) -> Result<String, String> {
    let line = describe(cmd);
    let out = cmd
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("could not start `{line}`: {e}"))?;
    if !out.status.success() {
        return Err(format!("`{line}` failed ({})", out.status));
    }
    String::from_utf8(out.stdout).map_err(|_| format!("`{line}` printed non-UTF-8 output"))
}

/// Where `name` would be found on `PATH`, if anywhere.
pub fn which(name: &str) -> Option<PathBuf> {
    let path = env::var_os("PATH")?;
    env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| is_executable(p))
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    p.metadata()
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::{describe, quote};
    use std::process::Command;

    #[test]
    fn quoting() {
        assert_eq!(quote("--features"), "--features");
        assert_eq!(quote("-D warnings"), "'-D warnings'");
        assert_eq!(quote(""), "''");
        assert_eq!(quote("it's"), r"'it'\''s'");
    }

    #[test]
    fn describe_shows_env_and_args() {
        let mut c = Command::new("/opt/rust/bin/cargo");
        c.env("RUSTDOCFLAGS", "-D warnings")
            .args(["doc", "--no-deps"]);
        assert_eq!(
            describe(&c),
            "RUSTDOCFLAGS='-D warnings' cargo doc --no-deps"
        );
    }
}
