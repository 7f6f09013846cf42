//! The remote policy against a real HTTP server on loopback that speaks the
//! chat-completions wire format (a stand-in for vLLM / llama.cpp, which cannot run here):
//! request body, answer parsing, retries on 5xx, timeouts, and errors that name the server.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::mpsc;
use std::time::Duration;

use dtr1_policy::{ChatMessage, Policy, RemotePolicy, SamplingParams};

/// Serve `answers` (status, body, delay) to successive requests; send each request body back.
fn server(answers: Vec<(u16, String, u64)>) -> (String, mpsc::Receiver<serde_json::Value>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for (status, body, delay) in answers {
            let Ok((mut s, _)) = l.accept() else { return };
            let mut r = BufReader::new(s.try_clone().unwrap());
            let mut len = 0;
            loop {
                let mut line = String::new();
                r.read_line(&mut line).unwrap();
                if line == "\r\n" || line.is_empty() {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap();
                }
            }
            let mut buf = vec![0; len];
            r.read_exact(&mut buf).unwrap();
            let _ = tx.send(serde_json::from_slice(&buf).unwrap());
            std::thread::sleep(Duration::from_millis(delay));
            let _ = write!(
                s,
                "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    (url, rx)
}

fn ok(text: &str) -> String {
    serde_json::json!({"choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}]}).to_string()
}

fn chat() -> Vec<Vec<ChatMessage>> {
    vec![vec![
        ChatMessage::new("system", "Answer briefly."),
        ChatMessage::new("user", "Capital of France?"),
    ]]
}

#[test]
fn sends_the_openai_request_and_reads_the_answer() {
    let (url, rx) = server(vec![(200, ok("<answer>Paris</answer>"), 0)]);
    let mut p =
        RemotePolicy::new(&format!("{url}/v1/"), "smollm2", Duration::from_secs(5)).unwrap();
    let params = SamplingParams {
        max_new_tokens: 32,
        temperature: 0.7,
        top_k: 5,
        seed: 9,
        stop: vec!["</answer>".into()],
        ..Default::default()
    };
    assert_eq!(
        p.complete(&chat(), &params).unwrap(),
        vec!["<answer>Paris</answer>"]
    );
    let req = rx.recv().unwrap();
    assert_eq!(req["model"], "smollm2");
    assert_eq!(req["messages"][1]["content"], "Capital of France?");
    assert_eq!(req["max_tokens"], 32);
    assert_eq!(req["seed"], 9);
    assert_eq!(req["top_k"], 5);
    assert_eq!(req["stop"][0], "</answer>");
    assert!((req["temperature"].as_f64().unwrap() - 0.7).abs() < 1e-6);
}

#[test]
fn retries_server_errors_then_succeeds() {
    let (url, _rx) = server(vec![
        (503, "{\"error\":\"loading\"}".into(), 0),
        (500, "oops".into(), 0),
        (200, ok("42"), 0),
    ]);
    let mut p = RemotePolicy::new(&url, "m", Duration::from_secs(5)).unwrap();
    p.backoff = Duration::from_millis(10);
    assert_eq!(
        p.complete(&chat(), &SamplingParams::default()).unwrap(),
        vec!["42"]
    );
}

#[test]
fn timeouts_client_errors_and_bad_answers_are_named() {
    let (url, _rx) = server(vec![(200, ok("late"), 1500)]);
    let mut p = RemotePolicy::new(&url, "m", Duration::from_millis(300)).unwrap();
    p.attempts = 1;
    let e = p
        .complete(&chat(), &SamplingParams::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains(&url) && e.contains("gave up"), "{e}");

    let (url, _rx) = server(vec![(400, "{\"error\":\"bad model\"}".into(), 0)]);
    let mut p = RemotePolicy::new(&url, "m", Duration::from_secs(5)).unwrap();
    let e = p
        .complete(&chat(), &SamplingParams::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("HTTP 400") && e.contains("bad model"), "{e}");

    let (url, _rx) = server(vec![(200, "{\"choices\": []}".into(), 0)]);
    let mut p = RemotePolicy::new(&url, "m", Duration::from_secs(5)).unwrap();
    let e = p
        .complete(&chat(), &SamplingParams::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("no choices[0].message.content"), "{e}");

    assert!(RemotePolicy::new("https://example.invalid", "m", Duration::from_secs(1)).is_err());
    assert!(RemotePolicy::new("http://127.0.0.1:1", "m", Duration::ZERO).is_err());
}
