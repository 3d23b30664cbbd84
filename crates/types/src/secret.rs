//! Secrets compared without telling where they differ.

/// Whether `a` equals `b`, in a time that depends on their lengths only,
/// not on where the first difference is (for tokens, session ids and CSRF
/// values a client sends).
pub fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::same;

    #[test]
    fn equal_only_when_every_byte_and_the_length_are() {
        assert!(same(b"3f9a", b"3f9a"));
        assert!(same(b"", b""));
        assert!(!same(b"3f9a", b"3f9b"));
        assert!(!same(b"3f9a", b"4f9a"));
        assert!(!same(b"3f9a", b"3f9"));
        assert!(!same(b"", b"x"));
    }
}
