//! Build-script helper for [edgeloop]: compiles a folder of web assets into the firmware, for
//! `edgeloop::web::static_files` (Tornado's `StaticFileHandler`, firmware style).
//!
//! For each file under the folder it emits one `StaticAsset` entry in a generated Rust file:
//! its path (relative, `/`-separated), its content type (by extension), a strong `ETag` (a
//! SHA-1 of the content), `include_bytes!` of the file itself and — for compressible types,
//! when it is smaller — of a gzip copy written next to the generated file. Entries are sorted by
//! path (the library looks them up by binary search).
//!
//! In the firmware's `build.rs`:
//!
//! ```no_run
//! let out = std::path::PathBuf::from(std::env::var("OUT_DIR").unwrap()).join("assets.rs");
//! edgeloop_build::embed_dir("assets", &out, &edgeloop_build::Options::default()).unwrap();
//! ```
//!
//! and in the firmware:
//!
//! ```ignore
//! include!(concat!(env!("OUT_DIR"), "/assets.rs")); // defines `pub static ASSETS`
//! static FILES: StaticFiles = StaticFiles::new(ASSETS);
//! ```
//!
//! [`embed_dir`] prints the `cargo:rerun-if-changed` lines. To commit a generated table instead
//! (tests, or a build without a build script), call [`scan`] and [`render`] with
//! [`Options::manifest_dir`] set, so the generated paths are relative to the crate root.
//!
//! The gzip copies are deterministic (no timestamp, no file name in the header), so a
//! generated table and its `.gz` files are reproducible.
//!
//! [edgeloop]: https://docs.rs/edgeloop

#![deny(missing_docs)]

use std::fmt::Write as _;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// How [`embed_dir`], [`scan`] and [`render`] work.
#[derive(Clone, Debug)]
pub struct Options {
    /// Name of the generated `pub static` (default `ASSETS`).
    pub static_name: String,
    /// Path of the edgeloop crate in the generated code (default `::edgeloop`).
    pub crate_path: String,
    /// Write and embed gzip copies of compressible files when smaller (default `true`).
    pub gzip: bool,
    /// Marks files whose name carries a content hash (`app.3f9a1c2b.js`, `index-BQ7x9aZc.js`)
    /// as immutable, served with a long `max-age` (default `true`).
    pub detect_hashed_names: bool,
    /// Includes files and folders whose name starts with `.` (default `false`).
    pub include_hidden: bool,
    /// When set, files under this folder are named in the generated code as
    /// `concat!(env!("CARGO_MANIFEST_DIR"), "/relative/path")` rather than by absolute path,
    /// so a generated file can be committed. Set it to the crate root (`CARGO_MANIFEST_DIR`).
    pub manifest_dir: Option<PathBuf>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            static_name: "ASSETS".into(),
            crate_path: "::edgeloop".into(),
            gzip: true,
            detect_hashed_names: true,
            include_hidden: false,
            manifest_dir: None,
        }
    }
}

/// One file found by [`scan`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Asset {
    /// Path relative to the scanned folder, `/`-separated, no leading `/`.
    pub path: String,
    /// The file on disk.
    pub source: PathBuf,
    /// The `Content-Type` value.
    pub content_type: &'static str,
    /// The strong `ETag` of the file, quoted (`"…"`).
    pub etag: String,
    /// The strong `ETag` of the gzip copy, quoted (empty when there is no copy).
    pub gzip_etag: String,
    /// The size of the file.
    pub len: usize,
    /// The gzip copy, when the type is compressible and the copy is smaller.
    pub gzip: Option<Vec<u8>>,
    /// Whether the name carries a content hash (served as immutable).
    pub immutable: bool,
}

/// Scans `dir` recursively and builds the assets, sorted by path (nothing is written).
///
/// Files whose path could never be requested (a `\`, a control byte, a `%`-escape that does not
/// round-trip, or a name that is not UTF-8) are skipped with a `cargo:warning`.
pub fn scan(dir: impl AsRef<Path>, options: &Options) -> io::Result<Vec<Asset>> {
    let dir = dir.as_ref();
    let mut files = Vec::new();
    walk(dir, "", options, 0, &mut files)?;
    files.sort_by(|a: &(String, PathBuf), b| a.0.as_bytes().cmp(b.0.as_bytes()));
    let mut out = Vec::with_capacity(files.len());
    for (path, source) in files {
        let data = fs::read(&source)?;
        let ext = path.rsplit_once('.').map_or("", |(_, e)| e);
        let content_type = content_type(ext);
        let hash = hash_hex(&data);
        let gzip = if options.gzip && is_compressible(content_type) {
            let gz = gzip(&data);
            (gz.len() < data.len()).then_some(gz)
        } else {
            None
        };
        let file_name = path.rsplit('/').next().unwrap_or(&path);
        out.push(Asset {
            etag: format!("\"{hash}\""),
            gzip_etag: if gzip.is_some() {
                format!("\"{hash}-gz\"")
            } else {
                String::new()
            },
            len: data.len(),
            immutable: options.detect_hashed_names && is_hashed_name(file_name),
            content_type,
            gzip,
            path,
            source,
        });
    }
    Ok(out)
}

fn walk(
    dir: &Path,
    prefix: &str,
    options: &Options,
    depth: u32,
    out: &mut Vec<(String, PathBuf)>,
) -> io::Result<()> {
    if depth > 32 {
        return Err(io::Error::other(format!(
            "{}: folders nested too deep (a symlink loop?)",
            dir.display()
        )));
    }
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
            println!(
                "cargo:warning=edgeloop-build: skipping {} (name is not UTF-8)",
                entry.path().display()
            );
            continue;
        };
        if name.starts_with('.') && !options.include_hidden {
            continue;
        }
        let path = entry.path();
        let rel = if prefix.is_empty() {
            name.clone()
        } else {
            format!("{prefix}/{name}")
        };
        let meta = fs::metadata(&path)?;
        if meta.is_dir() {
            walk(&path, &rel, options, depth + 1, out)?;
        } else if meta.is_file() {
            if !is_servable_name(&name) {
                println!(
                    "cargo:warning=edgeloop-build: skipping {} (its name can never be requested)",
                    path.display()
                );
                continue;
            }
            out.push((rel, path));
        }
    }
    Ok(())
}

/// Whether a file name can be requested: no `\`, no control byte, no `.`/`..`.
fn is_servable_name(name: &str) -> bool {
    name != "." && name != ".." && !name.bytes().any(|b| b == b'\\' || b < 0x20 || b == 0x7f)
}

/// Writes the gzip copies of `assets` under `gz_dir` (as `path.gz`, creating folders), only
/// when their content changed. Returns the files written or kept.
pub fn write_gzip_copies(assets: &[Asset], gz_dir: impl AsRef<Path>) -> io::Result<Vec<PathBuf>> {
    let gz_dir = gz_dir.as_ref();
    let mut written = Vec::new();
    for a in assets {
        let Some(gz) = &a.gzip else { continue };
        let dest = gz_path(gz_dir, &a.path);
        if let Some(parent) = dest.parent() {
            fs::create_dir_all(parent)?;
        }
        if fs::read(&dest).ok().as_deref() != Some(gz.as_slice()) {
            fs::write(&dest, gz)?;
        }
        written.push(dest);
    }
    Ok(written)
}

fn gz_path(gz_dir: &Path, rel: &str) -> PathBuf {
    let mut p = gz_dir.to_path_buf();
    for part in rel.split('/') {
        p.push(part);
    }
    let mut s = p.into_os_string();
    s.push(".gz");
    PathBuf::from(s)
}

/// Renders the Rust source of the asset table: a `pub static` slice of `StaticAsset`, whose
/// gzip copies are expected under `gz_dir` (see [`write_gzip_copies`]).
pub fn render(assets: &[Asset], gz_dir: impl AsRef<Path>, options: &Options) -> String {
    let gz_dir = gz_dir.as_ref();
    let k = &options.crate_path;
    let mut s = String::new();
    s.push_str("// @generated by edgeloop-build: do not edit.\n");
    let _ = writeln!(
        s,
        "/// The compiled-in static assets ({} files).",
        assets.len()
    );
    let _ = writeln!(
        s,
        "pub static {}: &[{k}::web::static_files::StaticAsset] = &[",
        options.static_name
    );
    for a in assets {
        let _ = writeln!(s, "    {k}::web::static_files::StaticAsset {{");
        let _ = writeln!(s, "        path: {:?},", a.path);
        let _ = writeln!(s, "        content_type: {:?},", a.content_type);
        let _ = writeln!(s, "        etag: {:?},", a.etag);
        let _ = writeln!(s, "        gzip_etag: {:?},", a.gzip_etag);
        let _ = writeln!(
            s,
            "        body: include_bytes!({}),",
            path_expr(&a.source, options)
        );
        match &a.gzip {
            Some(_) => {
                let _ = writeln!(
                    s,
                    "        gzip: Some(include_bytes!({})),",
                    path_expr(&gz_path(gz_dir, &a.path), options)
                );
            }
            None => s.push_str("        gzip: None,\n"),
        }
        let _ = writeln!(s, "        immutable: {},", a.immutable);
        s.push_str("    },\n");
    }
    s.push_str("];\n");
    s
}

/// The `include_bytes!` argument naming `p`: absolute, or relative to the manifest folder.
fn path_expr(p: &Path, options: &Options) -> String {
    let canon = |p: &Path| {
        fs::canonicalize(p)
            .or_else(|_| std::path::absolute(p))
            .unwrap_or_else(|_| p.to_path_buf())
    };
    if let Some(root) = &options.manifest_dir {
        for (path, root) in [(p.to_path_buf(), root.clone()), (canon(p), canon(root))] {
            if let Ok(rel) = path.strip_prefix(&root) {
                let rel: Vec<String> = rel
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .collect();
                return format!(
                    "concat!(env!(\"CARGO_MANIFEST_DIR\"), {:?})",
                    format!("/{}", rel.join("/"))
                );
            }
        }
    }
    format!("{:?}", canon(p).to_string_lossy())
}

/// Scans `dir`, writes the gzip copies under `<out_rs's folder>/<static name>_gz/`, writes the
/// table to `out_rs` (only when it changed), and prints `cargo:rerun-if-changed` for the folder
/// and every file. For a `build.rs`; returns the assets.
pub fn embed_dir(
    dir: impl AsRef<Path>,
    out_rs: impl AsRef<Path>,
    options: &Options,
) -> io::Result<Vec<Asset>> {
    let dir = dir.as_ref();
    let out_rs = out_rs.as_ref();
    println!("cargo:rerun-if-changed={}", dir.display());
    let assets = scan(dir, options)?;
    for a in &assets {
        println!("cargo:rerun-if-changed={}", a.source.display());
    }
    let parent = out_rs.parent().unwrap_or(Path::new("."));
    let gz_dir = parent.join(format!("{}_gz", options.static_name.to_lowercase()));
    write_gzip_copies(&assets, &gz_dir)?;
    let code = render(&assets, &gz_dir, options);
    if fs::read_to_string(out_rs).ok().as_deref() != Some(code.as_str()) {
        fs::create_dir_all(parent)?;
        fs::write(out_rs, code)?;
    }
    Ok(assets)
}

/// The `Content-Type` for a file extension (case-insensitive); `application/octet-stream` when
/// unknown. Text types carry `charset=utf-8`.
pub fn content_type(ext: &str) -> &'static str {
    let ext = ext.to_ascii_lowercase();
    match ext.as_str() {
        "html" | "htm" => "text/html; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "js" | "mjs" | "cjs" => "text/javascript; charset=utf-8",
        "json" | "map" => "application/json",
        "webmanifest" => "application/manifest+json",
        "txt" | "text" | "log" => "text/plain; charset=utf-8",
        "csv" => "text/csv; charset=utf-8",
        "md" => "text/markdown; charset=utf-8",
        "xml" => "application/xml",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "avif" => "image/avif",
        "ico" => "image/x-icon",
        "bmp" => "image/bmp",
        "woff2" => "font/woff2",
        "woff" => "font/woff",
        "ttf" => "font/ttf",
        "otf" => "font/otf",
        "wasm" => "application/wasm",
        "pdf" => "application/pdf",
        "mp3" => "audio/mpeg",
        "ogg" => "audio/ogg",
        "wav" => "audio/wav",
        "mp4" => "video/mp4",
        "webm" => "video/webm",
        "gz" => "application/gzip",
        "zip" => "application/zip",
        _ => "application/octet-stream",
    }
}

/// Whether gzip is worth trying for a content type (text, scripts, JSON, SVG, XML, WebAssembly,
/// uncompressed fonts and bitmaps; not images, audio, video, archives or WOFF fonts).
pub fn is_compressible(content_type: &str) -> bool {
    let t = content_type.split(';').next().unwrap_or("").trim();
    t.starts_with("text/")
        || matches!(
            t,
            "application/json"
                | "application/manifest+json"
                | "application/xml"
                | "application/wasm"
                | "image/svg+xml"
                | "image/x-icon"
                | "image/bmp"
                | "font/ttf"
                | "font/otf"
        )
}

/// Whether a file name carries a content hash: a `.`- or `-`-separated part of 8 or more
/// ASCII letters, digits or `_` with at least one digit and one letter
/// (`app.3f9a1c2b.js`, `index-BQ7x9aZc.js`), not counting the extension.
pub fn is_hashed_name(name: &str) -> bool {
    let stem = name.rsplit_once('.').map_or(name, |(s, _)| s);
    stem.split(['.', '-']).any(|part| {
        part.len() >= 8
            && part.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
            && part.bytes().any(|b| b.is_ascii_digit())
            && part.bytes().any(|b| b.is_ascii_alphabetic())
    })
}

/// The first 20 hex digits (80 bits) of the SHA-1 of `data`: the strong `ETag` of a file.
pub fn hash_hex(data: &[u8]) -> String {
    let hex = sha1_smol::Sha1::from(data).digest().to_string();
    hex[..20].to_owned()
}

/// A gzip member (RFC 1952) of `data`: best deflate compression, no file name, mtime 0 — the
/// same bytes for the same input.
pub fn gzip(data: &[u8]) -> Vec<u8> {
    let deflated = miniz_oxide::deflate::compress_to_vec(data, 10);
    let mut out = Vec::with_capacity(deflated.len() + 18);
    // ID1 ID2 CM=deflate FLG=0 MTIME=0 XFL=2 (best) OS=255 (unknown)
    out.extend_from_slice(&[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 2, 255]);
    out.extend_from_slice(&deflated);
    out.extend_from_slice(&crc32(data).to_le_bytes());
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out
}

/// The CRC-32 (IEEE 802.3, as in gzip) of `data`.
pub fn crc32(data: &[u8]) -> u32 {
    const TABLE: [u32; 256] = {
        let mut t = [0u32; 256];
        let mut i = 0;
        while i < 256 {
            let mut c = i as u32;
            let mut k = 0;
            while k < 8 {
                c = if c & 1 != 0 {
                    0xedb8_8320 ^ (c >> 1)
                } else {
                    c >> 1
                };
                k += 1;
            }
            t[i] = c;
            i += 1;
        }
        t
    };
    let mut c = !0u32;
    for &b in data {
        c = TABLE[((c ^ u32::from(b)) & 0xff) as usize] ^ (c >> 8);
    }
    !c
}

#[cfg(test)]
mod tests;
