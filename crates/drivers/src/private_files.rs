//! Files and folders only their owner may read: nuvola's data (the
//! database, keys, the simulated sites' and IM's journals) holds secrets
//! and what every user deployed. Folders are made 0700 and files 0600 on
//! Unix; ones found wider (left by an older nuvola, or made by hand) are
//! tightened, and the caller is told so it can say it.

use std::fs::{File, OpenOptions};
use std::io;
use std::path::Path;

/// Creates `dir` (and its parents) for its owner only; `true` when it
/// existed wider and was tightened.
pub fn private_dir(dir: &Path) -> io::Result<bool> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)?;
        tighten(dir, 0o700)
    }
    #[cfg(not(unix))]
    std::fs::create_dir_all(dir).map(|()| false)
}

/// Opens `path` with `options`, readable and writable by its owner only
/// (a file that exists is tightened too).
pub fn private_file(options: &mut OpenOptions, path: &Path) -> io::Result<File> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        let file = options.mode(0o600).open(path)?;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        Ok(file)
    }
    #[cfg(not(unix))]
    options.open(path)
}

/// Takes away from `path`'s mode what is not in `keep`; `true` when it did.
pub fn tighten(path: &Path, keep: u32) -> io::Result<bool> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path)?.permissions().mode();
        if mode & 0o777 & !keep == 0 {
            return Ok(false);
        }
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode & keep))?;
        Ok(true)
    }
    #[cfg(not(unix))]
    {
        let _ = (path, keep);
        Ok(false)
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn folders_and_files_are_their_owners_alone() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("a/b");
        assert!(!private_dir(&dir).unwrap());
        assert_eq!(mode(&dir), 0o700);
        let file = dir.join("f");
        private_file(OpenOptions::new().create(true).append(true), &file).unwrap();
        assert_eq!(mode(&file), 0o600);

        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(private_dir(&dir).unwrap(), "a wider folder is tightened, and said so");
        assert_eq!(mode(&dir), 0o700);
        private_file(OpenOptions::new().append(true), &file).unwrap();
        assert_eq!(mode(&file), 0o600);
        assert!(!tighten(&file, 0o600).unwrap());
    }
}
