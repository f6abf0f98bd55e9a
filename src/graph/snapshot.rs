//! Read-only snapshots of the store for `cbrrel serve`, published after each load.
//!
//! Oxigraph (RocksDB) gives no guarantee to a process that opens a store read-only while
//! another process writes it, so the server never opens the live store. After a load (or a
//! retraction, a rebuild) the pipeline calls [`publish`]: `Store::backup` writes a RocksDB
//! checkpoint — hard links to the immutable SST files plus a copy of the small live files, so
//! it is cheap whatever the store's size — into `<store>.snapshots/<UTC time>`, and then the
//! pointer file `<store>.snapshots/CURRENT` is replaced atomically ([`crate::atomic::write`])
//! with that folder's name. A reader calls [`current`] (one small read) and reopens when the
//! name changed; a snapshot is never written after its pointer names it.
//!
//! Publishing keeps the current snapshot and the one before it (a server still answering on
//! the previous one finishes its requests there) and deletes older ones. A crash before the
//! pointer is replaced leaves an unreferenced folder, deleted by the next publish.

use std::path::{Path, PathBuf};

use oxigraph::store::Store;

use super::GraphError;

/// The pointer file's name inside the snapshots folder.
pub const POINTER: &str = "CURRENT";

/// The folder that holds the snapshots of the store at `store_dir`: `<store_dir>.snapshots`,
/// beside the store (the same file system, so the checkpoint hard-links).
pub fn snapshots_dir(store_dir: &Path) -> PathBuf {
    let mut name = store_dir
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_else(|| "store".into());
    name.push(".snapshots");
    store_dir.with_file_name(name)
}

/// The snapshot the pointer names, if there is one and it exists.
pub fn current(store_dir: &Path) -> Option<PathBuf> {
    let dir = snapshots_dir(store_dir);
    let name = std::fs::read_to_string(dir.join(POINTER)).ok()?;
    let name = name.trim();
    if name.is_empty() || name.contains('/') || name.starts_with('.') {
        return None;
    }
    let path = dir.join(name);
    path.is_dir().then_some(path)
}

/// Publish a snapshot of `store` (the open store at `store_dir`, after a write) and point
/// readers at it. Returns the snapshot's folder.
pub fn publish(store: &Store, store_dir: &Path) -> Result<PathBuf, GraphError> {
    let dir = snapshots_dir(store_dir);
    std::fs::create_dir_all(&dir)?;
    let previous = current(store_dir);
    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%S%.9fZ").to_string();
    let mut name = stamp.clone();
    let mut n = 1;
    while dir.join(&name).exists() {
        n += 1;
        name = format!("{stamp}-{n}");
    }
    let target = dir.join(&name);
    // RocksDB's checkpoint: flushes the memtable, hard-links the SST files, copies the rest.
    store.flush()?;
    store.backup(&target)?;
    crate::atomic::write(&dir.join(POINTER), format!("{name}\n").as_bytes())
        .map_err(|e| GraphError::Output(e.source))?;
    // Keep the new one and the one before it; delete the rest (and leftovers of a crash).
    let keep: Vec<PathBuf> = [Some(target.clone()), previous]
        .into_iter()
        .flatten()
        .collect();
    for entry in std::fs::read_dir(&dir)? {
        let path = entry?.path();
        let hidden = path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with('.'));
        if path.is_dir() && !hidden && !keep.contains(&path) {
            if let Err(e) = std::fs::remove_dir_all(&path) {
                tracing::warn!("could not delete the old snapshot {}: {e}", path.display());
            }
        }
    }
    Ok(target)
}

/// [`publish`] for a store that is not open: opens it for writing (so not while another
/// process writes it: [`GraphError::Locked`]), publishes, closes it.
pub fn publish_dir(store_dir: &Path) -> Result<PathBuf, GraphError> {
    if !store_dir.exists() {
        return Err(GraphError::NoStore(store_dir.to_owned()));
    }
    let store = super::store::open_store(store_dir)?;
    publish(&store, store_dir)
}

#[cfg(test)]
mod tests {
    use super::*;
    use oxigraph::model::{GraphNameRef, NamedNode, QuadRef};

    fn node(i: usize) -> NamedNode {
        NamedNode::new(format!("http://example.org/n{i}")).unwrap()
    }

    #[test]
    fn publish_points_at_a_readable_copy_and_keeps_two() {
        let tmp = tempfile::tempdir().unwrap();
        let store_dir = tmp.path().join("store");
        assert_eq!(current(&store_dir), None);
        let store = Store::open(&store_dir).unwrap();
        let p = node(0);
        let mut published = Vec::new();
        for i in 1..=3 {
            store
                .insert(QuadRef::new(
                    &node(i),
                    &p,
                    &node(i),
                    GraphNameRef::DefaultGraph,
                ))
                .unwrap();
            let snap = publish(&store, &store_dir).unwrap();
            assert_eq!(current(&store_dir).as_deref(), Some(snap.as_path()));
            // The snapshot holds what the store held when it was published, and stays so.
            let read = Store::open_read_only(&snap).unwrap();
            assert_eq!(read.len().unwrap(), i);
            published.push(snap);
        }
        store
            .insert(QuadRef::new(
                &node(9),
                &p,
                &node(9),
                GraphNameRef::DefaultGraph,
            ))
            .unwrap();
        assert_eq!(
            Store::open_read_only(&published[2]).unwrap().len().unwrap(),
            3
        );
        // The first is gone, the previous and the current remain.
        assert!(!published[0].exists());
        assert!(published[1].exists() && published[2].exists());
        assert_eq!(
            snapshots_dir(&store_dir),
            tmp.path().join("store.snapshots")
        );
    }
}
