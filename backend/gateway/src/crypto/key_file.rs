//! The master key file of the embedded single-node mode: created once with 32 random bytes, private to the
//! owner (mode 0600), and reused on every later start.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use rand::TryRngCore;
use rand::rngs::OsRng;
use std::io::Write;
use std::path::Path;

/// The base64 key stored at `path`, creating the file (and its directory) first if it does not exist.
pub(super) fn read_or_create(path: &Path) -> std::io::Result<String> {
    let bytes = read_or_create_private(path, || {
        let mut key = [0u8; 32];
        OsRng
            .try_fill_bytes(&mut key)
            .map_err(std::io::Error::other)?;
        let mut text = STANDARD.encode(key).into_bytes();
        text.push(b'\n');
        Ok(text)
    })?;
    String::from_utf8(bytes).map_err(std::io::Error::other)
}

/// The contents of the private file at `path`, creating it (and its directory) with `make`'s bytes first if it
/// does not exist. The file is born with mode 0600: it is never readable by others, not even for a moment.
pub fn read_or_create_private(
    path: &Path,
    make: impl FnOnce() -> std::io::Result<Vec<u8>>,
) -> std::io::Result<Vec<u8>> {
    if !path.exists() {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        create(path, &make()?)?;
    }
    let contents = std::fs::read(path)?;
    warn_if_readable_by_others(path);
    Ok(contents)
}

/// Writes `contents` to a private temporary file, then hard-links it into place: the link fails if another
/// process won the race, and nobody ever reads a half-written file.
fn create(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let written = options.open(&tmp).and_then(|mut file| {
        restrict_permissions(&file)?;
        file.write_all(contents)?;
        file.sync_all()
    });
    let linked = written.and_then(|()| match std::fs::hard_link(&tmp, path) {
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        other => other,
    });
    let removed = std::fs::remove_file(&tmp);
    linked.and(removed)
}

/// Enforces 0600 even when a stale temporary file pre-existed or a umask interfered.
#[cfg(unix)]
fn restrict_permissions(file: &std::fs::File) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    file.set_permissions(std::fs::Permissions::from_mode(0o600))
}

#[cfg(not(unix))]
fn restrict_permissions(_file: &std::fs::File) -> std::io::Result<()> {
    Ok(())
}

/// An operator may have copied the file with looser permissions; say so rather than refuse to start.
fn warn_if_readable_by_others(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(meta) = std::fs::metadata(path)
            && meta.permissions().mode() & 0o077 != 0
        {
            tracing::warn!(
                path = %path.display(),
                "master key file is readable by other users; chmod 600 it"
            );
        }
    }
    #[cfg(not(unix))]
    let _ = path;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_file_is_created_private_in_a_new_directory_and_reused() {
        let dir = std::env::temp_dir()
            .join(format!("switchyard-key-file-{}", uuid::Uuid::now_v7()))
            .join("nested");
        let path = dir.join("master.key");

        let first = read_or_create(&path).unwrap();
        let second = read_or_create(&path).unwrap();

        assert_eq!(first, second);
        assert_eq!(STANDARD.decode(first.trim()).unwrap().len(), 32);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let entries = std::fs::read_dir(&dir).unwrap().count();
        assert_eq!(entries, 1, "no temporary file is left behind");
        std::fs::remove_dir_all(dir.parent().unwrap()).unwrap();
    }
}
