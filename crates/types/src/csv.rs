//! CSV fields for the files nuvola lets people download (statistics
//! tables, the audit log): quoted as RFC 4180 says, and kept from being
//! read as formulas by the spreadsheet that opens them, since their text
//! (group names, user names, deployment targets) comes from users.

/// The characters that make a spreadsheet read a cell as a formula (or as
/// the start of one after it trims the cell): OWASP's list, with the
/// full-width forms some spreadsheets also accept.
const FORMULA_STARTS: &[char] = &['=', '+', '-', '@', '\t', '\r', '\n', '＝', '＋', '－', '＠'];

/// One CSV field: a `'` before text a spreadsheet would take for a
/// formula, then quoted when it holds a comma, a quote or a line break.
pub fn field(text: &str) -> String {
    let guarded = if text.starts_with(FORMULA_STARTS) { format!("'{text}") } else { text.to_string() };
    if guarded.contains([',', '"', '\n', '\r']) { format!("\"{}\"", guarded.replace('"', "\"\"")) } else { guarded }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_quoted_and_kept_from_formulas() {
        for (text, expected) in [
            ("physics", "physics"),
            ("a,b", "\"a,b\""),
            ("say \"hi\"", "\"say \"\"hi\"\"\""),
            ("two\nlines", "\"two\nlines\""),
            ("=HYPERLINK(\"x\")", "\"'=HYPERLINK(\"\"x\"\")\""),
            ("+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0"),
            ("-1", "'-1"),
            ("@SUM(A1)", "'@SUM(A1)"),
            ("\t=1", "'\t=1"),
            ("\r=1", "\"'\r=1\""),
            ("＝1+1", "'＝1+1"),
            ("a=b", "a=b"),
        ] {
            assert_eq!(field(text), expected, "{text:?}");
        }
    }
}
