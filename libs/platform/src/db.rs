//! PostgreSQL: pools, database creation, migrations.

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, Connection, PgConnection, PgPool};

use crate::config::DatabaseConfig;

/// A pool for `config`, creating the database first if it does not exist.
pub async fn connect(config: &DatabaseConfig) -> anyhow::Result<PgPool> {
    ensure_database(config.url.expose()).await?;
    let options = PgConnectOptions::from_str(config.url.expose())?
        .log_statements(tracing::log::LevelFilter::Debug)
        .log_slow_statements(tracing::log::LevelFilter::Warn, Duration::from_millis(500));
    let pool = PgPoolOptions::new()
        .max_connections(config.max_connections)
        .acquire_timeout(Duration::from_secs(5))
        // Connections a burst opened close after a minute idle (sqlx keeps
        // them 10 min): PostgreSQL's 100 connections are shared by every
        // service, the tools and `make bench`'s pgbench on one machine.
        .idle_timeout(Duration::from_secs(60))
        .connect_with(options)
        .await?;
    Ok(pool)
}

/// Creates the database named in `url` if missing (connecting to `postgres`).
pub async fn ensure_database(url: &str) -> anyhow::Result<()> {
    let options = PgConnectOptions::from_str(url)?;
    let name = options
        .get_database()
        .ok_or_else(|| anyhow::anyhow!("database url names no database"))?
        .to_owned();
    let mut admin = PgConnection::connect_with(&options.clone().database("postgres")).await?;
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
            .bind(&name)
            .fetch_one(&mut admin)
            .await?;
    if !exists {
        let sql = format!("CREATE DATABASE \"{}\"", name.replace('"', "\"\""));
        if let Err(err) = sqlx::query(&sql).execute(&mut admin).await {
            // Another process may have created it in between.
            if !matches!(&err, sqlx::Error::Database(db) if db.code().as_deref() == Some("42P04")) {
                return Err(err.into());
            }
        }
        tracing::info!(database = %name, "created database");
    }
    admin.close().await?;
    Ok(())
}

/// Drops the database named in `url` (tests clean up with it).
pub async fn drop_database(url: &str) -> anyhow::Result<()> {
    let options = PgConnectOptions::from_str(url)?;
    let name = options
        .get_database()
        .ok_or_else(|| anyhow::anyhow!("database url names no database"))?
        .to_owned();
    let mut admin = PgConnection::connect_with(&options.clone().database("postgres")).await?;
    let sql = format!(
        "DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)",
        name.replace('"', "\"\"")
    );
    sqlx::query(&sql).execute(&mut admin).await?;
    admin.close().await?;
    Ok(())
}
