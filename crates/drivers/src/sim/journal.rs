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
//! Several processes may share one journal (replicas of nuvola in front
//! of one simulated federation, see `SimSettings::home`): every call takes
//! an exclusive lock on `<provider>.journal.lock` for its duration, first
//! applies what other processes appended since its last call, and appends
//! its own events before letting go. A process killed mid-write leaves a
//! torn last line; the next process to take the lock cuts it off.
//!
//! On open the journal is replayed and rewritten as a compact snapshot
//! through a temporary file and an atomic rename (under the lock; other
//! processes notice the new file and replay it).

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::MetadataExt;
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
    provider: String,
    path: PathBuf,
    /// The journal file as this process last saw it (another process's
    /// compaction replaces it by a new file).
    file: File,
    inode: u64,
    /// Bytes of the file applied to this process's state.
    len: u64,
    /// Locked for the duration of each call.
    lock: File,
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
        lock.lock().map_err(|e| io_err(&lock_path, e))?;
        let opened = Self::compact(dir, &path, provider);
        let _ = lock.unlock();
        let (file, inode, len, state) = opened?;
        Ok((Journal { provider: provider.to_owned(), path, file, inode, len, lock }, state))
    }

    /// Rewrites the journal at `path` as a snapshot of its state (the lock
    /// is held) and opens the new file for appending.
    fn compact(dir: &Path, path: &Path, provider: &str) -> Result<(File, u64, u64, State), SimError> {
        let io_err = |path: &Path, source| SimError::Io { path: path.to_owned(), source };
        let state = replay(path, provider)?;
        let tmp = dir.join(format!("{provider}.journal.tmp"));
        let mut text = String::new();
        for event in state.snapshot(provider) {
            push_line(&mut text, &event);
        }
        let mut file = private_file(OpenOptions::new().create(true).truncate(true).write(true), &tmp)
            .map_err(|e| io_err(&tmp, e))?;
        file.write_all(text.as_bytes()).and_then(|()| file.sync_all()).map_err(|e| io_err(&tmp, e))?;
        drop(file);
        fs::rename(&tmp, path).map_err(|e| io_err(path, e))?;
        // Make the rename itself durable.
        File::open(dir).and_then(|d| d.sync_all()).map_err(|e| io_err(dir, e))?;
        let file = OpenOptions::new().append(true).read(true).open(path).map_err(|e| io_err(path, e))?;
        let inode = file.metadata().map_err(|e| io_err(path, e))?.ino();
        Ok((file, inode, text.len() as u64, state))
    }

    /// Takes the journal's lock (waiting for other processes' calls) and
    /// brings `state` up to date with what they appended.
    pub(super) fn enter(&mut self, state: &mut State) -> Result<(), SimError> {
        let io_err = |path: &Path, source| SimError::Io { path: path.to_owned(), source };
        self.lock.lock().map_err(|e| io_err(&self.path, e))?;
        let caught_up = self.catch_up(state);
        if caught_up.is_err() {
            self.leave();
        }
        caught_up
    }

    /// Lets other processes' calls in.
    pub(super) fn leave(&self) {
        if let Err(e) = self.lock.unlock() {
            tracing::error!(path = %self.path.display(), error = %e, "cannot unlock the simulator journal");
        }
    }

    fn catch_up(&mut self, state: &mut State) -> Result<(), SimError> {
        let io_err = |path: &Path, source| SimError::Io { path: path.to_owned(), source };
        let meta = fs::metadata(&self.path).map_err(|e| io_err(&self.path, e))?;
        if meta.ino() != self.inode || meta.len() < self.len {
            // Another process compacted it: read the new file from the start.
            cut_torn_tail(&self.path).map_err(|e| io_err(&self.path, e))?;
            *state = replay(&self.path, &self.provider)?;
            self.file =
                OpenOptions::new().append(true).read(true).open(&self.path).map_err(|e| io_err(&self.path, e))?;
            let meta = self.file.metadata().map_err(|e| io_err(&self.path, e))?;
            (self.inode, self.len) = (meta.ino(), meta.len());
            return Ok(());
        }
        if meta.len() == self.len {
            return Ok(());
        }
        let mut tail = Vec::new();
        self.file
            .seek(SeekFrom::Start(self.len))
            .and_then(|_| (&self.file).read_to_end(&mut tail))
            .map_err(|e| io_err(&self.path, e))?;
        let whole = tail.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
        if whole < tail.len() {
            tracing::warn!(path = %self.path.display(), "cutting off a torn line another process left in the simulator journal");
            self.file.set_len(self.len + whole as u64).map_err(|e| io_err(&self.path, e))?;
        }
        for line in tail[..whole].split(|b| *b == b'\n').filter(|l| !l.trim_ascii().is_empty()) {
            let event: Event = serde_json::from_slice(line).map_err(|e| SimError::Journal {
                path: self.path.clone(),
                line: 0,
                message: format!("appended by another process: {e}"),
            })?;
            state.apply(&event);
        }
        self.len += whole as u64;
        Ok(())
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

/// Cuts a last line without its newline (a writer killed mid-line) off the
/// file at `path`, if there is one.
fn cut_torn_tail(path: &Path) -> io::Result<()> {
    let bytes = match fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    let whole = bytes.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
    if whole < bytes.len() {
        OpenOptions::new().write(true).open(path)?.set_len(whole as u64)?;
    }
    Ok(())
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
