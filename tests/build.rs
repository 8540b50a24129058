//! Gives the test harness a fingerprint of the migrations (`DOSSIER_MIGRATIONS_HASH`), so that
//! the migrated PostgreSQL template it clones test databases from is rebuilt under a new name
//! whenever a migration is added or changed.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::Path;

fn main() {
    let sources = Path::new(env!("CARGO_MANIFEST_DIR")).join("../migration/src");
    println!("cargo:rerun-if-changed={}", sources.display());
    let mut files: Vec<_> = std::fs::read_dir(&sources)
        .expect("the migration crate's sources")
        .map(|entry| entry.expect("a migration source").path())
        .collect();
    files.sort();
    let mut hasher = DefaultHasher::new();
    for file in files {
        file.file_name().hash(&mut hasher);
        std::fs::read(&file)
            .expect("a readable migration source")
            .hash(&mut hasher);
    }
    println!("cargo:rustc-env=DOSSIER_MIGRATIONS_HASH={:016x}", hasher.finish());
}
