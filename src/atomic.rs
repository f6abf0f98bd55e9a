//! Atomic file replacement, the one way every stage writes its output files (splits, run
//! configs, Parquet tables, shards, plans, summaries, exports, weights).
//!
//! A temporary file in the target's own folder (a rename is atomic only within one file
//! system), written, made an ordinary 0644 file (tempfile creates 0600), fsynced, renamed over
//! the target, and then the folder fsynced so the rename itself survives a power cut. A crash
//! at any point leaves the old file or the new one, never half of one; a leftover temporary
//! (`.tmp*`) is ignored by every reader and overwritten by the next run.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Writing `path` failed.
#[derive(Debug, thiserror::Error)]
#[error("writing {}: {source}", path.display())]
pub struct WriteError {
    pub path: PathBuf,
    #[source]
    pub source: std::io::Error,
}

/// Replace `path` with `bytes`.
pub fn write(path: &Path, bytes: &[u8]) -> Result<(), WriteError> {
    write_with(path, |file| file.write_all(bytes)).map_err(|source| WriteError {
        path: path.to_owned(),
        source,
    })
}

/// Replace `path` with what `fill` writes into the (empty, temporary) file it is given. `fill`'s
/// error type only has to take an I/O error: a Parquet or CSV writer's error passes through.
pub fn write_with<E: From<std::io::Error>>(
    path: &Path,
    fill: impl FnOnce(&mut File) -> Result<(), E>,
) -> Result<(), E> {
    let dir = folder_of(path);
    std::fs::create_dir_all(dir)?;
    let mut tmp = tempfile::Builder::new().prefix(".tmp").tempfile_in(dir)?;
    fill(tmp.as_file_mut())?;
    Ok(finish(tmp, path)?)
}

/// Like [`write_with`], for writers that take a path rather than a file (libtorch's
/// safetensors writer): `fill` writes the temporary path, which is then synced and renamed.
pub fn write_via_path<E: From<std::io::Error>>(
    path: &Path,
    fill: impl FnOnce(&Path) -> Result<(), E>,
) -> Result<(), E> {
    let dir = folder_of(path);
    std::fs::create_dir_all(dir)?;
    let tmp = tempfile::Builder::new().prefix(".tmp").tempfile_in(dir)?;
    fill(tmp.path())?;
    // The writer may have replaced the file at that path: sync what is there now.
    let written = File::open(tmp.path())?;
    written.sync_all()?;
    Ok(finish(tmp, path)?)
}

fn folder_of(path: &Path) -> &Path {
    path.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

fn finish(tmp: tempfile::NamedTempFile, path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o644))?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    // The rename is durable only once the folder's entry is on disk.
    File::open(folder_of(path))?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn a_file_is_replaced_whole_with_ordinary_permissions_and_no_leftovers() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/out.json");
        write(&path, b"first").unwrap();
        write(&path, b"second").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"second");
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o644);
        let names: Vec<String> = std::fs::read_dir(dir.path().join("sub"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            names,
            vec!["out.json".to_owned()],
            "a temporary file was left behind"
        );
    }

    #[test]
    fn a_failed_fill_leaves_the_old_file_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.txt");
        write(&path, b"old").unwrap();
        let err = write_with(&path, |f| {
            f.write_all(b"half of the new")?;
            Err(std::io::Error::other("the writer failed"))
        })
        .unwrap_err();
        assert_eq!(err.to_string(), "the writer failed");
        assert_eq!(std::fs::read(&path).unwrap(), b"old");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);

        write_via_path(&path, |p| std::fs::write(p, b"via path")).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"via path");
    }
}
