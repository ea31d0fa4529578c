//! A small ELF section-header reader, for the size report (`size.rs`).
//!
//! Reads ELF32 and ELF64, little- and big-endian, of any machine, so ARM binaries are measured on
//! an x86 host without cross binutils. The text/data/bss totals follow GNU `size` (Berkeley
//! format): every allocated section that is executable or read-only counts as text (so `.rodata`
//! and `.eh_frame` are text), allocated writable sections with contents are data, and allocated
//! sections without contents (`SHT_NOBITS`: `.bss`, `.tbss`) are bss.

const SHT_NOBITS: u32 = 8;
const SHF_WRITE: u64 = 0x1;
const SHF_ALLOC: u64 = 0x2;
const SHF_EXECINSTR: u64 = 0x4;
const SHN_XINDEX: u32 = 0xffff;

/// One section header, with its name resolved.
#[derive(Debug)]
pub struct Section {
    pub name: String,
    pub kind: u32,
    pub flags: u64,
    pub addr: u64,
    pub size: u64,
}

/// What the report needs from an ELF file.
#[derive(Debug)]
pub struct Elf {
    pub is64: bool,
    pub little: bool,
    pub machine: u16,
    pub sections: Vec<Section>,
}

/// Berkeley-style totals, in bytes.
#[derive(Debug, PartialEq, Eq)]
pub struct Totals {
    pub text: u64,
    pub data: u64,
    pub bss: u64,
}

struct Reader<'a> {
    b: &'a [u8],
    little: bool,
}

impl Reader<'_> {
    fn bytes<const N: usize>(&self, at: u64) -> Result<[u8; N], String> {
        let start = usize::try_from(at).map_err(|_| "offset out of range")?;
        start
            .checked_add(N)
            .and_then(|end| self.b.get(start..end))
            .map(|s| s.try_into().expect("slice of length N"))
            .ok_or_else(|| format!("truncated ELF: {N} bytes at offset {at:#x} past end of file"))
    }
    fn u16(&self, at: u64) -> Result<u16, String> {
        let a = self.bytes(at)?;
        Ok(if self.little {
            u16::from_le_bytes(a)
        } else {
            u16::from_be_bytes(a)
        })
    }
    fn u32(&self, at: u64) -> Result<u32, String> {
        let a = self.bytes(at)?;
        Ok(if self.little {
            u32::from_le_bytes(a)
        } else {
            u32::from_be_bytes(a)
        })
    }
    fn u64(&self, at: u64) -> Result<u64, String> {
        let a = self.bytes(at)?;
        Ok(if self.little {
            u64::from_le_bytes(a)
        } else {
            u64::from_be_bytes(a)
        })
    }
    /// An address-sized field: 4 bytes in ELF32, 8 in ELF64.
    fn word(&self, at: u64, is64: bool) -> Result<u64, String> {
        if is64 {
            self.u64(at)
        } else {
            self.u32(at).map(u64::from)
        }
    }
}

/// Raw header fields before names are resolved.
struct RawSection {
    name_off: u32,
    kind: u32,
    flags: u64,
    addr: u64,
    offset: u64,
    size: u64,
    link: u32,
}

/// Parses the ELF header and section headers of `b`.
pub fn parse(b: &[u8]) -> Result<Elf, String> {
    if b.len() < 16 || &b[..4] != b"\x7fELF" {
        return Err("not an ELF file (bad magic)".into());
    }
    let is64 = match b[4] {
        1 => false,
        2 => true,
        c => return Err(format!("unknown ELF class {c}")),
    };
    let little = match b[5] {
        1 => true,
        2 => false,
        d => return Err(format!("unknown ELF data encoding {d}")),
    };
    let r = Reader { b, little };
    let machine = r.u16(18)?;
    let (shoff, shentsize, mut shnum, mut shstrndx) = if is64 {
        (
            r.u64(40)?,
            r.u16(58)?,
            u64::from(r.u16(60)?),
            u32::from(r.u16(62)?),
        )
    } else {
        (
            u64::from(r.u32(32)?),
            r.u16(46)?,
            u64::from(r.u16(48)?),
            u32::from(r.u16(50)?),
        )
    };
    if shoff == 0 {
        return Err("the ELF has no section headers (fully stripped?)".into());
    }
    let expected = if is64 { 64 } else { 40 };
    if shentsize != expected {
        return Err(format!(
            "unexpected section header size {shentsize} (want {expected})"
        ));
    }
    let header = |i: u64| -> Result<RawSection, String> {
        let at = i
            .checked_mul(u64::from(shentsize))
            .and_then(|o| o.checked_add(shoff))
            .ok_or("section header offset overflows")?;
        let w = if is64 { 8 } else { 4 };
        Ok(RawSection {
            name_off: r.u32(at)?,
            kind: r.u32(at + 4)?,
            flags: r.word(at + 8, is64)?,
            addr: r.word(at + 8 + w, is64)?,
            offset: r.word(at + 8 + 2 * w, is64)?,
            size: r.word(at + 8 + 3 * w, is64)?,
            link: r.u32(at + 8 + 4 * w)?,
        })
    };
    // Extended numbering: counts that do not fit in the header live in section 0.
    if shnum == 0 || shstrndx == SHN_XINDEX {
        let zero = header(0)?;
        if shnum == 0 {
            shnum = zero.size;
        }
        if shstrndx == SHN_XINDEX {
            shstrndx = zero.link;
        }
    }
    let table_end = shnum
        .checked_mul(u64::from(shentsize))
        .and_then(|n| n.checked_add(shoff));
    if table_end.is_none_or(|end| end > b.len() as u64) {
        return Err(format!(
            "truncated ELF: {shnum} section headers at {shoff:#x} do not fit"
        ));
    }
    let raw: Vec<RawSection> = (0..shnum).map(header).collect::<Result<_, _>>()?;
    let strtab = raw
        .get(shstrndx as usize)
        .ok_or_else(|| format!("section name table index {shstrndx} out of range"))?;
    let name = |off: u32| -> String {
        let start = strtab.offset.saturating_add(u64::from(off));
        let end = strtab
            .offset
            .saturating_add(strtab.size)
            .min(b.len() as u64);
        match b.get(start as usize..end as usize) {
            Some(s) => {
                let len = s.iter().position(|&c| c == 0).unwrap_or(s.len());
                String::from_utf8_lossy(&s[..len]).into_owned()
            }
            None => format!("<bad name {off}>"),
        }
    };
    let sections = raw
        .iter()
        .skip(1) // section 0 is the reserved null section
        .map(|s| Section {
            name: name(s.name_off),
            kind: s.kind,
            flags: s.flags,
            addr: s.addr,
            size: s.size,
        })
        .collect();
    Ok(Elf {
        is64,
        little,
        machine,
        sections,
    })
}

/// How a section is loaded, which decides where GNU `size` counts it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    /// Allocated and executable: text.
    Code,
    /// Allocated, not writable (`.rodata`, `.eh_frame`, ...): text.
    ReadOnly,
    /// Allocated, writable, stored in the file: data.
    Data,
    /// Allocated, writable, no file contents (`.bss`, `.tbss`): bss.
    Zeroed,
    /// Not loaded at run time (symbols, debug info, `.comment`).
    NotLoaded,
}

impl Section {
    /// This section's [`Class`].
    pub fn class(&self) -> Class {
        if self.flags & SHF_ALLOC == 0 {
            Class::NotLoaded
        } else if self.flags & SHF_EXECINSTR != 0 {
            Class::Code
        } else if self.flags & SHF_WRITE == 0 {
            Class::ReadOnly
        } else if self.kind == SHT_NOBITS {
            Class::Zeroed
        } else {
            Class::Data
        }
    }
}

impl Elf {
    /// GNU `size` Berkeley totals (see the module documentation).
    pub fn totals(&self) -> Totals {
        let mut t = Totals {
            text: 0,
            data: 0,
            bss: 0,
        };
        for s in &self.sections {
            match s.class() {
                Class::Code | Class::ReadOnly => t.text += s.size,
                Class::Data => t.data += s.size,
                Class::Zeroed => t.bss += s.size,
                Class::NotLoaded => {}
            }
        }
        t
    }

    /// The `e_machine` field as a name.
    pub fn machine_name(&self) -> String {
        match self.machine {
            0x03 => "x86".into(),
            0x28 => "ARM".into(),
            0x3e => "x86-64".into(),
            0xb7 => "AArch64".into(),
            0xf3 => "RISC-V".into(),
            m => format!("machine {m:#x}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Totals, parse};

    /// Builds a minimal ELF with a null section, `.text`, `.rodata`, `.data`, `.bss`, `.comment`
    /// and `.shstrtab`, in the given class and byte order.
    fn synthetic(is64: bool, little: bool) -> Vec<u8> {
        let names = b"\0.text\0.rodata\0.data\0.bss\0.comment\0.shstrtab\0";
        let put = |v: &mut Vec<u8>, at: usize, x: u64, n: usize| {
            let bytes = if little {
                x.to_le_bytes()
            } else {
                x.to_be_bytes()
            };
            let field = if little { &bytes[..n] } else { &bytes[8 - n..] };
            v[at..at + n].copy_from_slice(field);
        };
        let (ehsize, shentsize, w) = if is64 { (64, 64, 8) } else { (52, 40, 4) };
        let strtab_off = ehsize;
        let shoff = strtab_off + names.len();
        let sections: [(u64, u32, u64, u64); 7] = [
            (0, 0, 0, 0),
            (1, 1, 0x6, 100),  // .text: alloc+exec
            (7, 1, 0x2, 30),   // .rodata: alloc
            (15, 1, 0x3, 20),  // .data: alloc+write
            (21, 8, 0x3, 500), // .bss: alloc+write, nobits
            (26, 1, 0x30, 9),  // .comment: not alloc
            (35, 3, 0, names.len() as u64),
        ];
        let mut v = vec![0u8; shoff + shentsize * sections.len()];
        v[..4].copy_from_slice(b"\x7fELF");
        v[4] = if is64 { 2 } else { 1 };
        v[5] = if little { 1 } else { 2 };
        put(&mut v, 18, 0xb7, 2);
        v[strtab_off..shoff].copy_from_slice(names);
        let (o_shoff, o_entsize, o_num, o_strndx) = if is64 {
            (40, 58, 60, 62)
        } else {
            (32, 46, 48, 50)
        };
        put(&mut v, o_shoff, shoff as u64, w);
        put(&mut v, o_entsize, shentsize as u64, 2);
        put(&mut v, o_num, sections.len() as u64, 2);
        put(&mut v, o_strndx, 6, 2);
        for (i, (name, kind, flags, size)) in sections.iter().enumerate() {
            let at = shoff + i * shentsize;
            put(&mut v, at, *name, 4);
            put(&mut v, at + 4, u64::from(*kind), 4);
            put(&mut v, at + 8, *flags, w);
            put(&mut v, at + 8 + w, 0x1000 * i as u64, w);
            let offset = if i == 6 { strtab_off as u64 } else { 0 };
            put(&mut v, at + 8 + 2 * w, offset, w);
            put(&mut v, at + 8 + 3 * w, *size, w);
        }
        v
    }

    #[test]
    fn all_classes_and_byte_orders() {
        for is64 in [false, true] {
            for little in [false, true] {
                let elf = parse(&synthetic(is64, little)).unwrap();
                let names: Vec<&str> = elf.sections.iter().map(|s| s.name.as_str()).collect();
                assert_eq!(
                    names,
                    [".text", ".rodata", ".data", ".bss", ".comment", ".shstrtab"]
                );
                assert_eq!(
                    elf.totals(),
                    Totals {
                        text: 130,
                        data: 20,
                        bss: 500
                    }
                );
                assert_eq!(elf.sections[3].addr, 0x4000);
                assert_eq!((elf.is64, elf.little, elf.machine), (is64, little, 0xb7));
            }
        }
    }

    #[test]
    fn rejects_garbage_and_truncation() {
        assert!(parse(b"not an elf at all").is_err());
        let mut v = synthetic(true, true);
        v.truncate(v.len() - 10);
        assert!(parse(&v).is_err());
    }

    #[test]
    fn reads_own_binary() {
        let exe = std::env::current_exe().unwrap();
        let elf = parse(&std::fs::read(exe).unwrap()).unwrap();
        assert!(elf.sections.iter().any(|s| s.name == ".text"));
        assert!(elf.totals().text > 0);
    }
}
