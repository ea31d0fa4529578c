//! Test helper: a throw-away directory tree standing in for `/proc` or `/sys`.

use std::path::PathBuf;
use std::string::String;
use std::sync::atomic::{AtomicUsize, Ordering};

/// A temporary directory, removed on drop.
pub struct FakeRoot {
    path: PathBuf,
}

impl FakeRoot {
    /// Creates an empty directory with a unique, short name.
    pub fn new() -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path =
            std::env::temp_dir().join(std::format!("edgeloop-st-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("create fake root");
        FakeRoot { path }
    }

    /// The root as a `&str`-able string.
    pub fn root(&self) -> String {
        self.path.to_str().expect("utf-8 temp dir").into()
    }

    /// Writes `contents` to `rel` (creating parent directories) and returns its full path.
    pub fn file(&self, rel: &str, contents: &[u8]) -> String {
        let p = self.path.join(rel);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).expect("create parent");
        }
        std::fs::write(&p, contents).expect("write fake file");
        p.to_str().expect("utf-8").into()
    }

    /// Creates directory `rel` (and parents).
    pub fn dir(&self, rel: &str) {
        std::fs::create_dir_all(self.path.join(rel)).expect("create dir");
    }
}

impl Drop for FakeRoot {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}
