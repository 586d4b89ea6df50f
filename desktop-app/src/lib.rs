//! palmkey desktop companion (Tauri 2): the app an administrator opens on a shared terminal
//! to run a palm authenticator — device, PIN, enrollment of people by member ID, credentials,
//! reset, idle lock and audit log. A plain CTAP 2.1 client of the authenticator.
//!
//! - [`terminal`]: the command layer, plain Rust, testable without a window.
//! - [`commands`]: thin `#[tauri::command]` wrappers.
//! - `ui/`: static HTML/CSS/JS (no build step).

pub mod commands;
pub mod terminal;

use std::net::SocketAddr;
use std::path::PathBuf;

use tauri::Manager;
use terminal::{Terminal, TerminalConfig};

/// Where the app keeps its audit log and records: `$PALMKEY_DESKTOP_DATA`, else the
/// platform's app data folder.
fn data_dir(app: &tauri::App) -> anyhow::Result<PathBuf> {
    if let Some(dir) = std::env::var_os("PALMKEY_DESKTOP_DATA") {
        return Ok(PathBuf::from(dir));
    }
    Ok(app.path().app_data_dir()?)
}

/// Simulator addresses to discover: `$PALMKEY_DESKTOP_SIMULATORS` (comma separated), else
/// the default `127.0.0.1:8111`.
fn simulators() -> anyhow::Result<Option<Vec<SocketAddr>>> {
    match std::env::var("PALMKEY_DESKTOP_SIMULATORS") {
        Ok(list) => Ok(Some(
            list.split(',')
                .filter(|s| !s.trim().is_empty())
                .map(|s| s.trim().parse())
                .collect::<Result<_, _>>()?,
        )),
        Err(_) => Ok(None),
    }
}

pub fn run() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "palmkey_desktop=info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    tauri::Builder::default()
        .setup(|app| {
            let mut config = TerminalConfig::new(data_dir(app)?);
            if let Some(sims) = simulators()? {
                config.simulators = sims;
            }
            tracing::info!(data = %config.data_dir.display(), "palmkey desktop starting");
            app.manage(Terminal::open(config)?);
            Ok(())
        })
        .invoke_handler(commands::handler())
        .run(tauri::generate_context!())?;
    Ok(())
}
