//! Sink behaviour: file lines, webhook delivery on a real local HTTP listener, no blocking.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::mpsc;
use std::time::Duration;

use super::*;

fn enrolled(n: u8) -> DeviceEvent {
    DeviceEvent::EnrollmentCompleted {
        template_id: vec![n],
        member_id: Some(format!("M-{n}")),
    }
}

#[test]
fn disabled_sink_accepts_events_and_does_nothing() {
    let sink = EventSink::disabled();
    assert!(!sink.is_enabled());
    sink.emit(DeviceEvent::Reset);
    let sink = EventSink::new(EventConfig::default()).unwrap();
    assert!(!sink.is_enabled());
}

#[test]
fn file_gets_one_json_event_per_line_appended_from_many_threads() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("events.jsonl");
    std::fs::write(&path, "").unwrap();
    let sink = EventSink::new(EventConfig {
        source: "/palmkey/dev1".into(),
        file: Some(path.clone()),
        webhook: None,
    })
    .unwrap();
    let threads: Vec<_> = (0..4u8)
        .map(|t| {
            let sink = sink.clone();
            std::thread::spawn(move || (0..50).for_each(|i| sink.emit(enrolled(t * 50 + i))))
        })
        .collect();
    threads.into_iter().for_each(|t| t.join().unwrap());
    drop(sink);
    // Reopening appends rather than truncating.
    let sink = EventSink::new(EventConfig {
        file: Some(path.clone()),
        ..EventConfig::default()
    })
    .unwrap();
    sink.emit(DeviceEvent::Reset);

    let text = std::fs::read_to_string(&path).unwrap();
    let events: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(events.len(), 201);
    let mut members: Vec<_> = events[..200]
        .iter()
        .map(|e| {
            assert_eq!(e["source"], "/palmkey/dev1");
            assert_eq!(e["type"], "dev.palmkey.enrollment.completed");
            e["data"]["member_id"].as_str().unwrap().to_owned()
        })
        .collect();
    members.sort();
    members.dedup();
    assert_eq!(members.len(), 200);
    assert_eq!(events[200]["type"], "dev.palmkey.reset");
}

#[test]
fn missing_events_folder_and_bad_webhook_urls_are_clear_errors() {
    let err = EventSink::new(EventConfig {
        file: Some("/nonexistent-dir/palmkey/events.jsonl".into()),
        ..EventConfig::default()
    })
    .unwrap_err();
    assert!(matches!(err, EventError::Io { .. }), "{err}");
    for url in ["not a url", "ftp://example.com/x", "/relative"] {
        let err = EventSink::new(EventConfig {
            webhook: Some(url.into()),
            ..EventConfig::default()
        })
        .unwrap_err();
        assert!(matches!(err, EventError::BadWebhookUrl(_)), "{url}: {err}");
    }
}

/// A one-request-per-connection HTTP server: sends each received (headers, body) on.
fn http_server(reply: bool) -> (String, mpsc::Receiver<(String, String)>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut head = String::new();
            let mut length = 0usize;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap();
                }
                head.push_str(&line);
            }
            let mut body = vec![0; length];
            reader.read_exact(&mut body).unwrap();
            if tx.send((head, String::from_utf8(body).unwrap())).is_err() {
                return;
            }
            if reply {
                let _ = stream.write_all(b"HTTP/1.1 204 No Content\r\nconnection: close\r\n\r\n");
            } else {
                std::mem::forget(stream); // never answer: the client must not care
            }
        }
    });
    (url, rx)
}

#[test]
fn webhook_receives_each_event_as_structured_cloudevent() {
    let (url, rx) = http_server(true);
    let sink = EventSink::new(EventConfig {
        source: "/palmkey/dev2".into(),
        file: None,
        webhook: Some(url),
    })
    .unwrap();
    sink.emit(DeviceEvent::Tamper {
        reason: "authentication failed".into(),
    });
    sink.emit(DeviceEvent::UvBlocked { uv: UvMethod::Palm });
    let mut types = Vec::new();
    for _ in 0..2 {
        let (head, body) = rx.recv_timeout(Duration::from_secs(20)).unwrap();
        assert!(head.starts_with("POST /hook HTTP/1.1"), "{head}");
        assert!(
            head.to_ascii_lowercase()
                .contains("content-type: application/cloudevents+json"),
            "{head}"
        );
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["specversion"], "1.0");
        assert_eq!(v["source"], "/palmkey/dev2");
        types.push(v["type"].as_str().unwrap().to_owned());
    }
    assert_eq!(
        types,
        ["dev.palmkey.tamper.detected", "dev.palmkey.uv.blocked"]
    );
}

#[test]
fn a_webhook_that_never_answers_does_not_hold_up_emit() {
    let (url, rx) = http_server(false);
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("events.jsonl");
    let sink = EventSink::new(EventConfig {
        file: Some(path.clone()),
        webhook: Some(url),
        ..EventConfig::default()
    })
    .unwrap();
    sink.emit(DeviceEvent::Reset);
    // The first POST is now stuck waiting for an answer that never comes ...
    rx.recv_timeout(Duration::from_secs(20)).unwrap();
    // ... and emitting more (beyond the queue size) still returns and still reaches the file.
    for i in 0..1500u32 {
        sink.emit(enrolled(i as u8));
    }
    let lines = std::fs::read_to_string(&path).unwrap().lines().count();
    assert_eq!(lines, 1501);
}

#[test]
fn recorder_keeps_emitted_events_in_order() {
    let (sink, recorder) = EventSink::recorder();
    sink.emit(enrolled(1));
    sink.clone().emit(DeviceEvent::Reset);
    assert_eq!(
        recorder.types(),
        ["dev.palmkey.enrollment.completed", "dev.palmkey.reset"]
    );
}
