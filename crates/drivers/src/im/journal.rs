//! The IM driver's memory of which infrastructure serves which attempt:
//! one JSON line per change in `<state_dir>/<provider>.jsonl`, each synced
//! to disk before the call that made it returns. Without a folder the map
//! lives in memory only, and lookups fall back to asking IM (see `im.rs`).
//! A torn last line (a crash mid-write) is ignored on reading.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use crate::private_files::{private_dir, private_file};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
enum Line {
    Intent { attempt: String },
    Created { attempt: String, infra: String },
    Gone { attempt: String },
}

#[derive(Debug, Default)]
struct Map {
    intents: BTreeSet<String>,
    infra: BTreeMap<String, String>,
    gone: BTreeSet<String>,
}

impl Map {
    fn apply(&mut self, line: &Line) {
        match line {
            Line::Intent { attempt } => {
                self.gone.remove(attempt);
                self.intents.insert(attempt.clone());
            }
            Line::Created { attempt, infra } => {
                self.gone.remove(attempt);
                self.infra.insert(attempt.clone(), infra.clone());
            }
            Line::Gone { attempt } => {
                self.infra.remove(attempt);
                self.gone.insert(attempt.clone());
            }
        }
    }
}

/// Attempt → infrastructure id, durable when given a folder.
#[derive(Debug)]
pub(super) struct Journal {
    durable: bool,
    state: Mutex<(Map, Option<File>)>,
}

impl Journal {
    /// Replays `<dir>/<provider>.jsonl` (if `dir`), ready for appends.
    pub fn open(dir: Option<&Path>, provider: &str) -> std::io::Result<Journal> {
        let mut map = Map::default();
        let Some(dir) = dir else {
            return Ok(Journal { durable: false, state: Mutex::new((map, None)) });
        };
        if provider.is_empty() || provider.contains(['/', '\\']) || provider.starts_with('.') {
            return Err(std::io::Error::other(format!("provider name {provider:?} cannot name a journal file")));
        }
        private_dir(dir)?;
        let path = dir.join(format!("{provider}.jsonl"));
        if let Ok(file) = File::open(&path) {
            for line in BufReader::new(file).lines() {
                let line = line?;
                // A torn last line is the only damage a crash can cause.
                if let Ok(parsed) = serde_json::from_str::<Line>(&line) {
                    map.apply(&parsed);
                }
            }
        }
        // Cut a torn last line so that the next append starts a fresh one.
        let bytes = std::fs::read(&path).unwrap_or_default();
        let whole = bytes.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
        let file = private_file(OpenOptions::new().create(true).append(true), &path)?;
        if whole < bytes.len() {
            file.set_len(whole as u64)?;
        }
        Ok(Journal { durable: true, state: Mutex::new((map, Some(file))) })
    }

    fn write(&self, line: Line) -> std::io::Result<()> {
        let mut guard = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let (map, file) = &mut *guard;
        if let Some(file) = file {
            let mut text = serde_json::to_string(&line).map_err(std::io::Error::other)?;
            text.push('\n');
            file.write_all(text.as_bytes())?;
            file.sync_data()?;
        }
        map.apply(&line);
        Ok(())
    }

    /// Records that a create of `attempt` is about to be sent to IM.
    pub fn intent(&self, attempt: &str) -> std::io::Result<()> {
        if self.may_exist(attempt) && !self.is_gone(attempt) {
            return Ok(());
        }
        self.write(Line::Intent { attempt: attempt.into() })
    }

    /// Whether IM may hold something for `attempt` that the journal does
    /// not name: always without a file (nothing is known), else only after
    /// an intent.
    pub fn may_exist(&self, attempt: &str) -> bool {
        !self.durable || self.state.lock().unwrap_or_else(|p| p.into_inner()).0.intents.contains(attempt)
    }

    /// Records that `infra` serves `attempt`.
    pub fn created(&self, attempt: &str, infra: &str) -> std::io::Result<()> {
        if self.infra_of(attempt).as_deref() == Some(infra) {
            return Ok(());
        }
        self.write(Line::Created { attempt: attempt.into(), infra: infra.into() })
    }

    /// Records that `attempt` holds nothing any more.
    pub fn gone(&self, attempt: &str) -> std::io::Result<()> {
        if self.is_gone(attempt) {
            return Ok(());
        }
        self.write(Line::Gone { attempt: attempt.into() })
    }

    /// The infrastructure serving `attempt`, if recorded.
    pub fn infra_of(&self, attempt: &str) -> Option<String> {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).0.infra.get(attempt).cloned()
    }

    /// Whether `attempt` was deleted.
    pub fn is_gone(&self, attempt: &str) -> bool {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).0.gone.contains(attempt)
    }

    /// Every infrastructure recorded for some attempt.
    pub fn known_infras(&self) -> BTreeSet<String> {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).0.infra.values().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn the_journal_and_its_folder_are_private() {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("im");
        let j = Journal::open(Some(&state), "im1").unwrap();
        j.created("a1", "i1").unwrap();
        assert_eq!((mode(&state), mode(&state.join("im1.jsonl"))), (0o700, 0o600));
        // Left wider by an older nuvola: tightened on open.
        std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::set_permissions(state.join("im1.jsonl"), std::fs::Permissions::from_mode(0o644)).unwrap();
        drop(j);
        let _j = Journal::open(Some(&state), "im1").unwrap();
        assert_eq!((mode(&state), mode(&state.join("im1.jsonl"))), (0o700, 0o600));
    }

    #[test]
    fn replays_and_ignores_a_torn_line() {
        let dir = tempfile::tempdir().unwrap();
        {
            let j = Journal::open(Some(dir.path()), "im1").unwrap();
            j.created("a1", "i1").unwrap();
            j.created("a2", "i2").unwrap();
            j.gone("a1").unwrap();
        }
        let path = dir.path().join("im1.jsonl");
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(b"{\"event\":\"created\",\"attem").unwrap();
        let j = Journal::open(Some(dir.path()), "im1").unwrap();
        j.created("a3", "i3").unwrap();
        let j = Journal::open(Some(dir.path()), "im1").unwrap();
        assert_eq!(j.infra_of("a3").as_deref(), Some("i3"));
        assert_eq!(j.infra_of("a1"), None);
        assert!(j.is_gone("a1"));
        assert_eq!(j.infra_of("a2").as_deref(), Some("i2"));
    }
}
