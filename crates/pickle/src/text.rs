//! Operands written as text (protocol 0's INT, LONG, FLOAT, STRING, UNICODE) and the binary
//! LONG1/LONG4 integers, decoded as CPython decodes them.

use std::borrow::Cow;

use crate::object::Object;

/// A decimal integer (`int(s)`, surrounding whitespace allowed): an [`Object::Int`], or an
/// [`Object::BigInt`] when it does not fit in 64 bits; `None` when it is not an integer.
pub(crate) fn int<'a>(s: &str) -> Option<Object<'a>> {
    let s = s.trim();
    let digits = s.strip_prefix(['-', '+']).unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(s.parse().map_or(Object::BigInt, Object::Int))
}

/// A little-endian two's-complement integer (LONG1, LONG4).
pub(crate) fn long<'a>(b: &[u8]) -> Object<'a> {
    let negative = b.last().is_some_and(|&x| x & 0x80 != 0);
    let fill = if negative { 0xff } else { 0 };
    let (low, high) = b.split_at(b.len().min(8));
    let mut buf = [fill; 8];
    buf[..low.len()].copy_from_slice(low);
    let v = i64::from_le_bytes(buf);
    // bytes past the 8th must only extend the sign
    if high.iter().all(|&x| x == fill) && (v < 0) == negative {
        Object::Int(v)
    } else {
        Object::BigInt
    }
}

/// STRING's operand: a quoted Python bytes literal, its escapes decoded as
/// `codecs.escape_decode` does.
pub(crate) fn string_literal(line: &[u8]) -> Result<Cow<'_, [u8]>, &'static str> {
    let body = match line {
        [q, body @ .., e] if q == e && (*q == b'\'' || *q == b'"') => body,
        _ => return Err("the STRING opcode's argument is not quoted"),
    };
    if !body.contains(&b'\\') {
        return Ok(Cow::Borrowed(body));
    }
    let mut out = Vec::with_capacity(body.len());
    let mut i = 0;
    while i < body.len() {
        let c = body[i];
        i += 1;
        if c != b'\\' {
            out.push(c);
            continue;
        }
        let Some(&e) = body.get(i) else {
            return Err("a STRING ends in a lone backslash");
        };
        i += 1;
        match e {
            b'\n' => {}
            b'\\' | b'\'' | b'"' => out.push(e),
            b'a' => out.push(0x07),
            b'b' => out.push(0x08),
            b'f' => out.push(0x0c),
            b'n' => out.push(b'\n'),
            b'r' => out.push(b'\r'),
            b't' => out.push(b'\t'),
            b'v' => out.push(0x0b),
            b'0'..=b'7' => {
                // up to three octal digits, kept to a byte
                let mut v = u32::from(e - b'0');
                for _ in 0..2 {
                    match body.get(i) {
                        Some(&d @ b'0'..=b'7') => {
                            v = v * 8 + u32::from(d - b'0');
                            i += 1;
                        }
                        _ => break,
                    }
                }
                out.push(v as u8);
            }
            b'x' => {
                let hex = body.get(i..i + 2).and_then(hex_value);
                let Some(v) = hex else {
                    return Err("a STRING holds an invalid \\x escape");
                };
                out.push(v as u8);
                i += 2;
            }
            // an unknown escape stays as written
            _ => out.extend([b'\\', e]),
        }
    }
    Ok(Cow::Owned(out))
}

/// UNICODE's operand: raw-unicode-escape (`\uXXXX`, `\UXXXXXXXX` after an odd number of
/// backslashes; every other byte is a latin-1 character).
pub(crate) fn raw_unicode(line: &[u8]) -> Result<Cow<'_, str>, &'static str> {
    if line.is_ascii() && !line.contains(&b'\\') {
        // ASCII without escapes is its own UTF-8
        return Ok(Cow::Borrowed(std::str::from_utf8(line).unwrap_or_default()));
    }
    let mut out = String::with_capacity(line.len());
    let mut i = 0;
    while i < line.len() {
        if line[i] != b'\\' {
            out.push(char::from(line[i]));
            i += 1;
            continue;
        }
        let start = i;
        while line.get(i) == Some(&b'\\') {
            out.push('\\');
            i += 1;
        }
        let n = match line.get(i) {
            Some(b'u') if (i - start) % 2 == 1 => 4,
            Some(b'U') if (i - start) % 2 == 1 => 8,
            _ => continue,
        };
        out.pop(); // the backslash that starts the escape
        let hex = line.get(i + 1..i + 1 + n).and_then(hex_value);
        let Some(v) = hex else {
            return Err("a UNICODE string holds a truncated \\u escape");
        };
        let Some(c) = char::from_u32(v) else {
            return Err("a UNICODE string holds a surrogate or a code point beyond U+10FFFF");
        };
        out.push(c);
        i += 1 + n;
    }
    Ok(Cow::Owned(out))
}

/// The value of ASCII hex digits (at most 8).
fn hex_value(digits: &[u8]) -> Option<u32> {
    let s = std::str::from_utf8(digits).ok()?;
    if !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u32::from_str_radix(s, 16).ok()
}
