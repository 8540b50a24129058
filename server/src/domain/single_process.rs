//! One process per SQLite database. Each process keeps caches (tenant keys, API keys, custom
//! field definitions) that another process's changes only reach through Redis, and SQLite
//! lets one writer in at a time, so a second process on the same file would serve stale
//! answers. The first process holds an OS lock on `<database>.lock` for its whole life; a
//! second one is refused at start with a message naming the holder.
//!
//! Within one process the lock is shared: every `Store` on the same file (a restarted app in
//! the tests, a store of a background job) takes a reference, and the file is unlocked when
//! the last one goes.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use anyhow::{Context, bail};

/// Locked files of this process, with how many `Store`s share each.
static HELD: Mutex<BTreeMap<PathBuf, (File, usize)>> = Mutex::new(BTreeMap::new());

/// This process's share of the lock on one database file.
#[derive(Debug)]
pub(crate) struct DatabaseLock {
    path: PathBuf,
}

impl DatabaseLock {
    /// Takes (or shares, within this process) the lock beside `database`.
    pub(crate) fn acquire(database: &Path) -> anyhow::Result<Self> {
        let path = lock_path(database)?;
        let mut held = HELD.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((_, holders)) = held.get_mut(&path) {
            *holders += 1;
            return Ok(Self { path });
        }
        let mut file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&path)
            .with_context(|| format!("Failed to open the lock file {}", path.display()))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                let holder = match holder.trim() {
                    "" => String::new(),
                    pid => format!(" (pid {pid})"),
                };
                bail!(
                    "another Dossier process{holder} is using the SQLite database {}: one process at a time \
                     may use an embedded database (stop the other one first, or use PostgreSQL to run \
                     several); the lock is {}",
                    database.display(),
                    path.display()
                );
            }
            Err(TryLockError::Error(e)) => {
                return Err(e).with_context(|| format!("Failed to lock {}", path.display()));
            }
        }
        // Only for the message a refused process prints; the OS lock is what counts.
        let _ = file
            .set_len(0)
            .and_then(|()| file.rewind())
            .and_then(|()| writeln!(file, "{}", std::process::id()));
        held.insert(path.clone(), (file, 1));
        Ok(Self { path })
    }
}

impl Drop for DatabaseLock {
    fn drop(&mut self) {
        let mut held = HELD.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((_, holders)) = held.get_mut(&self.path) {
            *holders -= 1;
            if *holders == 0 {
                // Closing the file releases the OS lock.
                held.remove(&self.path);
            }
        }
    }
}

/// `<database>.lock`, with the directory made absolute so that two spellings of one path
/// share one lock in this process.
fn lock_path(database: &Path) -> anyhow::Result<PathBuf> {
    let file_name = database
        .file_name()
        .with_context(|| format!("{} names no database file", database.display()))?;
    let dir = match database.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let dir = dir
        .canonicalize()
        .with_context(|| format!("Failed to find the database directory {}", dir.display()))?;
    let mut name = file_name.to_owned();
    name.push(".lock");
    Ok(dir.join(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stores_of_one_process_share_the_lock_and_the_last_one_releases_it() {
        let dir = std::env::temp_dir().join(format!("dossier-lock-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        let database = dir.join("dossier.db");
        let first = DatabaseLock::acquire(&database).unwrap();
        let second = DatabaseLock::acquire(&dir.join(".").join("dossier.db")).unwrap();
        let lock_file = dir.join("dossier.db.lock");
        assert_eq!(
            std::fs::read_to_string(&lock_file).unwrap().trim(),
            std::process::id().to_string()
        );
        // Another open file description stands for another process here.
        let other = File::open(&lock_file).unwrap();
        assert!(matches!(other.try_lock(), Err(TryLockError::WouldBlock)));
        drop(first);
        assert!(
            matches!(other.try_lock(), Err(TryLockError::WouldBlock)),
            "one store still holds it"
        );
        drop(second);
        assert!(other.try_lock().is_ok(), "released with the last store");
        std::fs::remove_dir_all(&dir).ok();
    }
}
