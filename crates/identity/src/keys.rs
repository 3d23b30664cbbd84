//! Keys kept in files: 32 random bytes written as 64 hex digits, readable
//! by the owner only, made on first use. The embedded issuer's signing key
//! and the key that seals secret inputs at rest are such files.

use std::path::Path;

use nuvola_types::{Error, Result};

/// The key in `path`, made (with its folder) when the file is missing.
pub fn load_or_create(path: &Path) -> Result<[u8; 32]> {
    match std::fs::read_to_string(path) {
        Ok(text) => decode(text.trim())
            .ok_or_else(|| Error::invalid(format!("{} is not a key: write 64 hex digits (32 bytes)", path.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut key = [0u8; 32];
            getrandom::getrandom(&mut key).map_err(|e| Error::internal(format!("no randomness: {e}")))?;
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)
                    .map_err(|e| Error::internal(format!("cannot create {}: {e}", dir.display())))?;
            }
            write_private(path, &hex(&key))?;
            Ok(key)
        }
        Err(e) => Err(Error::internal(format!("cannot read {}: {e}", path.display()))),
    }
}

/// Lower-case hex digits of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn decode(text: &str) -> Option<[u8; 32]> {
    if text.len() != 64 {
        return None;
    }
    let mut key = [0u8; 32];
    for (i, byte) in key.iter_mut().enumerate() {
        *byte = u8::from_str_radix(text.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(key)
}

/// Writes a new file readable by its owner only (never over another): it
/// is made with mode 0600 on Unix, so it is never readable by others, not
/// even for a moment.
pub fn write_private(path: &Path, text: &str) -> Result<()> {
    use std::io::Write;
    let mut new_file = std::fs::OpenOptions::new();
    new_file.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut new_file, 0o600);
    let mut file =
        new_file.open(path).map_err(|e| Error::internal(format!("cannot create {}: {e}", path.display())))?;
    file.write_all(text.as_bytes())
        .and_then(|_| file.sync_all())
        .map_err(|e| Error::internal(format!("cannot write {}: {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_made_once_private_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys/secrets.key");
        let made = load_or_create(&path).unwrap();
        assert_eq!(load_or_create(&path).unwrap(), made);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        }
        std::fs::write(dir.path().join("bad.key"), "not hex").unwrap();
        let e = load_or_create(&dir.path().join("bad.key")).unwrap_err().to_string();
        assert!(e.contains("64 hex digits"), "{e}");
    }
}
