//! The simulator's durable state: an append-only journal of JSON lines
//! (`<state_dir>/<provider>.journal`), one [`Event`] per line, fsync'd
//! before a call that changed something returns.
//!
//! Lines are tagged by `event`: `header {version, provider}` (first line
//! after compaction), `attempt {attempt_id, deployment_id, project,
//! created_ms, failure?, nodes}` (an upsert: later ones change `nodes`),
//! `created {attempt_id, id, kind, name, node, index, ready_ms, usage?,
//! address?, flavor?, changing?}`, `removed {attempt_id, id}` (scale
//! down), `changed {attempt_id, id, flavor, usage, ready_ms}` (a server
//! resized, a volume grown), `deleting
//! {attempt_id, started_ms, gone_ms}` and `gone {attempt_id}`. Times are
//! milliseconds since the Unix epoch; states (`BUILD`, `ACTIVE`...) are
//! derived from them, never stored.
//!
//! On open the journal is replayed (a torn last line, left by a process
//! killed mid-write, is ignored) and rewritten as a compact snapshot through
//! a temporary file and an atomic rename.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use super::SimError;
use super::model::{Event, State};
use crate::private_files::{private_dir, private_file};

/// Journal format version written in the header line.
pub(super) const VERSION: u32 = 1;

/// The journal file of `provider` under `dir`.
pub(super) fn path_for(dir: &Path, provider: &str) -> PathBuf {
    dir.join(format!("{provider}.journal"))
}

/// An open journal, positioned for appending.
#[derive(Debug)]
pub(super) struct Journal {
    path: PathBuf,
    file: File,
    len: u64,
    /// Held open (and locked) while the journal is, so that a second
    /// driver on the same folder is refused instead of corrupting it; the
    /// kernel drops the lock when the process dies.
    _lock: File,
}

impl Journal {
    /// Replays the journal of `provider` under `dir` (creating the folder if
    /// needed), compacts it, and opens it for appending.
    pub(super) fn open(dir: &Path, provider: &str) -> Result<(Journal, State), SimError> {
        let io_err = |path: &Path, source| SimError::Io { path: path.to_owned(), source };
        private_dir(dir).map_err(|e| io_err(dir, e))?;
        let path = path_for(dir, provider);
        let lock_path = dir.join(format!("{provider}.journal.lock"));
        let lock = private_file(OpenOptions::new().create(true).truncate(false).write(true), &lock_path)
            .map_err(|e| io_err(&lock_path, e))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => return Err(SimError::Busy { path }),
            Err(fs::TryLockError::Error(e)) => return Err(io_err(&lock_path, e)),
        }
        let state = replay(&path, provider)?;

        let tmp = dir.join(format!("{provider}.journal.tmp"));
        let mut text = String::new();
        for event in state.snapshot(provider) {
            push_line(&mut text, &event);
        }
        let mut file = private_file(OpenOptions::new().create(true).truncate(true).write(true), &tmp)
            .map_err(|e| io_err(&tmp, e))?;
        file.write_all(text.as_bytes()).and_then(|()| file.sync_all()).map_err(|e| io_err(&tmp, e))?;
        drop(file);
        fs::rename(&tmp, &path).map_err(|e| io_err(&path, e))?;
        // Make the rename itself durable.
        File::open(dir).and_then(|d| d.sync_all()).map_err(|e| io_err(dir, e))?;

        let file = OpenOptions::new().append(true).open(&path).map_err(|e| io_err(&path, e))?;
        let len = text.len() as u64;
        Ok((Journal { path, file, len, _lock: lock }, state))
    }

    /// Appends `events` and waits until they are on disk. On failure the
    /// file is cut back to where it was, so no torn line is left behind.
    pub(super) fn append(&mut self, events: &[Event]) -> io::Result<()> {
        if events.is_empty() {
            return Ok(());
        }
        let mut text = String::new();
        for event in events {
            push_line(&mut text, event);
        }
        let written = self.file.write_all(text.as_bytes()).and_then(|()| self.file.sync_data());
        match written {
            Ok(()) => {
                self.len += text.len() as u64;
                Ok(())
            }
            Err(e) => {
                if let Err(cut) = self.file.set_len(self.len) {
                    tracing::error!(path = %self.path.display(), error = %cut,
                        "could not cut the simulator journal back after a failed write");
                }
                Err(e)
            }
        }
    }
}

fn push_line(text: &mut String, event: &Event) {
    // Serializing these plain structs cannot fail.
    let line = serde_json::to_string(event).unwrap_or_default();
    text.push_str(&line);
    text.push('\n');
}

/// Rebuilds the state recorded in the journal at `path` (empty if there is
/// no file). A last line that does not parse is a torn write and ignored;
/// any other bad line is an error naming its line number.
pub(super) fn replay(path: &Path, provider: &str) -> Result<State, SimError> {
    let bytes = match fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(State::default()),
        Err(source) => {
            return Err(SimError::Io { path: path.to_owned(), source });
        }
    };
    let lines: Vec<(usize, &[u8])> = bytes
        .split(|b| *b == b'\n')
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim_ascii()))
        .filter(|(_, l)| !l.is_empty() && !l.iter().all(|b| *b == 0))
        .collect();
    let mut state = State::default();
    for (k, (number, line)) in lines.iter().enumerate() {
        let bad = |message: String| SimError::Journal { path: path.to_owned(), line: *number, message };
        let event: Event = match serde_json::from_slice(line) {
            Ok(e) => e,
            Err(e) if k + 1 == lines.len() => {
                tracing::warn!(path = %path.display(), line = number, error = %e,
                    "ignoring a torn last line in the simulator journal");
                break;
            }
            Err(e) => return Err(bad(e.to_string())),
        };
        if let Event::Header { version, provider: p } = &event {
            if *version != VERSION {
                return Err(bad(format!("journal version {version}, this nuvola reads version {VERSION}")));
            }
            if p != provider {
                return Err(bad(format!("journal belongs to provider {p}, not {provider}")));
            }
        }
        state.apply(&event);
    }
    Ok(state)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn the_journal_its_lock_and_its_folder_are_private() {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("sim");
        let files = [path_for(&state, "site"), state.join("site.journal.lock")];
        let (journal, _) = Journal::open(&state, "site").unwrap();
        assert_eq!([mode(&state), mode(&files[0]), mode(&files[1])], [0o700, 0o600, 0o600]);
        // Left wider by an older nuvola: tightened on open.
        drop(journal);
        fs::set_permissions(&state, fs::Permissions::from_mode(0o755)).unwrap();
        for f in &files {
            fs::set_permissions(f, fs::Permissions::from_mode(0o644)).unwrap();
        }
        let _reopened = Journal::open(&state, "site").unwrap();
        assert_eq!([mode(&state), mode(&files[0]), mode(&files[1])], [0o700, 0o600, 0o600]);
    }
}
