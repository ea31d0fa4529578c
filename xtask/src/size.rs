//! The size report of `cargo xtask size ELF` and `cargo xtask build`: file size, every allocated
//! section with its size, address and kind, the Berkeley text/data/bss totals (GNU `size`
//! conventions, see [`crate::elf`]) and the static RAM the image needs (.data + .bss).

use crate::elf::{self, Class, Elf};
use std::fmt::Write as _;
use std::path::Path;

/// Human-readable size with the exact byte count.
fn human(n: u64) -> String {
    if n < 1024 {
        format!("{n} B")
    } else if n < 1024 * 1024 {
        format!("{n} B ({:.1} KiB)", n as f64 / 1024.0)
    } else {
        format!("{n} B ({:.2} MiB)", n as f64 / (1024.0 * 1024.0))
    }
}

/// The full report for an ELF image whose file is `file_len` bytes long.
pub fn report(elf: &Elf, file_len: u64) -> String {
    let mut o = String::new();
    let class = if elf.is64 { "ELF64" } else { "ELF32" };
    let endian = if elf.little {
        "little-endian"
    } else {
        "big-endian"
    };
    let _ = writeln!(o, "format:  {class} {endian} {}", elf.machine_name());
    let _ = writeln!(o, "file:    {}", human(file_len));
    let _ = writeln!(
        o,
        "\n{:<24} {:>10}  {:>18}  kind",
        "section (allocated)", "size", "addr"
    );
    let mut unloaded = 0u64;
    for s in &elf.sections {
        let kind = match s.class() {
            Class::Code => "code",
            Class::ReadOnly => "read-only",
            Class::Data => "data",
            Class::Zeroed => "zeroed",
            Class::NotLoaded => {
                unloaded += s.size;
                continue;
            }
        };
        let _ = writeln!(o, "{:<24} {:>10}  {:>#18x}  {kind}", s.name, s.size, s.addr);
    }
    let _ = writeln!(
        o,
        "{:<24} {:>10}  (symbols, debug info, notes: not loaded)",
        "not allocated", unloaded
    );
    let t = elf.totals();
    let dec = t.text + t.data + t.bss;
    let _ = writeln!(
        o,
        "\n{:>10} {:>10} {:>10} {:>10} {:>10}",
        "text", "data", "bss", "dec", "hex"
    );
    let _ = writeln!(
        o,
        "{:>10} {:>10} {:>10} {:>10} {:>10x}",
        t.text, t.data, t.bss, dec, dec
    );
    let _ = writeln!(o, "\n.text + read-only: {}", human(t.text));
    let _ = writeln!(o, "static RAM (.data + .bss): {}", human(t.data + t.bss));
    o
}

/// Reads `path` and prints its report (the `size` subcommand).
pub fn print_report(path: &Path) -> Result<(), String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let elf = elf::parse(&bytes).map_err(|e| format!("{}: {e}", path.display()))?;
    println!("binary:  {}", path.display());
    print!("{}", report(&elf, bytes.len() as u64));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{human, report};
    use crate::elf::{Class, Elf, Section};

    #[test]
    fn human_sizes() {
        assert_eq!(human(12), "12 B");
        assert_eq!(human(2048), "2048 B (2.0 KiB)");
        assert_eq!(human(3 << 20), "3145728 B (3.00 MiB)");
    }

    #[test]
    fn report_lists_loaded_sections_and_totals() {
        let sec = |name: &str, kind, flags, size| Section {
            name: name.into(),
            kind,
            flags,
            addr: 0x1000,
            size,
        };
        let elf = Elf {
            is64: false,
            little: true,
            machine: 0x28,
            sections: vec![
                sec(".text", 1, 0x6, 1000),
                sec(".data", 1, 0x3, 10),
                sec(".bss", 8, 0x3, 200),
                sec(".symtab", 2, 0, 77),
            ],
        };
        assert_eq!(elf.sections[2].class(), Class::Zeroed);
        let r = report(&elf, 4096);
        assert!(r.starts_with("format:  ELF32 little-endian ARM\n"), "{r}");
        assert!(r.contains(".bss"));
        assert!(!r.contains(".symtab"));
        assert!(r.contains("not allocated                    77"), "{r}");
        assert!(
            r.contains("      1000         10        200       1210        4ba"),
            "{r}"
        );
        assert!(r.contains("static RAM (.data + .bss): 210 B"), "{r}");
    }
}
