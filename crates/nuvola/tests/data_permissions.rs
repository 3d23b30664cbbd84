//! The data directory holds the database (secret inputs, sessions, the
//! audit log), keys and the simulated sites' journals: nothing in it is
//! readable by other users. A fresh one is made 0700 with every file 0600,
//! the SQLite database's -wal and -shm files included; one left wider by an
//! older nuvola is tightened on start, with a warning saying so.

#![cfg(unix)]

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use common::Server;

/// Every entry under `dir` (itself included) whose mode lets its group or
/// other users in, with that mode.
fn open_to_others(dir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(path) = stack.pop() {
        let meta = std::fs::symlink_metadata(&path).unwrap();
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            found.push(format!("{:o} {}", mode, path.display()));
        }
        if meta.is_dir() {
            stack.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
        }
    }
    found.sort();
    found
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn a_fresh_data_directory_is_private_to_nuvola() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = Server::start(dir.path(), &["--data-dir", "data"], "serve.log");
    // While serving: the write-ahead log and shared memory exist too.
    for file in ["nuvola.sqlite", "nuvola.sqlite-wal", "nuvola.sqlite-shm", "sim/cloudveneto.journal"] {
        assert!(data.join(file).is_file(), "no {file}");
    }
    assert_eq!(mode(&data), 0o700);
    assert_eq!(open_to_others(&data), Vec::<String>::new());
    assert!(server.terminate().success());
    assert_eq!(open_to_others(&data), Vec::<String>::new());
}

#[test]
fn a_data_directory_left_open_by_an_older_nuvola_is_tightened() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // As an older nuvola left it: folder 0755, database and journal 0644.
    let first = Server::start(dir.path(), &["--data-dir", "data"], "first.log");
    assert!(first.terminate().success());
    for (path, mode) in [
        (data.clone(), 0o755),
        (data.join("sim"), 0o755),
        (data.join("nuvola.sqlite"), 0o644),
        (data.join("sim/cloudveneto.journal"), 0o644),
    ] {
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
    }
    let server = Server::start(dir.path(), &["--data-dir", "data"], "second.log");
    assert_eq!(open_to_others(&data), Vec::<String>::new());
    let log = server.log_text();
    assert!(log.contains("tightened"), "{log}");
    assert!(server.terminate().success());
}
