use super::*;

/// A fresh scratch folder under the system temp dir.
fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("edgeloop-build-{name}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&d);
    fs::create_dir_all(&d).unwrap();
    d
}

fn gunzip(gz: &[u8]) -> Vec<u8> {
    assert_eq!(&gz[..4], &[0x1f, 0x8b, 8, 0]);
    let body = &gz[10..gz.len() - 8];
    let data = miniz_oxide::inflate::decompress_to_vec(body).unwrap();
    let crc = u32::from_le_bytes(gz[gz.len() - 8..gz.len() - 4].try_into().unwrap());
    let len = u32::from_le_bytes(gz[gz.len() - 4..].try_into().unwrap());
    assert_eq!(crc, crc32(&data));
    assert_eq!(len as usize, data.len());
    data
}

#[test]
fn test_crc32_check_value() {
    assert_eq!(crc32(b"123456789"), 0xcbf4_3926);
    assert_eq!(crc32(b""), 0);
}

#[test]
fn test_gzip_round_trips_and_is_deterministic() {
    let data = b"hello hello hello hello hello hello hello\n".repeat(20);
    let gz = gzip(&data);
    assert_eq!(gunzip(&gz), data);
    assert_eq!(gz, gzip(&data));
    assert!(gz.len() < data.len());
}

#[test]
fn test_content_types() {
    assert_eq!(content_type("html"), "text/html; charset=utf-8");
    assert_eq!(content_type("JS"), "text/javascript; charset=utf-8");
    assert_eq!(content_type("woff2"), "font/woff2");
    assert_eq!(content_type("wasm"), "application/wasm");
    assert_eq!(content_type("nope"), "application/octet-stream");
    assert!(is_compressible(content_type("svg")));
    assert!(is_compressible(content_type("css")));
    assert!(!is_compressible(content_type("png")));
    assert!(!is_compressible(content_type("woff2")));
}

#[test]
fn test_hashed_names() {
    assert!(is_hashed_name("app.3f9a1c2b.js"));
    assert!(is_hashed_name("index-BQ7x9aZc.js"));
    assert!(!is_hashed_name("index.html"));
    assert!(!is_hashed_name("bootstrap-standalone.js"));
    assert!(!is_hashed_name("jquery-3.6.0.min.js"));
    assert!(
        !is_hashed_name("12345678.js"),
        "the extension-less stem alone is digits"
    );
}

#[test]
fn test_scan_sorts_skips_hidden_and_gzips_only_when_smaller() {
    let d = scratch("scan");
    fs::create_dir_all(d.join("css")).unwrap();
    fs::write(d.join("index.html"), "<p>hi</p>\n".repeat(50)).unwrap();
    fs::write(d.join("css/app.css"), "body { color: red }\n".repeat(50)).unwrap();
    fs::write(d.join("tiny.txt"), "x").unwrap();
    fs::write(d.join("logo.png"), [0x89u8, b'P', b'N', b'G'].repeat(100)).unwrap();
    fs::write(d.join(".hidden"), "secret").unwrap();
    fs::write(d.join("bad\\name.txt"), "x").unwrap();
    let assets = scan(&d, &Options::default()).unwrap();
    let paths: Vec<&str> = assets.iter().map(|a| a.path.as_str()).collect();
    assert_eq!(paths, ["css/app.css", "index.html", "logo.png", "tiny.txt"]);
    let css = &assets[0];
    assert_eq!(css.content_type, "text/css; charset=utf-8");
    assert!(css.gzip.is_some());
    assert_eq!(
        gunzip(css.gzip.as_ref().unwrap()),
        fs::read(d.join("css/app.css")).unwrap()
    );
    assert_eq!(css.etag.len(), 22);
    assert_eq!(css.gzip_etag, format!("{}-gz\"", &css.etag[..21]));
    assert!(assets[2].gzip.is_none(), "png is not compressible");
    assert!(
        assets[3].gzip.is_none(),
        "a gzip copy larger than the file is dropped"
    );
    assert_eq!(assets[3].gzip_etag, "");
    let _ = fs::remove_dir_all(&d);
}

#[test]
fn test_render_with_manifest_dir_is_relative() {
    let d = scratch("render");
    fs::create_dir_all(d.join("www")).unwrap();
    fs::write(d.join("www/a.js"), "let a = 1;\n".repeat(40)).unwrap();
    let opts = Options {
        manifest_dir: Some(d.clone()),
        ..Options::default()
    };
    let assets = scan(d.join("www"), &opts).unwrap();
    let code = render(&assets, d.join("gz"), &opts);
    assert!(
        code.contains(r#"body: include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/www/a.js")),"#),
        "{code}"
    );
    assert!(
        code.contains(
            r#"gzip: Some(include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/gz/a.js.gz"))),"#
        ),
        "{code}"
    );
    assert!(code.contains("pub static ASSETS: &[::edgeloop::web::static_files::StaticAsset]"));
    let _ = fs::remove_dir_all(&d);
}

#[test]
fn test_embed_dir_writes_table_and_copies() {
    let d = scratch("embed");
    fs::create_dir_all(d.join("www/sub")).unwrap();
    fs::write(
        d.join("www/sub/app.json"),
        "{\"k\": [1, 2, 3]}\n".repeat(30),
    )
    .unwrap();
    let out = d.join("out/assets.rs");
    let assets = embed_dir(d.join("www"), &out, &Options::default()).unwrap();
    assert_eq!(assets.len(), 1);
    let code = fs::read_to_string(&out).unwrap();
    let gz = d.join("out/assets_gz/sub/app.json.gz");
    assert_eq!(fs::read(&gz).unwrap(), *assets[0].gzip.as_ref().unwrap());
    let abs = fs::canonicalize(&gz).unwrap();
    assert!(
        code.contains(&format!("{:?}", abs.to_string_lossy())),
        "{code}"
    );
    assert!(code.contains("content_type: \"application/json\""));
    let _ = fs::remove_dir_all(&d);
}
