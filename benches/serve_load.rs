//! `cbrrel serve` under load: requests/second and p50/p99 latency of every shipped question
//! (`/queries/<name>`, its default parameters) at 1, 8 and 32 concurrent clients, and the
//! process's peak memory. The server runs in this process on a loopback port; each client is a
//! thread that sends one HTTP/1.1 request per connection, round-robin over the questions, for a
//! fixed time per level. Not a criterion benchmark: the measurement is one pass per level.
//!
//! Run: `CBRREL_BENCH_STORE=DIR cargo bench --bench serve_load` on a built store (e.g. the one
//! `CBRREL_BENCH_KEEP` keeps from `graph_pipeline`). Settings: CBRREL_BENCH_SECONDS per level
//! (default 20), CBRREL_BENCH_CLIENTS (default "1,8,32"), CBRREL_BENCH_TIMEOUT seconds per query
//! (default 30). Nothing else may run on the machine meanwhile.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use cbrrel::serve::{ServeConfig, Server};

/// The shipped questions' names (ontology/queries/*.rq).
fn question_names() -> Vec<String> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("ontology/queries");
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("ontology/queries")
        .filter_map(|e| {
            let p = e.ok()?.path();
            (p.extension()? == "rq").then(|| p.file_stem().unwrap().to_string_lossy().into_owned())
        })
        .collect();
    names.sort();
    names
}

/// One GET; the status code and whether the whole body arrived.
fn get(addr: SocketAddr, path: &str) -> Option<u16> {
    let mut s = TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(120))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAccept: text/csv\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).ok()?;
    let head = std::str::from_utf8(buf.get(..12)?).ok()?;
    head.get(9..12)?.parse().ok()
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// Peak resident memory of this process (server and clients), MiB.
fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

fn main() {
    let Ok(store) = std::env::var("CBRREL_BENCH_STORE") else {
        eprintln!("serve_load: set CBRREL_BENCH_STORE to a store directory; nothing measured");
        return;
    };
    let seconds: u64 = std::env::var("CBRREL_BENCH_SECONDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let levels: Vec<usize> = std::env::var("CBRREL_BENCH_CLIENTS")
        .unwrap_or_else(|_| "1,8,32".into())
        .split(',')
        .filter_map(|v| v.trim().parse().ok())
        .collect();
    let timeout: f64 = std::env::var("CBRREL_BENCH_TIMEOUT")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(30.0);

    let mut config = ServeConfig::new(&store);
    config.bind = "127.0.0.1:0".parse().unwrap();
    config.timeout = Some(Duration::from_secs_f64(timeout));
    config.handle_signals = false;
    let server = Server::bind(config).expect("bind");
    let addr = server.local_addr();
    let stop = server.stop_handle();
    let running = std::thread::spawn(move || server.run());
    let names = question_names();
    println!(
        "serve_load: store {store}, {} questions, {seconds} s per level, timeout {timeout} s, {} worker threads",
        names.len(),
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );

    for &clients in &levels {
        let deadline = Instant::now() + Duration::from_secs(seconds);
        let per_client: Vec<Vec<(String, u16, f64)>> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..clients)
                .map(|c| {
                    let names = &names;
                    scope.spawn(move || {
                        let mut out = Vec::new();
                        let mut k = c;
                        while Instant::now() < deadline {
                            let name = &names[k % names.len()];
                            k += 1;
                            let t0 = Instant::now();
                            let status = get(addr, &format!("/queries/{name}")).unwrap_or(0);
                            out.push((name.clone(), status, t0.elapsed().as_secs_f64() * 1e3));
                        }
                        out
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let wall = seconds as f64;
        let all: Vec<&(String, u16, f64)> = per_client.iter().flatten().collect();
        let failed = all.iter().filter(|r| r.1 != 200).count();
        let mut statuses: BTreeMap<u16, usize> = BTreeMap::new();
        for r in &all {
            *statuses.entry(r.1).or_default() += 1;
        }
        println!(
            "\n{clients} client(s): {} requests in ≈{wall:.0} s = {:.1} requests/s; not 200: {failed} {statuses:?}; peak RSS {:.0} MiB",
            all.len(),
            all.len() as f64 / wall,
            peak_rss_mib()
        );
        println!(
            "  {:<32} {:>6} {:>10} {:>10}",
            "question", "n", "p50 ms", "p99 ms"
        );
        for name in &names {
            let mut ms: Vec<f64> = all
                .iter()
                .filter(|r| &r.0 == name && r.1 == 200)
                .map(|r| r.2)
                .collect();
            ms.sort_by(f64::total_cmp);
            println!(
                "  {:<32} {:>6} {:>10.1} {:>10.1}",
                name,
                ms.len(),
                percentile(&ms, 0.5),
                percentile(&ms, 0.99)
            );
        }
    }
    stop.stop();
    let _ = running.join();
}
