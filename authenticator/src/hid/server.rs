//! Runs an [`Engine`] over a transport: a reader loop feeding reports and time to the state
//! machine, and a worker thread running application jobs so that keep-alives, CANCEL and
//! CHANNEL_BUSY answers keep flowing while a request waits on the user.
//!
//! The engine sits behind a mutex shared by both threads; whoever changes its state sends the
//! resulting reports before unlocking, so a response can never overtake or be overtaken by
//! a keep-alive of the same request.

use std::io;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};

use super::app::App;
use super::ctaphid::{Config, Engine, Job, Outcome, Work};
use super::packet::Report;
use super::HidError;

/// The application shared by every transport of one device.
pub type SharedApp = Arc<Mutex<dyn App>>;

/// Where reports come from. `P` identifies the sender so replies can go back to it.
pub trait ReportSource<P> {
    /// Wait up to `timeout` for one report; `Ok(None)` on timeout (or a dropped, malformed
    /// datagram).
    fn recv(&mut self, timeout: Duration) -> io::Result<Option<(P, Report)>>;
}

/// Where reports go. Shared with the worker thread.
pub trait ReportSink<P>: Send + Sync {
    fn send(&self, peer: &P, report: &Report) -> io::Result<()>;
}

/// CTAP2 status "other error", for a request the application failed on.
const CTAP2_ERR_OTHER: u8 = 0x7f;

/// Longest sleep of the reader loop, so a stop request is noticed promptly.
const STOP_POLL: Duration = Duration::from_millis(100);

struct Shared<P, K> {
    engine: Mutex<Engine<P>>,
    sink: K,
}

impl<P, K: ReportSink<P>> Shared<P, K> {
    fn engine(&self) -> MutexGuard<'_, Engine<P>> {
        // A panic while holding the lock leaves the engine consistent (every transition is a
        // single assignment), so keep serving.
        self.engine.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn send_all(&self, reports: &[(P, Report)]) {
        for (peer, report) in reports {
            if let Err(err) = self.sink.send(peer, report) {
                tracing::warn!(%err, "failed to send a CTAPHID report");
            }
        }
    }
}

/// Serve CTAPHID on one transport until `stop` is set or the source fails.
pub fn serve<P, S, K>(
    mut source: S,
    sink: K,
    app: SharedApp,
    config: Config,
    stop: &AtomicBool,
) -> io::Result<()>
where
    P: Clone + Send + 'static,
    S: ReportSource<P>,
    K: ReportSink<P> + 'static,
{
    let shared = Arc::new(Shared {
        engine: Mutex::new(Engine::new(config)),
        sink,
    });
    let (jobs_tx, jobs_rx) = crossbeam_channel::unbounded::<Job>();
    let worker = {
        let shared = Arc::clone(&shared);
        thread::Builder::new()
            .name("ctaphid-worker".into())
            .spawn(move || worker_loop(&shared, &app, &jobs_rx))?
    };
    let result = reader_loop(&mut source, &shared, &jobs_tx, stop);
    shared.engine().cancel_all();
    drop(jobs_tx);
    if worker.join().is_err() {
        tracing::error!("CTAPHID worker thread panicked");
    }
    result
}

fn reader_loop<P, S, K>(
    source: &mut S,
    shared: &Shared<P, K>,
    jobs: &Sender<Job>,
    stop: &AtomicBool,
) -> io::Result<()>
where
    P: Clone,
    S: ReportSource<P>,
    K: ReportSink<P>,
{
    while !stop.load(Ordering::SeqCst) {
        let now = Instant::now();
        let wait = shared.engine().next_wakeup().map_or(STOP_POLL, |at| {
            at.saturating_duration_since(now).min(STOP_POLL)
        });
        let received = source.recv(wait)?;
        let mut engine = shared.engine();
        let now = Instant::now();
        match received {
            Some((peer, report)) => {
                let out = engine.handle(now, &peer, &report);
                shared.send_all(&out.send);
                if let Some(job) = out.job {
                    jobs.send(job).expect("worker lives as long as the reader");
                }
            }
            None => shared.send_all(&engine.poll(now)),
        }
    }
    Ok(())
}

fn worker_loop<P, K>(shared: &Shared<P, K>, app: &SharedApp, jobs: &Receiver<Job>)
where
    P: Clone,
    K: ReportSink<P>,
{
    for job in jobs {
        let outcome = {
            let mut app = app.lock().unwrap_or_else(|e| e.into_inner());
            // A bug in one command must not take the device down: answer it as an error and
            // keep serving.
            panic::catch_unwind(AssertUnwindSafe(|| run_job(&mut *app, &job))).unwrap_or_else(
                |_| {
                    tracing::error!(cid = %job.cid, "the application panicked on a request");
                    match job.work {
                        Work::Cbor(_) => Outcome::Reply(vec![CTAP2_ERR_OTHER]),
                        _ => Outcome::Error(HidError::Other),
                    }
                },
            )
        };
        let mut engine = shared.engine();
        let sent = engine.complete(job.id, outcome);
        shared.send_all(&sent);
    }
}

fn run_job(app: &mut dyn App, job: &Job) -> Outcome {
    match &job.work {
        Work::Cbor(request) => {
            tracing::debug!(cid = %job.cid, command = request[0], len = request.len(), "CBOR request");
            let response = app.cbor(request, job.request.as_ref());
            tracing::debug!(cid = %job.cid, status = response.first().copied(), "CBOR response");
            Outcome::Reply(response)
        }
        Work::Wink => {
            app.wink();
            Outcome::Reply(Vec::new())
        }
        Work::Vendor(cmd, payload) => match app.vendor(*cmd, payload) {
            None => Outcome::Error(HidError::InvalidCmd),
            Some(Ok(reply)) => Outcome::Reply(reply),
            Some(Err(err)) => Outcome::Error(err),
        },
    }
}
