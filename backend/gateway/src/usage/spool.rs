//! The durable spool: one JSON-lines file per batch that could not be written to the database. A file is
//! written under a temporary name, fsynced, then renamed, so a crash never leaves half a batch under a real
//! name. Replay inserts with "ignore existing ids" and deletes the file afterwards, so a crash between the two
//! replays the batch again without duplicating a row.

use super::UsageEvent;
use std::fs::{self, File};
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use uuid::Uuid;

/// A directory of spooled batches.
#[derive(Clone, Debug)]
pub struct Spool {
    dir: PathBuf,
}

impl Spool {
    /// Opens (creating) the spool directory.
    pub fn open(dir: &Path) -> std::io::Result<Self> {
        fs::create_dir_all(dir)?;
        Ok(Self {
            dir: dir.to_owned(),
        })
    }

    /// The directory, for logs.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Durably stores one batch.
    pub fn write(&self, events: &[UsageEvent]) -> std::io::Result<PathBuf> {
        let name = format!("{}.jsonl", Uuid::now_v7());
        let tmp = self.dir.join(format!(".{name}.tmp"));
        let mut out = BufWriter::new(File::create(&tmp)?);
        for event in events {
            serde_json::to_writer(&mut out, event)?;
            out.write_all(b"\n")?;
        }
        let file = out
            .into_inner()
            .map_err(std::io::IntoInnerError::into_error)?;
        file.sync_all()?;
        let path = self.dir.join(name);
        fs::rename(&tmp, &path)?;
        // Persist the rename itself.
        File::open(&self.dir)?.sync_all()?;
        Ok(path)
    }

    /// Spooled batch files, oldest first (names are UUIDv7, so they sort by time).
    pub fn files(&self) -> std::io::Result<Vec<PathBuf>> {
        let mut files: Vec<PathBuf> = fs::read_dir(&self.dir)?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
            .collect();
        files.sort();
        Ok(files)
    }

    /// Reads one batch file.
    pub fn read(path: &Path) -> std::io::Result<Vec<UsageEvent>> {
        let mut events = Vec::new();
        for line in BufReader::new(File::open(path)?).lines() {
            let line = line?;
            if line.trim().is_empty() {
                continue;
            }
            events.push(serde_json::from_str(&line)?);
        }
        Ok(events)
    }

    /// Moves an unreadable file aside so it neither blocks replay nor disappears.
    pub fn quarantine(&self, path: &Path) -> std::io::Result<()> {
        let bad = self.dir.join("bad");
        fs::create_dir_all(&bad)?;
        let name = path
            .file_name()
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("unknown.jsonl"));
        fs::rename(path, bad.join(name))
    }

    /// Removes a replayed file.
    pub fn remove(path: &Path) -> std::io::Result<()> {
        fs::remove_file(path)
    }
}
