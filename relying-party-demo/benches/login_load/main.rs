//! Load benchmark of the relying party's usernameless sign-in (issue 5): complete verified
//! logins per second — page load (session + CSRF token), `/login/start`, a P-256 assertion by
//! a software authenticator, `/login/finish` (signature verified, counter persisted, session
//! rotated) — over real HTTP against the real server binary, at several concurrencies, with
//! p50/p99 latency of the finish endpoint and of the whole login, and server CPU per login.
//!
//!     cargo bench -p relying-party-demo --bench login_load -- --concurrency 1,8,32,64 --runs 3
//!
//! Each virtual user owns one pre-registered credential (a counter must only move forward,
//! so two users never share one) and one keep-alive connection.
//!
//! # What is and is not inside the timed window
//! The load generator runs on the same two cores as the server. Everything a browser and
//! the server do per login is timed — three HTTP requests, JSON, the server's store writes
//! and signature check — except the message-independent half of the authenticator's ECDSA
//! signature (nonce, `k·G`, `k⁻¹`), which each credential precomputes before every level
//! (see `soft_authenticator`); `--full-sign` turns that off. The output says which mode ran
//! and how many assertions had to be signed in full anyway.
//!
//! # Rate limiting stays on
//! The server this benchmark starts runs with its real ceremony rate limiter, raised with
//! its real flag (`--ceremony-rate-limit`, per client address and minute): every virtual
//! user connects from 127.0.0.1, so they share one limiter key. The limiter's cost is in
//! the figures; its limit is printed with them.

mod http;
mod server;
mod soft_authenticator;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context};
use clap::Parser;
use serde::Serialize;
use webauthn_rs_proto::{CreationChallengeResponse, RequestChallengeResponse};

use http::{HttpError, Tab};
use server::Server;
use soft_authenticator::SoftCredential;

#[derive(Debug, Parser)]
#[command(about = "logins per second of the relying-party demo over real HTTP")]
struct Args {
    /// Concurrent virtual users, one level after the other.
    #[arg(long, value_delimiter = ',', default_value = "1,8,32,64")]
    concurrency: Vec<usize>,
    /// Measured seconds per level.
    #[arg(long, default_value_t = 5.0)]
    seconds: f64,
    /// Repeat the whole sweep this many times; the summary reports each level's median run.
    #[arg(long, default_value_t = 1)]
    runs: usize,
    /// Worker threads of the load generator's runtime.
    #[arg(long, default_value_t = 2)]
    client_threads: usize,
    /// Benchmark an already running server at this origin (e.g. http://localhost:8080; it
    /// must allow enough ceremonies per minute) instead of starting one.
    #[arg(long)]
    url: Option<url::Url>,
    /// With --url: the server's process ID, to report its CPU time per login.
    #[arg(long)]
    server_pid: Option<u32>,
    /// Extra flags for the server this benchmark starts.
    #[arg(long = "server-arg", allow_hyphen_values = true)]
    server_args: Vec<String>,
    /// Print the results as one JSON object.
    #[arg(long)]
    json: bool,
    /// Sign each assertion in full inside the timed window (no precomputed ECDSA nonces).
    #[arg(long)]
    full_sign: bool,
    /// Passed by `cargo bench`; ignored.
    #[arg(long, hide = true)]
    bench: bool,
}

/// One level of one run.
#[derive(Debug, Clone, Serialize)]
struct Level {
    concurrency: usize,
    logins: usize,
    errors: usize,
    seconds: f64,
    logins_per_second: f64,
    finish_p50_ms: f64,
    finish_p99_ms: f64,
    login_p50_ms: f64,
    login_p99_ms: f64,
    /// Server CPU (user + system) per completed login, when the server's PID is known.
    server_cpu_us_per_login: Option<f64>,
    client_cpu_us_per_login: f64,
    /// Assertions signed in full inside the window (no precomputed nonce was left).
    full_signatures: usize,
    /// The machine's 1-minute load average when the level ended (other work on the box).
    load_average: f64,
}

/// What one virtual user measured.
#[derive(Default)]
struct WorkerResult {
    finish_us: Vec<u32>,
    login_us: Vec<u32>,
    errors: usize,
    first_error: Option<String>,
}

/// The target: where to connect and what the browser's origin is.
#[derive(Clone)]
struct Target {
    addr: SocketAddr,
    host: String,
    origin: String,
}

/// The ceremony rate limit of the server the benchmark starts (per client address and
/// minute; every virtual user is 127.0.0.1): far above what 2 cores can serve, so it never
/// refuses, while every request still goes through the limiter.
const RATE_LIMIT_PER_MINUTE: u32 = 100_000_000;

/// Nonce pools are sized for this many times the best logins/s seen so far (the warm-up,
/// signed in full, is slower than the levels); a pool that runs dry signs in full and the
/// output counts it.
const NONCE_HEADROOM: f64 = 2.0;

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    ensure!(!args.concurrency.is_empty(), "no concurrency levels");
    ensure!(args.runs >= 1, "--runs must be at least 1");
    let (server, target, server_pid) = match &args.url {
        Some(url) => {
            let addr = url
                .socket_addrs(|| None)?
                .into_iter()
                .find(|a| a.ip().is_loopback())
                .context("--url must name this machine (a loopback address)")?;
            let host = format!("{}:{}", url.host_str().unwrap_or("localhost"), addr.port());
            let origin = url.origin().ascii_serialization();
            (None, Target { addr, host, origin }, args.server_pid)
        }
        None => {
            let mut flags = vec![
                "--ceremony-rate-limit".to_owned(),
                RATE_LIMIT_PER_MINUTE.to_string(),
            ];
            flags.extend(args.server_args.iter().cloned());
            let server = Server::start(&flags)?;
            let target = Target {
                addr: server.addr,
                host: format!("localhost:{}", server.addr.port()),
                origin: server.origin.clone(),
            };
            let pid = server.pid();
            (Some(server), target, Some(pid))
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.client_threads.max(1))
        .enable_all()
        .build()?;
    let result = runtime.block_on(run(&args, &target, server_pid));
    drop(server);
    let (runs, counter_check) = result?;
    report(&args, &runs, &counter_check)
}

async fn run(
    args: &Args,
    target: &Target,
    server_pid: Option<u32>,
) -> anyhow::Result<(Vec<Vec<Level>>, String)> {
    let users = args.concurrency.iter().copied().max().unwrap_or(1);
    let started = Instant::now();
    let mut credentials = Vec::with_capacity(users);
    for i in 0..users {
        credentials.push(register(target, i).await?);
    }
    eprintln!(
        "registered {users} credentials in {:.1} s; warming up",
        started.elapsed().as_secs_f64()
    );
    let warm = Duration::from_secs_f64((args.seconds / 5.0).clamp(0.2, 1.0));
    let (warmed, returned) = level(target, credentials, users.min(8), warm, server_pid).await?;
    credentials = returned;
    let mut best_rate = warmed.logins_per_second.max(100.0);

    let mut runs = Vec::with_capacity(args.runs);
    for run in 0..args.runs {
        let mut levels = Vec::new();
        for &concurrency in &args.concurrency {
            if !args.full_sign {
                // Outside the timed window: nonces for twice the best rate seen so far.
                let per_user =
                    (best_rate * NONCE_HEADROOM * args.seconds / concurrency as f64).ceil();
                precompute(
                    &mut credentials[..concurrency.min(users)],
                    per_user as usize + 8,
                    args.client_threads,
                );
            }
            let seconds = Duration::from_secs_f64(args.seconds);
            let (measured, returned) =
                level(target, credentials, concurrency, seconds, server_pid).await?;
            best_rate = best_rate.max(measured.logins_per_second);
            credentials = returned;
            eprintln!("run {} {}", run + 1, line(&measured));
            levels.push(measured);
        }
        runs.push(levels);
    }
    let counter_check = check_counter_persisted(target, &mut credentials).await?;
    Ok((runs, counter_check))
}

/// Top every credential's nonce pool up to `count`, on `threads` threads.
fn precompute(credentials: &mut [SoftCredential], count: usize, threads: usize) {
    let per_thread = credentials.len().div_ceil(threads.max(1)).max(1);
    std::thread::scope(|scope| {
        for chunk in credentials.chunks_mut(per_thread) {
            scope.spawn(move || {
                for credential in chunk {
                    credential.precompute(count);
                }
            });
        }
    });
}

/// Register one software credential as a new account.
async fn register(target: &Target, index: usize) -> anyhow::Result<SoftCredential> {
    let mut tab = Tab::connect(target.addr, &target.host).await?;
    tab.page("/register").await?;
    let options: CreationChallengeResponse = tab
        .post_json(
            "/register/start",
            &serde_json::json!({ "display_name": format!("load user {index}") }),
        )
        .await?;
    let (credential, answer) = SoftCredential::register(&options, &target.origin)?;
    let _: serde_json::Value = tab.post_json("/register/finish", &answer).await?;
    Ok(credential)
}

/// One complete usernameless login; returns (finish, whole login) durations.
async fn login(
    tab: &mut Tab,
    credential: &mut SoftCredential,
) -> anyhow::Result<(Duration, Duration)> {
    let begin = Instant::now();
    tab.page("/login").await?;
    let options: RequestChallengeResponse = tab
        .post_json("/login/start", &serde_json::json!({}))
        .await?;
    let assertion = credential.assert(&options)?;
    let finish = Instant::now();
    let done: serde_json::Value = tab.post_json("/login/finish", &assertion).await?;
    let end = Instant::now();
    ensure!(done["ok"] == true, "finish answered {done}");
    Ok((end - finish, end - begin))
}

/// Run `concurrency` virtual users for `duration`; gives the credentials back afterwards.
async fn level(
    target: &Target,
    mut credentials: Vec<SoftCredential>,
    concurrency: usize,
    duration: Duration,
    server_pid: Option<u32>,
) -> anyhow::Result<(Level, Vec<SoftCredential>)> {
    let idle = credentials.split_off(concurrency.min(credentials.len()));
    let full_before: usize = credentials.iter().map(|c| c.full_signatures).sum();
    let server_cpu_before = server_pid.map(process_cpu).transpose()?;
    let client_cpu_before = process_cpu(std::process::id())?;
    let started = Instant::now();
    let deadline = started + duration;
    let mut tasks = Vec::with_capacity(concurrency);
    for mut credential in credentials {
        let target = target.clone();
        tasks.push(tokio::spawn(async move {
            let mut result = WorkerResult::default();
            let mut tab = Tab::connect(target.addr, &target.host).await;
            while Instant::now() < deadline {
                let outcome = match tab.as_mut() {
                    Ok(tab) => login(tab, &mut credential).await,
                    Err(e) => Err(anyhow::anyhow!("{e:#}")),
                };
                match outcome {
                    Ok((finish, whole)) => {
                        result.finish_us.push(micros(finish));
                        result.login_us.push(micros(whole));
                    }
                    Err(error) => {
                        result.errors += 1;
                        result
                            .first_error
                            .get_or_insert_with(|| format!("{error:#}"));
                        // A fresh connection and session for the next attempt.
                        tab = Tab::connect(target.addr, &target.host).await;
                    }
                }
            }
            (result, credential)
        }));
    }
    let mut finish_us = Vec::new();
    let mut login_us = Vec::new();
    let mut errors = 0;
    let mut first_error = None;
    let mut credentials = Vec::with_capacity(concurrency + idle.len());
    for task in tasks {
        let (result, credential) = task.await.context("virtual user panicked")?;
        finish_us.extend(result.finish_us);
        login_us.extend(result.login_us);
        errors += result.errors;
        first_error = first_error.or(result.first_error);
        credentials.push(credential);
    }
    let seconds = started.elapsed().as_secs_f64();
    let full_signatures =
        credentials.iter().map(|c| c.full_signatures).sum::<usize>() - full_before;
    credentials.extend(idle);
    if let Some(error) = &first_error {
        eprintln!("{errors} failed logins at concurrency {concurrency}; first: {error}");
    }
    let logins = login_us.len();
    let per_login = |cpu: Duration| cpu.as_secs_f64() * 1e6 / logins.max(1) as f64;
    let server_cpu = match (server_pid, server_cpu_before) {
        (Some(pid), Some(before)) => Some(per_login(process_cpu(pid)? - before)),
        _ => None,
    };
    let client_cpu = per_login(process_cpu(std::process::id())? - client_cpu_before);
    finish_us.sort_unstable();
    login_us.sort_unstable();
    Ok((
        Level {
            concurrency,
            logins,
            errors,
            seconds,
            logins_per_second: logins as f64 / seconds,
            finish_p50_ms: percentile(&finish_us, 0.50),
            finish_p99_ms: percentile(&finish_us, 0.99),
            login_p50_ms: percentile(&login_us, 0.50),
            login_p99_ms: percentile(&login_us, 0.99),
            server_cpu_us_per_login: server_cpu,
            client_cpu_us_per_login: client_cpu,
            full_signatures,
            load_average: load_average()?,
        },
        credentials,
    ))
}

/// The counter is persisted: an assertion that repeats a counter value the server has seen
/// must be refused as a possible clone (403), for every credential checked.
async fn check_counter_persisted(
    target: &Target,
    credentials: &mut [SoftCredential],
) -> anyhow::Result<String> {
    let checked = credentials.len().min(4);
    for credential in credentials.iter_mut().take(checked) {
        let mut tab = Tab::connect(target.addr, &target.host).await?;
        credential.rewind_counter();
        match login(&mut tab, credential).await {
            Ok(_) => bail!(
                "a repeated signature counter ({}) was accepted: the counter is not persisted",
                credential.counter()
            ),
            Err(error) => match error.downcast_ref::<HttpError>() {
                Some(e)
                    if e.status == hyper::StatusCode::FORBIDDEN && e.body.contains("counter") => {}
                _ => bail!("a repeated counter was refused for another reason: {error:#}"),
            },
        }
    }
    Ok(format!(
        "counter persisted: a repeated counter value was refused (403) for {checked} of {checked} credentials checked"
    ))
}

fn micros(d: Duration) -> u32 {
    u32::try_from(d.as_micros()).unwrap_or(u32::MAX)
}

fn percentile(sorted_us: &[u32], q: f64) -> f64 {
    if sorted_us.is_empty() {
        return f64::NAN;
    }
    let rank = ((sorted_us.len() as f64 * q).ceil() as usize).clamp(1, sorted_us.len());
    f64::from(sorted_us[rank - 1]) / 1000.0
}

/// CPU time (user + system) a process has used so far, from /proc.
fn process_cpu(pid: u32) -> anyhow::Result<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("reading /proc/{pid}/stat"))?;
    // Fields after the command name (which may hold spaces) start at field 3.
    let rest = &stat[stat.rfind(')').context("malformed /proc stat")? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = fields[11].parse::<u64>()? + fields[12].parse::<u64>()?;
    Ok(Duration::from_secs_f64(
        ticks as f64 / clock_ticks_per_second(),
    ))
}

/// The 1-minute load average, from /proc.
fn load_average() -> anyhow::Result<f64> {
    let text = std::fs::read_to_string("/proc/loadavg").context("reading /proc/loadavg")?;
    text.split_whitespace()
        .next()
        .context("empty /proc/loadavg")?
        .parse()
        .context("parsing /proc/loadavg")
}

fn clock_ticks_per_second() -> f64 {
    static TICKS: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(100.0)
    })
}

const HEADER: &str = "concurrency  logins/s  finish p50 ms  finish p99 ms  login p50 ms  login p99 ms  server CPU µs/login  client CPU µs/login  logins  errors  full signs  load avg";

fn line(l: &Level) -> String {
    format!(
        "{:>11}  {:>8.0}  {:>13.2}  {:>13.2}  {:>12.2}  {:>12.2}  {:>19}  {:>19.0}  {:>6}  {:>6}  {:>10}  {:>8.2}",
        l.concurrency,
        l.logins_per_second,
        l.finish_p50_ms,
        l.finish_p99_ms,
        l.login_p50_ms,
        l.login_p99_ms,
        l.server_cpu_us_per_login
            .map(|c| format!("{c:.0}"))
            .unwrap_or_else(|| "-".into()),
        l.client_cpu_us_per_login,
        l.logins,
        l.errors,
        l.full_signatures,
        l.load_average,
    )
}

fn signing_note(args: &Args) -> String {
    if args.full_sign {
        "client signing: every assertion signed in full (nonce, k·G, k⁻¹, s) inside the timed window".into()
    } else {
        "client signing: ECDSA nonces (r = x(k·G), k⁻¹) precomputed per credential before each level, outside the timed window; inside it each assertion costs SHA-256 + s = k⁻¹(z + r·d) (\"full signs\": assertions signed in full because the pool ran dry); --full-sign times everything".into()
    }
}

fn rate_limit_note(args: &Args) -> String {
    if args.url.is_some() {
        "rate limiting: whatever the server at --url runs with".into()
    } else {
        format!(
            "rate limiting: on, the server's limiter raised with --ceremony-rate-limit {RATE_LIMIT_PER_MINUTE} (per client address and minute; all virtual users are 127.0.0.1, one key)"
        )
    }
}

/// Per level, the run with the median logins/s.
fn medians(runs: &[Vec<Level>]) -> Vec<Level> {
    (0..runs[0].len())
        .map(|i| {
            let mut at: Vec<&Level> = runs.iter().map(|r| &r[i]).collect();
            at.sort_by(|a, b| a.logins_per_second.total_cmp(&b.logins_per_second));
            at[at.len() / 2].clone()
        })
        .collect()
}

fn report(args: &Args, runs: &[Vec<Level>], counter_check: &str) -> anyhow::Result<()> {
    let summary = medians(runs);
    let errors: usize = runs.iter().flatten().map(|l| l.errors).sum();
    if args.json {
        println!(
            "{}",
            serde_json::json!({
                "runs": runs,
                "median": summary,
                "seconds_per_level": args.seconds,
                "client_threads": args.client_threads,
                "counter_check": counter_check,
                "client_signing": signing_note(args),
                "rate_limit": rate_limit_note(args),
            })
        );
    } else {
        println!(
            "relying-party-demo usernameless logins over HTTP (page + start + finish), {} s per level, median of {} run(s)",
            args.seconds, runs.len()
        );
        println!("{HEADER}");
        for level in &summary {
            println!("{}", line(level));
        }
        println!("{counter_check}");
        println!("{}", signing_note(args));
        println!("{}", rate_limit_note(args));
    }
    ensure!(errors == 0, "{errors} logins failed");
    Ok(())
}
