//! A minimal reader of stored (uncompressed) zip archives, the layout `torch.save` writes.
//!
//! Our own rather than the `zip` crate: torch.save writes only stored entries, we need only
//! lookup by name and borrowed slices of bytes already in memory, and one short file whose
//! every offset and size is checked against the bytes present is easier to trust on hostile
//! input than a dependency. Zip64 records (archives over 4 GiB) are read; compressed or
//! encrypted entries are refused.

use std::collections::BTreeMap;

const LOCAL_SIG: u32 = 0x0403_4b50;
const CENTRAL_SIG: u32 = 0x0201_4b50;
const EOCD_SIG: u32 = 0x0605_4b50;
const ZIP64_LOCATOR_SIG: u32 = 0x0706_4b50;
const ZIP64_EOCD_SIG: u32 = 0x0606_4b50;
const EOCD_LEN: usize = 22;
const CENTRAL_LEN: usize = 46;
const LOCAL_LEN: usize = 30;

/// One entry of the central directory.
#[derive(Debug, Clone)]
struct Entry {
    method: u16,
    flags: u16,
    crc: u32,
    compressed: u64,
    uncompressed: u64,
    local_offset: u64,
}

/// A parsed archive over borrowed bytes.
pub(crate) struct Archive<'a> {
    bytes: &'a [u8],
    /// Entry names in archive order.
    order: Vec<String>,
    entries: BTreeMap<String, Entry>,
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(
        b.get(at..at.checked_add(2)?)?.try_into().ok()?,
    ))
}
fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(
        b.get(at..at.checked_add(4)?)?.try_into().ok()?,
    ))
}
fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(
        b.get(at..at.checked_add(8)?)?.try_into().ok()?,
    ))
}
fn to_usize(v: u64) -> Option<usize> {
    usize::try_from(v).ok()
}

/// Where the central directory is and how many entries it claims.
struct Directory {
    offset: usize,
    size: usize,
    count: u64,
}

impl<'a> Archive<'a> {
    /// Reads the central directory. Errors say what is wrong in words.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, String> {
        let dir = find_directory(bytes)?;
        let end = dir
            .offset
            .checked_add(dir.size)
            .filter(|&e| e <= bytes.len())
            .ok_or("the central directory lies past the end of the file (truncated?)")?;
        let cd = &bytes[dir.offset..end];
        let mut at = 0usize;
        let mut order = Vec::new();
        let mut entries = BTreeMap::new();
        for i in 0..dir.count {
            let bad = || format!("central directory entry {i} is damaged");
            if u32_at(cd, at) != Some(CENTRAL_SIG) {
                return Err(bad());
            }
            let field16 = |off: usize| u16_at(cd, at + off).ok_or_else(bad);
            let field32 = |off: usize| u32_at(cd, at + off).ok_or_else(bad);
            let (name_len, extra_len, comment_len) = (
                usize::from(field16(28)?),
                usize::from(field16(30)?),
                usize::from(field16(32)?),
            );
            let name_at = at + CENTRAL_LEN;
            let extra_at = name_at + name_len;
            let next = extra_at + extra_len + comment_len;
            let name = cd.get(name_at..extra_at).ok_or_else(bad)?;
            let extra = cd.get(extra_at..extra_at + extra_len).ok_or_else(bad)?;
            let name = String::from_utf8(name.to_vec())
                .map_err(|_| format!("entry {i} has a name that is not UTF-8"))?;
            let mut e = Entry {
                flags: field16(8)?,
                method: field16(10)?,
                crc: field32(16)?,
                compressed: u64::from(field32(20)?),
                uncompressed: u64::from(field32(24)?),
                local_offset: u64::from(field32(42)?),
            };
            apply_zip64_extra(&mut e, extra).ok_or_else(bad)?;
            if entries.contains_key(&name) {
                return Err(format!("the archive holds `{name}` twice"));
            }
            order.push(name.clone());
            entries.insert(name, e);
            at = next;
        }
        Ok(Archive {
            bytes,
            order,
            entries,
        })
    }

    /// Entry names in archive order.
    pub fn names(&self) -> &[String] {
        &self.order
    }

    /// Whether the archive holds `name`.
    pub fn contains(&self, name: &str) -> bool {
        self.entries.contains_key(name)
    }

    /// The bytes of entry `name` (`None` when absent), checked: stored, in bounds, CRC-32.
    pub fn data(&self, name: &str) -> Option<Result<&'a [u8], String>> {
        let e = self.entries.get(name)?;
        Some(self.read(name, e))
    }

    fn read(&self, name: &str, e: &Entry) -> Result<&'a [u8], String> {
        if e.flags & 1 != 0 {
            return Err(format!("entry `{name}` is encrypted"));
        }
        if e.method != 0 {
            return Err(format!(
                "entry `{name}` is compressed (zip method {}); torch.save writes stored entries",
                e.method
            ));
        }
        if e.compressed != e.uncompressed {
            return Err(format!("entry `{name}` has inconsistent sizes"));
        }
        let past_end = || format!("entry `{name}` lies past the end of the file (truncated?)");
        let local = to_usize(e.local_offset).ok_or_else(past_end)?;
        if u32_at(self.bytes, local) != Some(LOCAL_SIG) {
            return Err(format!("entry `{name}` has no local header"));
        }
        let n = u16_at(self.bytes, local + 26).ok_or_else(past_end)?;
        let m = u16_at(self.bytes, local + 28).ok_or_else(past_end)?;
        let start = local
            .checked_add(LOCAL_LEN + usize::from(n) + usize::from(m))
            .ok_or_else(past_end)?;
        let len = to_usize(e.compressed).ok_or_else(past_end)?;
        let data = start
            .checked_add(len)
            .and_then(|end| self.bytes.get(start..end))
            .ok_or_else(past_end)?;
        if crc32(data) != e.crc {
            return Err(format!("entry `{name}` is damaged (CRC-32 mismatch)"));
        }
        Ok(data)
    }
}

/// Finds the end-of-central-directory record (then the zip64 one when the sizes overflow).
fn find_directory(b: &[u8]) -> Result<Directory, String> {
    let not_zip = "no end-of-archive record (the file is truncated or not a zip archive)";
    let last = b.len().checked_sub(EOCD_LEN).ok_or(not_zip)?;
    // The record sits at the end, followed by a comment of at most 65535 bytes.
    let first = last.saturating_sub(usize::from(u16::MAX));
    let eocd = (first..=last)
        .rev()
        .find(|&at| u32_at(b, at) == Some(EOCD_SIG))
        .ok_or(not_zip)?;
    let count = u16_at(b, eocd + 10).ok_or(not_zip)?;
    let size = u32_at(b, eocd + 12).ok_or(not_zip)?;
    let offset = u32_at(b, eocd + 16).ok_or(not_zip)?;
    if count != u16::MAX && size != u32::MAX && offset != u32::MAX {
        return Ok(Directory {
            offset: offset as usize,
            size: size as usize,
            count: u64::from(count),
        });
    }
    let bad64 = "the zip64 end-of-archive record is missing or damaged";
    let locator = eocd.checked_sub(20).ok_or(bad64)?;
    if u32_at(b, locator) != Some(ZIP64_LOCATOR_SIG) {
        return Err(bad64.into());
    }
    let rec = u64_at(b, locator + 8).and_then(to_usize).ok_or(bad64)?;
    if u32_at(b, rec) != Some(ZIP64_EOCD_SIG) {
        return Err(bad64.into());
    }
    let field = |off: usize| u64_at(b, rec.checked_add(off)?);
    Ok(Directory {
        count: field(32).ok_or(bad64)?,
        size: field(40).and_then(to_usize).ok_or(bad64)?,
        offset: field(48).and_then(to_usize).ok_or(bad64)?,
    })
}

/// Replaces the 32-bit placeholders (0xFFFFFFFF) by the zip64 extra field's values, which
/// come in this order and only for the fields that overflowed.
fn apply_zip64_extra(e: &mut Entry, extra: &[u8]) -> Option<()> {
    let full = u64::from(u32::MAX);
    if e.uncompressed != full && e.compressed != full && e.local_offset != full {
        return Some(());
    }
    let mut at = 0usize;
    while at + 4 <= extra.len() {
        let id = u16_at(extra, at)?;
        let len = usize::from(u16_at(extra, at + 2)?);
        let body = extra.get(at + 4..at + 4 + len)?;
        if id == 1 {
            let mut off = 0usize;
            for field in [&mut e.uncompressed, &mut e.compressed, &mut e.local_offset] {
                if *field == full {
                    *field = u64_at(body, off)?;
                    off += 8;
                }
            }
            return Some(());
        }
        at += 4 + len;
    }
    None
}

/// CRC-32 (IEEE 802.3, reflected, the zip checksum).
pub(crate) fn crc32(data: &[u8]) -> u32 {
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
    !data.iter().fold(!0u32, |c, &b| {
        TABLE[((c ^ u32::from(b)) & 0xff) as usize] ^ (c >> 8)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32_check_value() {
        // the standard check value of CRC-32/ISO-HDLC
        assert_eq!(crc32(b"123456789"), 0xcbf4_3926);
        assert_eq!(crc32(b""), 0);
    }

    /// A one-entry stored archive; `zip64` puts the sizes, offsets and count in zip64
    /// records, as a writer does for archives over 4 GiB.
    fn archive(name: &str, data: &[u8], zip64: bool) -> Vec<u8> {
        let crc = crc32(data);
        let mut z = Vec::new();
        z.extend(LOCAL_SIG.to_le_bytes());
        z.extend([20, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        z.extend(crc.to_le_bytes());
        z.extend((data.len() as u32).to_le_bytes());
        z.extend((data.len() as u32).to_le_bytes());
        z.extend((name.len() as u16).to_le_bytes());
        z.extend(0u16.to_le_bytes());
        z.extend(name.as_bytes());
        z.extend(data);
        let cd_at = z.len();
        let (size32, off32, extra): (u32, u32, Vec<u8>) = if zip64 {
            let mut x = vec![1, 0, 24, 0];
            x.extend((data.len() as u64).to_le_bytes());
            x.extend((data.len() as u64).to_le_bytes());
            x.extend(0u64.to_le_bytes());
            (u32::MAX, u32::MAX, x)
        } else {
            (data.len() as u32, 0, vec![])
        };
        z.extend(CENTRAL_SIG.to_le_bytes());
        z.extend([45, 0, 45, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        z.extend(crc.to_le_bytes());
        z.extend(size32.to_le_bytes());
        z.extend(size32.to_le_bytes());
        z.extend((name.len() as u16).to_le_bytes());
        z.extend((extra.len() as u16).to_le_bytes());
        z.extend([0u8; 10]); // comment length, disk, attributes
        z.extend(off32.to_le_bytes());
        z.extend(name.as_bytes());
        z.extend(&extra);
        let cd_len = z.len() - cd_at;
        if zip64 {
            let rec = z.len();
            z.extend(ZIP64_EOCD_SIG.to_le_bytes());
            z.extend(44u64.to_le_bytes());
            z.extend([45, 0, 45, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
            z.extend(1u64.to_le_bytes());
            z.extend(1u64.to_le_bytes());
            z.extend((cd_len as u64).to_le_bytes());
            z.extend((cd_at as u64).to_le_bytes());
            z.extend(ZIP64_LOCATOR_SIG.to_le_bytes());
            z.extend(0u32.to_le_bytes());
            z.extend((rec as u64).to_le_bytes());
            z.extend(1u32.to_le_bytes());
        }
        z.extend(EOCD_SIG.to_le_bytes());
        z.extend([0u8; 4]);
        let (n, s, o) = if zip64 {
            (u16::MAX, u32::MAX, u32::MAX)
        } else {
            (1, cd_len as u32, cd_at as u32)
        };
        z.extend(n.to_le_bytes());
        z.extend(n.to_le_bytes());
        z.extend(s.to_le_bytes());
        z.extend(o.to_le_bytes());
        z.extend(0u16.to_le_bytes());
        z
    }

    #[test]
    fn reads_plain_and_zip64_archives() {
        for zip64 in [false, true] {
            let z = archive("a/data.pkl", b"hello", zip64);
            let a = Archive::parse(&z).unwrap();
            assert_eq!(a.names(), ["a/data.pkl"]);
            assert_eq!(a.data("a/data.pkl").unwrap().unwrap(), b"hello");
            assert!(a.data("a/other").is_none());
        }
    }

    #[test]
    fn damage_is_an_error_never_a_panic() {
        for zip64 in [false, true] {
            let z = archive("a/data.pkl", b"hello world", zip64);
            for cut in 0..z.len() {
                assert!(Archive::parse(&z[..cut]).is_err(), "cut at {cut}");
            }
            for i in 0..z.len() {
                for bit in [0x01, 0x80] {
                    let mut d = z.clone();
                    d[i] ^= bit;
                    if let Ok(a) = Archive::parse(&d) {
                        for n in a.names() {
                            // a flip in the data must fail the CRC
                            if let Some(Ok(data)) = a.data(n) {
                                assert!(n != "a/data.pkl" || data == b"hello world");
                            }
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn compressed_entries_are_refused() {
        let mut z = archive("a/x", b"abc", false);
        let cd = z.len() - EOCD_LEN - (CENTRAL_LEN + 3);
        z[cd + 10] = 8; // deflate
        let a = Archive::parse(&z).unwrap();
        let e = a.data("a/x").unwrap().unwrap_err();
        assert!(e.contains("compressed"), "{e}");
    }
}
