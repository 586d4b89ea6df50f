//! `relying-party-demo`: serve the passwordless demo shop, or (`demo`) run the end-to-end
//! palm demo against it first.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use clap::{Parser, Subcommand};
use palmkey::sensor::sim::SimConfig;
use relying_party_demo::demo::{cast, Scenario};
use relying_party_demo::terminal::Terminal;
use relying_party_demo::{router, AppState, Config, SqliteStore, Store, SystemClock};
use url::Url;

#[derive(Debug, Parser)]
#[command(
    version,
    about = "palmkey relying-party demo: usernameless passkey sign-in, web shop and in-store palm payment"
)]
struct Cli {
    /// Address to serve HTTP on.
    #[arg(long, global = true, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Origin browsers use to reach the site (must match clientDataJSON exactly).
    #[arg(long, global = true, default_value = "http://localhost:8080")]
    origin: Url,
    /// WebAuthn RP ID: the origin's host or a registrable suffix of it.
    #[arg(long, global = true, default_value = "localhost")]
    rp_id: String,
    /// Name shown by authenticators during registration.
    #[arg(long, global = true, default_value = "palmkey demo shop")]
    rp_name: String,
    /// Folder of the embedded SQLite database (`demo`: also the terminal's state; default a
    /// fresh temporary folder).
    #[arg(long, global = true)]
    data_dir: Option<PathBuf>,
    /// Seconds a registration, sign-in or payment challenge may be answered.
    #[arg(long, global = true, default_value_t = 300)]
    challenge_ttl: u32,
    /// Ceremony requests (start + finish) one client address may make per minute.
    #[arg(long, global = true, default_value_t = 60)]
    ceremony_rate_limit: u32,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// The end-to-end demo: a simulated palm terminal (palmkey with its simulated sensor) and
    /// this site; synthetic people enroll, register, sign in and pay in store by palm; a table
    /// of what happened; then it keeps serving (and exposes the terminal over /dev/uhid where
    /// usable) until Ctrl-C.
    Demo {
        /// Print the table and exit (status 1 if a step did not end as it must).
        #[arg(long)]
        no_serve: bool,
        /// Do not try /dev/uhid.
        #[arg(long)]
        no_uhid: bool,
    },
}

/// How often expired sessions and challenges are swept out.
const PURGE_EVERY: std::time::Duration = std::time::Duration::from_secs(60);
/// The terminal administrator's PIN on the demo's fresh simulated terminal.
const DEMO_ADMIN_PIN: &str = "602214";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,relying_party_demo=warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    match cli.command {
        None => {
            let data_dir = cli
                .data_dir
                .clone()
                .unwrap_or_else(|| PathBuf::from("relying-party-data"));
            let (state, store) = app(&cli, &data_dir)?;
            serve(state, store).await
        }
        Some(Command::Demo { no_serve, no_uhid }) => demo(&cli, no_serve, no_uhid).await,
    }
}

fn app(cli: &Cli, data_dir: &Path) -> anyhow::Result<(AppState, Arc<dyn Store>)> {
    let config = Config {
        listen: cli.listen,
        origin: cli.origin.clone(),
        rp_id: cli.rp_id.clone(),
        rp_name: cli.rp_name.clone(),
        data_dir: data_dir.to_owned(),
        challenge_ttl: time::Duration::seconds(i64::from(cli.challenge_ttl)),
        ceremony_rate_limit: cli.ceremony_rate_limit,
        ..Config::default()
    };
    let store: Arc<dyn Store> = Arc::new(
        SqliteStore::open_in(&config.data_dir)
            .with_context(|| format!("opening the store in {}", config.data_dir.display()))?,
    );
    let state = AppState::new(config, Arc::clone(&store), Arc::new(SystemClock))?;
    Ok((state, store))
}

async fn bind(state: &AppState) -> anyhow::Result<tokio::net::TcpListener> {
    let listen = state.config.listen;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("binding {listen}"))?;
    println!(
        "relying-party-demo listening on {} (origin {}, RP ID {})",
        listener.local_addr()?,
        state.config.origin.origin().ascii_serialization(),
        state.config.rp_id
    );
    Ok(listener)
}

async fn serve(state: AppState, store: Arc<dyn Store>) -> anyhow::Result<()> {
    let listener = bind(&state).await?;
    serve_on(listener, state, store).await
}

async fn serve_on(
    listener: tokio::net::TcpListener,
    state: AppState,
    store: Arc<dyn Store>,
) -> anyhow::Result<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(PURGE_EVERY);
        loop {
            tick.tick().await;
            if let Err(error) = store.purge_expired(time::OffsetDateTime::now_utc()) {
                tracing::warn!(%error, "purging expired sessions failed");
            }
        }
    });
    axum::serve(
        listener,
        router(state).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown_signal())
    .await
    .context("serving HTTP")
}

async fn demo(cli: &Cli, no_serve: bool, no_uhid: bool) -> anyhow::Result<()> {
    let work = match &cli.data_dir {
        Some(dir) => dir.clone(),
        None => std::env::temp_dir().join(format!("palmkey-demo-{}", std::process::id())),
    };
    let terminal_state = work.join("terminal");
    std::fs::create_dir_all(&terminal_state)
        .with_context(|| format!("creating {}", terminal_state.display()))?;
    println!("palmkey end-to-end demo (state in {})", work.display());

    let started = Instant::now();
    let terminal = Terminal::start_palm(
        &terminal_state,
        &work.join("terminal-master.key"),
        SimConfig::default(),
    )
    .context("starting the simulated palm terminal")?;
    println!(
        "simulated palm terminal (palmkey, simulated sensor, palm UV) on CTAPHID/UDP {} ({:.0} ms)",
        terminal.addr(),
        started.elapsed().as_secs_f64() * 1e3
    );
    let (state, store) = app(cli, &work.join("site"))?;
    let listener = bind(&state).await?;
    let base = format!("http://{}", listener.local_addr()?);
    let origin = state.config.origin.origin().ascii_serialization();
    let server = tokio::spawn(serve_on(listener, state, store));

    let people = cast();
    let first_person = people.first().map(|p| p.name.clone()).unwrap_or_default();
    println!(
        "{} synthetic people enroll, register, sign in and pay in store; the CTAP client acts as the browser\n",
        people.len()
    );
    let (terminal, report) = tokio::task::spawn_blocking(move || {
        let scenario = Scenario {
            terminal: &terminal,
            base,
            origin,
            admin_pin: DEMO_ADMIN_PIN.into(),
            first_member_no: 1001,
        };
        let report = scenario.run(&people);
        (terminal, report)
    })
    .await
    .context("demo thread")?;
    let report = report.context("running the demo")?;
    println!("{}", report.table());
    let ok = report.all_as_expected();
    println!(
        "{}",
        if ok {
            "every step ended as it must."
        } else {
            "SOME STEPS DID NOT END AS THEY MUST (rows marked NO)."
        }
    );
    if no_serve {
        server.abort();
        drop(terminal);
        anyhow::ensure!(ok, "demo steps failed");
        return Ok(());
    }
    let mut terminal = terminal;
    if no_uhid {
        println!("(/dev/uhid not tried: --no-uhid)");
    } else {
        match terminal.expose_uhid() {
            Ok(()) => println!(
                "the terminal is also a USB security key now (/dev/uhid): open {} in a browser here and sign in; the simulated sensor shows {}'s palm",
                cli.origin,
                first_person
            ),
            Err(e) => println!("no real-browser device: {e}"),
        }
    }
    println!(
        "serving {} (listening on {}); Ctrl-C stops",
        cli.origin, cli.listen
    );
    let served = server.await.context("server task")?;
    drop(terminal);
    served
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
