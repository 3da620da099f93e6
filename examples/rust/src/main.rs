//! Gasper's Rust example: answers every request with $GREETING on $PORT,
//! using only the standard library.
use std::env;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::Command;

fn main() {
    let port = env::var("PORT").unwrap_or_else(|_| "8080".to_string());
    let version = Command::new("rustc")
        .arg("--version")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.split_whitespace().nth(1).map(str::to_string))
        .unwrap_or_else(|| "unknown".to_string());
    let listener = TcpListener::bind(format!("0.0.0.0:{}", port)).expect("listen");
    for stream in listener.incoming() {
        let mut stream = match stream {
            Ok(s) => s,
            Err(_) => continue,
        };
        let mut buf = [0u8; 4096];
        let _ = stream.read(&mut buf);
        let body = format!(
            "rust {}: hello={}\n",
            version,
            env::var("GREETING").unwrap_or_default()
        );
        let _ = write!(
            stream,
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{}",
            body.len(),
            body
        );
    }
}
