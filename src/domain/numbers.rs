//! Numbers as clients write them: whether convio can keep one exactly. Stored JSON holds a
//! number as a 64-bit integer or a double (both databases, and every reader, agree on those);
//! a literal neither holds exactly (`0.1234567890123456789`, `123456789012345678901`) would be
//! changed silently, so it is found here and refused where it arrives.

/// The first number literal in `json` (text outside strings) that neither a 64-bit integer nor
/// a double holds exactly: `123456789012345678901`, `0.1234567890123456789`.
pub fn inexact_number_in_json(json: &str) -> Option<&str> {
    let bytes = json.as_bytes();
    let (mut i, mut in_string) = (0, false);
    while i < bytes.len() {
        let b = bytes[i];
        if in_string {
            match b {
                b'\\' => i += 1,
                b'"' => in_string = false,
                _ => {}
            }
            i += 1;
        } else if b == b'"' {
            in_string = true;
            i += 1;
        } else if b == b'-' || b.is_ascii_digit() {
            let (end, inexact) = number_at(json, i);
            if inexact.is_some() {
                return inexact;
            }
            i = end;
        } else {
            i += 1;
        }
    }
    None
}

/// The number literal that starts at byte `start` of `text`: where it ends, and the literal
/// itself when it is not kept exactly.
fn number_at(text: &str, start: usize) -> (usize, Option<&str>) {
    let length = text.as_bytes()[start..]
        .iter()
        .take_while(|b| matches!(b, b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E'))
        .count();
    let token = &text[start..start + length];
    (start + length, (!round_trips(token)).then_some(token))
}

/// Whether the number `token` is stored as written: an integer within 64 bits, or a decimal
/// whose value is that of the shortest double that reads back as it.
fn round_trips(token: &str) -> bool {
    if !token.contains(['.', 'e', 'E']) {
        return token.parse::<i64>().is_ok() || token.parse::<u64>().is_ok();
    }
    match token.parse::<f64>() {
        Ok(double) if double.is_finite() => decimal(token) == decimal(&format!("{double:e}")),
        _ => false,
    }
}

/// A decimal literal as (negative, significant digits, power of ten of the last digit); zero
/// is `(false, "", 0)` whatever its sign or form.
fn decimal(text: &str) -> Option<(bool, String, i64)> {
    let (negative, text) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (mantissa, exponent) = match text.split_once(['e', 'E']) {
        Some((m, e)) => (m, e.parse::<i64>().ok()?),
        None => (text, 0),
    };
    let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits = format!("{whole}{fraction}");
    let mut power = exponent.checked_sub(i64::try_from(fraction.len()).ok()?)?;
    let significant = digits.trim_start_matches('0');
    let trimmed = significant.trim_end_matches('0');
    power += i64::try_from(significant.len() - trimmed.len()).ok()?;
    if trimmed.is_empty() {
        return Some((false, String::new(), 0));
    }
    Some((negative, trimmed.to_owned(), power))
}

/// The first number literal in a GraphQL document (outside strings, block strings and
/// comments) that neither a 64-bit integer nor a double holds exactly.
pub fn inexact_number_in_graphql(document: &str) -> Option<&str> {
    let bytes = document.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'#' => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
            }
            b'"' if document[i..].starts_with("\"\"\"") => {
                i += 3;
                while i < bytes.len() && !document[i..].starts_with("\"\"\"") {
                    i += if document[i..].starts_with("\\\"\"\"") {
                        4
                    } else {
                        1
                    };
                }
                i += 3;
            }
            b'"' => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
                i += 1;
            }
            b if b == b'_' || b.is_ascii_alphabetic() => {
                // A name may hold digits (`field2`): skip it whole.
                while i < bytes.len() && (bytes[i] == b'_' || bytes[i].is_ascii_alphanumeric()) {
                    i += 1;
                }
            }
            b if b == b'-' || b.is_ascii_digit() => {
                let (end, inexact) = number_at(document, i);
                if inexact.is_some() {
                    return inexact;
                }
                i = end;
            }
            _ => i += 1,
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_a_double_or_i64_holds_are_exact_others_are_not() {
        for exact in [
            "0",
            "-0",
            "0.1",
            "1.50",
            "240",
            "0.05",
            "1e3",
            "1.5E+300",
            "18446744073709551615",
            "-9223372036854775808",
            "9007199254740993",
        ] {
            assert!(round_trips(exact), "{exact}");
        }
        for inexact in [
            "0.1234567890123456789",
            "123456789012345678901",
            "1.0000000000000001",
            "1e400",
            "-18446744073709551616",
        ] {
            assert!(!round_trips(inexact), "{inexact}");
        }
    }

    #[test]
    fn the_scan_skips_strings() {
        assert_eq!(
            inexact_number_in_json(r#"{"a": "0.1234567890123456789", "b": [1, 2.5]}"#),
            None
        );
        assert_eq!(
            inexact_number_in_json(r#"{"a\"": 0.1234567890123456789}"#),
            Some("0.1234567890123456789")
        );
    }

    #[test]
    fn graphql_numbers_outside_names_strings_and_comments() {
        let doc = "# 0.1234567890123456789\n{ f2(a: \"0.1234567890123456789\", b: 1.5) }";
        assert_eq!(inexact_number_in_graphql(doc), None);
        let doc = "{ f(input: { customData: { fx: 0.1234567890123456789 } }) { id } }";
        assert_eq!(
            inexact_number_in_graphql(doc),
            Some("0.1234567890123456789")
        );
        let doc = "{ f(a: \"\"\"x \\\"\"\" 1.0000000000000001\"\"\") }";
        assert_eq!(inexact_number_in_graphql(doc), None);
    }
}
