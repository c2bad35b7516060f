//! One function per format. Each returns whether `s` is valid; unknown formats are valid.

pub fn check(format: &str, s: &str) -> bool {
    match format {
        "date-time" => date_time(s),
        "date" => date(s),
        "time" => time(s),
        "duration" => duration(s),
        "email" => email(s, false),
        "idn-email" => email(s, true),
        "hostname" => hostname(s),
        "idn-hostname" => idn_hostname(s),
        "ipv4" => ipv4(s),
        "ipv6" => ipv6(s),
        "uri" => uri(s, false, false),
        "uri-reference" => uri(s, true, false),
        "iri" => uri(s, false, true),
        "iri-reference" => uri(s, true, true),
        "uuid" => uuid(s),
        "json-pointer" => json_pointer(s),
        "relative-json-pointer" => relative_json_pointer(s),
        "uri-template" => uri_template(s),
        "regex" => regex(s),
        _ => true,
    }
}

fn digits(s: &str, n: usize) -> Option<u32> {
    if s.len() == n && s.bytes().all(|b| b.is_ascii_digit()) {
        s.parse().ok()
    } else {
        None
    }
}

fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        _ => 0,
    }
}

/// RFC 3339 full-date: YYYY-MM-DD with a real day of that month.
fn date(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return false;
    }
    let (Some(y), Some(m), Some(d)) = (
        digits(&s[0..4], 4),
        digits(&s[5..7], 2),
        digits(&s[8..10], 2),
    ) else {
        return false;
    };
    (1..=12).contains(&m) && d >= 1 && d <= days_in_month(y, m)
}

/// RFC 3339 full-time: HH:MM:SS[.frac](Z|±HH:MM). A leap second (:60) is valid only at
/// 23:59:60 UTC.
fn time(s: &str) -> bool {
    if !s.is_ascii() || s.len() < 9 {
        return false;
    }
    let b = s.as_bytes();
    if b[2] != b':' || b[5] != b':' {
        return false;
    }
    let (Some(h), Some(m), Some(sec)) = (
        digits(&s[0..2], 2),
        digits(&s[3..5], 2),
        digits(&s[6..8], 2),
    ) else {
        return false;
    };
    let mut rest = &s[8..];
    if let Some(frac) = rest.strip_prefix('.') {
        let n = frac.bytes().take_while(u8::is_ascii_digit).count();
        if n == 0 {
            return false;
        }
        rest = &frac[n..];
    }
    let offset_minutes: i32 = if rest.eq_ignore_ascii_case("z") {
        0
    } else {
        let sign = match rest.as_bytes().first() {
            Some(b'+') => 1,
            Some(b'-') => -1,
            _ => return false,
        };
        let o = &rest[1..];
        if o.len() != 5 || o.as_bytes()[2] != b':' {
            return false;
        }
        let (Some(oh), Some(om)) = (digits(&o[0..2], 2), digits(&o[3..5], 2)) else {
            return false;
        };
        if oh > 23 || om > 59 {
            return false;
        }
        sign * (oh * 60 + om) as i32
    };
    if h > 23 || m > 59 || sec > 60 {
        return false;
    }
    if sec == 60 {
        let utc = ((h * 60 + m) as i32 - offset_minutes).rem_euclid(24 * 60);
        return utc == 23 * 60 + 59;
    }
    true
}

fn date_time(s: &str) -> bool {
    if s.len() < 11 || !s.is_ascii() {
        return false;
    }
    let sep = s.as_bytes()[10];
    (sep == b'T' || sep == b't') && date(&s[..10]) && time(&s[11..])
}

/// ISO 8601 duration as RFC 3339 appendix A writes it: P[nY][nM][nD][T[nH][nM][nS]] with
/// at least one element (and one after T), or PnW alone.
fn duration(s: &str) -> bool {
    let Some(body) = s.strip_prefix('P') else {
        return false;
    };
    if body.is_empty() {
        return false;
    }
    if let Some(weeks) = body.strip_suffix('W') {
        return !weeks.is_empty() && weeks.bytes().all(|b| b.is_ascii_digit());
    }
    let (date_part, time_part) = match body.split_once('T') {
        Some((d, t)) => (d, Some(t)),
        None => (body, None),
    };
    let elements = |part: &str, units: &[u8]| -> Option<usize> {
        let mut next_unit = 0;
        let mut count = 0;
        let mut number = 0;
        for b in part.bytes() {
            if b.is_ascii_digit() {
                number += 1;
                continue;
            }
            if number == 0 {
                return None;
            }
            // RFC 3339's ABNF nests the units (years [months [days]]): after the first one
            // no unit may be skipped.
            let pos = units[next_unit..].iter().position(|u| *u == b)? + next_unit;
            if count > 0 && pos != next_unit {
                return None;
            }
            next_unit = pos + 1;
            number = 0;
            count += 1;
        }
        (number == 0).then_some(count)
    };
    let Some(d) = elements(date_part, b"YMD") else {
        return false;
    };
    match time_part {
        None => d > 0,
        Some(t) => matches!(elements(t, b"HMS"), Some(n) if n > 0),
    }
}

fn is_atext(c: char, idn: bool) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~".contains(c) || (idn && !c.is_ascii())
}

/// RFC 5321 Mailbox: dot-atom or quoted local part, @, a host name or an address literal.
fn email(s: &str, idn: bool) -> bool {
    let Some(at) = s.rfind('@') else {
        return false;
    };
    let (local, domain) = (&s[..at], &s[at + 1..]);
    let local_ok = if local.len() >= 2 && local.starts_with('"') && local.ends_with('"') {
        let inner = &local[1..local.len() - 1];
        let mut chars = inner.chars();
        let mut ok = true;
        while let Some(c) = chars.next() {
            if c == '\\' {
                if chars.next().is_none() {
                    ok = false;
                }
            } else if c == '"' || (c.is_ascii_control() && c != '\t') {
                ok = false;
            }
        }
        ok
    } else {
        !local.is_empty()
            && local
                .split('.')
                .all(|atom| !atom.is_empty() && atom.chars().all(|c| is_atext(c, idn)))
    };
    if !local_ok {
        return false;
    }
    if let Some(literal) = domain.strip_prefix('[').and_then(|d| d.strip_suffix(']')) {
        return match literal.strip_prefix("IPv6:") {
            Some(v6) => ipv6(v6),
            None => ipv4(literal),
        };
    }
    if idn {
        idn_hostname(domain)
    } else {
        hostname(domain)
    }
}

/// RFC 1123 host name: dot-separated labels of letters, digits and hyphens, 1-63 octets,
/// no hyphen at either end, 253 octets at most; `xn--` labels must be valid Punycode.
fn hostname(s: &str) -> bool {
    if s.is_empty() || s.len() > 253 {
        return false;
    }
    s.split('.').all(|label| {
        let b = label.as_bytes();
        !b.is_empty()
            && b.len() <= 63
            && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
            && b[0] != b'-'
            && b[b.len() - 1] != b'-'
            && (b.len() < 4 || &b[2..4] != b"--" || label.to_ascii_lowercase().starts_with("xn--"))
            && (!label.to_ascii_lowercase().starts_with("xn--") || punycode_ok(label))
    })
}

fn punycode_ok(label: &str) -> bool {
    let (unicode, errors) = idna::domain_to_unicode(label);
    errors.is_ok()
        && !unicode.is_empty()
        && idna::domain_to_ascii_strict(&unicode).is_ok()
        && idna2008_context_ok(&unicode)
}

/// RFC 5892's rules the UTS #46 mapping does not apply: the DISALLOWED exceptions (§2.6)
/// and the CONTEXTO rules of appendix A.
fn idna2008_context_ok(label: &str) -> bool {
    let chars: Vec<char> = label.chars().collect();
    let is_greek = |c: char| matches!(c as u32, 0x0370..=0x03FF | 0x1F00..=0x1FFF);
    let is_hebrew = |c: char| matches!(c as u32, 0x0590..=0x05FF);
    let is_kana_or_han = |c: char| matches!(c as u32, 0x3040..=0x309F | 0x30A0..=0x30FA | 0x30FC..=0x30FF | 0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xF900..=0xFAFF | 0x20000..=0x2FA1F);
    let arabic_indic = chars.iter().any(|c| matches!(*c as u32, 0x0660..=0x0669));
    let extended_arabic_indic = chars.iter().any(|c| matches!(*c as u32, 0x06F0..=0x06F9));
    if arabic_indic && extended_arabic_indic {
        return false;
    }
    chars.iter().enumerate().all(|(i, &c)| {
        let before = i.checked_sub(1).and_then(|j| chars.get(j)).copied();
        let after = chars.get(i + 1).copied();
        match c as u32 {
            0x0640 | 0x07FA | 0x302E | 0x302F | 0x3031..=0x3035 | 0x303B => false,
            0x00B7 => before == Some('l') && after == Some('l'),
            0x0375 => after.is_some_and(is_greek),
            0x05F3 | 0x05F4 => before.is_some_and(is_hebrew),
            0x30FB => chars.iter().any(|&o| is_kana_or_han(o)),
            _ => true,
        }
    })
}

/// IDNA 2008 host name (UTS #46 processing, strict: no underscores, length limits).
fn idn_hostname(s: &str) -> bool {
    if s.is_empty() || s.chars().any(|c| c.is_whitespace()) {
        return false;
    }
    let labels_ok = s
        .split(['.', '\u{3002}', '\u{FF0E}', '\u{FF61}'])
        .all(idna2008_context_ok);
    match idna::domain_to_ascii_strict(s) {
        Ok(ascii) => labels_ok && hostname(&ascii),
        Err(_) => false,
    }
}

/// Dotted quad: four decimal octets 0-255, no leading zeros, ASCII digits only.
fn ipv4(s: &str) -> bool {
    let parts: Vec<&str> = s.split('.').collect();
    parts.len() == 4
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.len() <= 3
                && p.bytes().all(|b| b.is_ascii_digit())
                && (p.len() == 1 || !p.starts_with('0'))
                && p.parse::<u16>().is_ok_and(|n| n <= 255)
        })
}

/// RFC 4291 text form (std's parser is strict: no zone ids, no leading/trailing spaces).
fn ipv6(s: &str) -> bool {
    s.is_ascii() && s.parse::<std::net::Ipv6Addr>().is_ok()
}

fn uuid(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

fn json_pointer(s: &str) -> bool {
    if s.is_empty() {
        return true;
    }
    if !s.starts_with('/') {
        return false;
    }
    let b = s.as_bytes();
    b.iter()
        .enumerate()
        .all(|(i, c)| *c != b'~' || matches!(b.get(i + 1), Some(b'0') | Some(b'1')))
}

/// A non-negative integer (no leading zeros), then `#` or a JSON pointer.
fn relative_json_pointer(s: &str) -> bool {
    let n = s.bytes().take_while(u8::is_ascii_digit).count();
    if n == 0 || (n > 1 && s.starts_with('0')) {
        return false;
    }
    let rest = &s[n..];
    rest == "#" || json_pointer(rest)
}

fn is_unreserved(c: char) -> bool {
    c.is_ascii_alphanumeric() || "-._~".contains(c)
}

fn is_sub_delim(c: char) -> bool {
    "!$&'()*+,;=".contains(c)
}

/// RFC 3987 ucschar / iprivate (roughly: any non-ASCII scalar that is not a noncharacter).
fn is_iri_char(c: char) -> bool {
    !c.is_ascii() && !matches!(c as u32, 0xFFFE | 0xFFFF) && !c.is_control()
}

/// Characters of `s` are unreserved, sub-delims, `extra`, percent-encodings (or IRI chars).
fn chars_ok(s: &str, extra: &str, iri: bool) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    for (pos, c) in s.char_indices() {
        if pos < i {
            continue;
        }
        if c == '%' {
            if !(b.get(pos + 1).is_some_and(u8::is_ascii_hexdigit)
                && b.get(pos + 2).is_some_and(u8::is_ascii_hexdigit))
            {
                return false;
            }
            i = pos + 3;
            continue;
        }
        if !(is_unreserved(c) || is_sub_delim(c) || extra.contains(c) || (iri && is_iri_char(c))) {
            return false;
        }
    }
    true
}

/// RFC 3986 URI / URI-reference (RFC 3987 IRI when `iri`).
fn uri(s: &str, reference: bool, iri: bool) -> bool {
    let (rest, fragment) = match s.split_once('#') {
        Some((r, f)) => (r, Some(f)),
        None => (s, None),
    };
    if let Some(f) = fragment {
        if !chars_ok(f, ":@/?", iri) {
            return false;
        }
    }
    let (rest, query) = match rest.split_once('?') {
        Some((r, q)) => (r, Some(q)),
        None => (rest, None),
    };
    if let Some(q) = query {
        if !chars_ok(q, ":@/?", iri) {
            return false;
        }
    }
    // scheme ":" — the first ':' before any '/' ends a scheme.
    let scheme_end = rest.find(':').filter(|i| !rest[..*i].contains('/'));
    let hier = match scheme_end {
        Some(i) => {
            let scheme = &rest[..i];
            let mut chars = scheme.chars();
            let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic());
            if !first_ok || !chars.all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c)) {
                return false;
            }
            &rest[i + 1..]
        }
        None if reference => rest,
        None => return false,
    };
    let path = if let Some(after) = hier.strip_prefix("//") {
        let end = after.find('/').unwrap_or(after.len());
        if !authority(&after[..end], iri) {
            return false;
        }
        &after[end..]
    } else {
        hier
    };
    chars_ok(path, ":@/", iri)
}

fn authority(a: &str, iri: bool) -> bool {
    let (userinfo, hostport) = match a.rfind('@') {
        Some(i) => (Some(&a[..i]), &a[i + 1..]),
        None => (None, a),
    };
    if let Some(u) = userinfo {
        if !chars_ok(u, ":", iri) {
            return false;
        }
    }
    let (host, port) = if hostport.starts_with('[') {
        let Some(close) = hostport.find(']') else {
            return false;
        };
        let literal = &hostport[1..close];
        let ok = if literal.starts_with(['v', 'V']) {
            literal.contains('.')
        } else {
            ipv6(literal)
        };
        if !ok {
            return false;
        }
        let rest = &hostport[close + 1..];
        if !rest.is_empty() && !rest.starts_with(':') {
            return false;
        }
        ("", rest.strip_prefix(':'))
    } else {
        match hostport.rfind(':') {
            Some(i) => (&hostport[..i], Some(&hostport[i + 1..])),
            None => (hostport, None),
        }
    };
    if let Some(p) = port {
        if !p.bytes().all(|b| b.is_ascii_digit()) {
            return false;
        }
    }
    chars_ok(host, "", iri)
}

/// RFC 6570 level 4: literals outside braces, expressions `{op? varspec,...}`.
fn uri_template(s: &str) -> bool {
    let literal_ok = |lit: &str| {
        !lit.chars()
            .any(|c| c.is_control() || "<>\" \\^`|".contains(c))
    };
    let mut rest = s;
    while !rest.is_empty() {
        match rest.find(['{', '}']) {
            None => return literal_ok(rest),
            Some(i) if rest.as_bytes()[i] == b'}' => return false,
            Some(i) => {
                if !literal_ok(&rest[..i]) {
                    return false;
                }
                let Some(close) = rest[i..].find('}') else {
                    return false;
                };
                let expr = &rest[i + 1..i + close];
                if !template_expression(expr) {
                    return false;
                }
                rest = &rest[i + close + 1..];
            }
        }
    }
    true
}

fn template_expression(expr: &str) -> bool {
    let body = expr
        .strip_prefix(['+', '#', '.', '/', ';', '?', '&'])
        .unwrap_or(expr);
    if body.starts_with(['=', ',', '!', '@', '|']) {
        return false;
    }
    !body.is_empty()
        && body.split(',').all(|spec| {
            let (name, modifier) = match spec.find([':', '*']) {
                Some(i) => (&spec[..i], Some(&spec[i..])),
                None => (spec, None),
            };
            let name_ok = !name.is_empty()
                && name.split('.').all(|part| !part.is_empty())
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.' || c == '%');
            let modifier_ok = match modifier {
                None | Some("*") => true,
                Some(m) => m.strip_prefix(':').is_some_and(|n| {
                    !n.is_empty()
                        && n.len() <= 4
                        && !n.starts_with('0')
                        && n.bytes().all(|b| b.is_ascii_digit())
                }),
            };
            name_ok && modifier_ok
        })
}

/// ECMA-262 pattern: balanced groups and classes, known escapes only.
fn regex(s: &str) -> bool {
    let chars: Vec<char> = s.chars().collect();
    let mut depth = 0i32;
    let mut in_class = false;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '\\' => {
                let Some(&e) = chars.get(i + 1) else {
                    return false;
                };
                let known = "dDwWsSbBfnrtv0123456789^$\\.*+?()[]{}|/-".contains(e)
                    || (e == 'c' && chars.get(i + 2).is_some_and(|c| c.is_ascii_alphabetic()))
                    || e == 'x'
                    || e == 'u'
                    || e == 'k'
                    || e == 'p'
                    || e == 'P';
                if !known {
                    return false;
                }
                i += 2;
                continue;
            }
            '[' if !in_class => in_class = true,
            ']' if in_class => in_class = false,
            '(' if !in_class => {
                // ECMA-262 groups: (…), (?:…), lookarounds, named (?<name>…); no inline
                // flags, comments or Python's (?P…).
                if chars.get(i + 1) == Some(&'?') {
                    let ok = match chars.get(i + 2) {
                        Some(':' | '=' | '!') => true,
                        Some('<') => match chars.get(i + 3) {
                            Some('=' | '!') => true,
                            Some(c) => c.is_alphabetic() || *c == '_' || *c == '$',
                            None => false,
                        },
                        _ => false,
                    };
                    if !ok {
                        return false;
                    }
                }
                depth += 1
            }
            ')' if !in_class => {
                depth -= 1;
                if depth < 0 {
                    return false;
                }
            }
            _ => {}
        }
        i += 1;
    }
    depth == 0 && !in_class
}
