//! `relying-party-demo`: serve the passwordless demo site.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::Parser;
use relying_party_demo::{router, AppState, Config, SqliteStore, Store, SystemClock};
use url::Url;

#[derive(Debug, Parser)]
#[command(
    version,
    about = "palmkey relying-party demo: usernameless passkey sign-in"
)]
struct Args {
    /// Address to serve HTTP on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Origin browsers use to reach the site (must match clientDataJSON exactly).
    #[arg(long, default_value = "http://localhost:8080")]
    origin: Url,
    /// WebAuthn RP ID: the origin's host or a registrable suffix of it.
    #[arg(long, default_value = "localhost")]
    rp_id: String,
    /// Name shown by authenticators during registration.
    #[arg(long, default_value = "palmkey demo shop")]
    rp_name: String,
    /// Folder of the embedded SQLite database.
    #[arg(long, default_value = "relying-party-data")]
    data_dir: PathBuf,
}

/// How often expired sessions and challenges are swept out.
const PURGE_EVERY: std::time::Duration = std::time::Duration::from_secs(60);

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let config = Config {
        listen: args.listen,
        origin: args.origin,
        rp_id: args.rp_id,
        rp_name: args.rp_name,
        data_dir: args.data_dir,
        ..Config::default()
    };
    let store: Arc<dyn Store> = Arc::new(
        SqliteStore::open_in(&config.data_dir)
            .with_context(|| format!("opening the store in {}", config.data_dir.display()))?,
    );
    let state = AppState::new(config.clone(), Arc::clone(&store), Arc::new(SystemClock))?;

    let purge_store = Arc::clone(&store);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(PURGE_EVERY);
        loop {
            tick.tick().await;
            if let Err(error) = purge_store.purge_expired(time::OffsetDateTime::now_utc()) {
                tracing::warn!(%error, "purging expired sessions failed");
            }
        }
    });

    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("binding {}", config.listen))?;
    println!(
        "relying-party-demo listening on {} (origin {}, RP ID {})",
        listener.local_addr()?,
        config.origin.origin().ascii_serialization(),
        config.rp_id
    );
    axum::serve(
        listener,
        router(state).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown_signal())
    .await
    .context("serving HTTP")?;
    Ok(())
}

/// SIGINT (Ctrl-C) or SIGTERM: finish in-flight requests, then stop.
async fn shutdown_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = interrupt => {}
        () = terminate => {}
    }
    tracing::info!("shutting down");
}
