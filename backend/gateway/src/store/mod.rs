//! Storage: sea-orm entities, connecting, migrating, and the repositories the rest of the crate uses.
//! Repositories write exactly what they are given; ids and timestamps come from the callers.

pub mod entities;
pub mod partitions;
pub mod repo;
pub mod reports;
pub mod rollups;
pub mod scoped;

use migration::{Migrator, MigratorTrait};
use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend};
use std::path::Path;
use std::time::Duration;

pub use repo::{Catalog as CatalogRows, Repo, SpendScope, StoreError};
pub use scoped::Scoped;

/// Opens the database, creating the SQLite file's directory when needed.
pub async fn connect(url: &str, pool_size: u32) -> Result<DatabaseConnection, StoreError> {
    if let Some(path) = sqlite_file(url)
        && let Some(dir) = Path::new(path).parent()
    {
        std::fs::create_dir_all(dir)
            .map_err(|e| StoreError::Io(format!("creating {}: {e}", dir.display())))?;
    }
    let is_sqlite = url.starts_with("sqlite:");
    let mut options = ConnectOptions::new(url.to_owned());
    options
        // SQLite serialises writers anyway; a small pool avoids "database is locked" storms.
        .max_connections(if is_sqlite {
            pool_size.min(4)
        } else {
            pool_size
        })
        .min_connections(1)
        .connect_timeout(Duration::from_secs(5))
        .acquire_timeout(Duration::from_secs(5))
        .sqlx_logging(false);
    let db = Database::connect(options).await?;
    if db.get_database_backend() == DbBackend::Sqlite {
        // WAL lets readers proceed while the usage writer inserts; busy_timeout waits instead of failing.
        db.execute_unprepared(
            "PRAGMA journal_mode=WAL; PRAGMA busy_timeout=5000; PRAGMA foreign_keys=ON;",
        )
        .await?;
    }
    Ok(db)
}

/// Applies every pending migration.
pub async fn migrate(db: &DatabaseConnection) -> Result<(), StoreError> {
    Migrator::up(db, None).await?;
    Ok(())
}

/// True when no migration is pending.
pub async fn migrations_current(db: &DatabaseConnection) -> Result<bool, StoreError> {
    Ok(Migrator::get_pending_migrations(db).await?.is_empty())
}

fn sqlite_file(url: &str) -> Option<&str> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or(rest);
    (!path.is_empty() && path != ":memory:").then_some(path)
}

#[cfg(test)]
mod tests {
    use super::sqlite_file;

    #[test]
    fn sqlite_file_path_is_read_from_the_url() {
        assert_eq!(
            sqlite_file("sqlite://./data/x.db?mode=rwc"),
            Some("./data/x.db")
        );
        assert_eq!(sqlite_file("sqlite::memory:"), None);
        assert_eq!(sqlite_file("postgres://x"), None);
    }
}
