//! `cbrrel serve` under load: requests/second and p50/p99 latency of every shipped question at
//! 1, 8 and 32 concurrent clients, and the server's peak memory; with CBRREL_BENCH_OXIGRAPH set,
//! the same load on Oxigraph's own `oxigraph serve-read-only` over the same store, in the same
//! run, and the ratio. Each question is sent as its shipped text (ontology/queries/*.rq, default
//! parameters) in a SPARQL 1.1 Protocol POST (`application/sparql-query`) — to `/sparql` here,
//! `/query` there — so both servers parse and evaluate the same text. Our server runs in this
//! process on a loopback port, Oxigraph as a child process; each client is a thread that sends
//! one HTTP/1.1 request per connection, round-robin over the questions, for a fixed time per
//! level. Not a criterion benchmark: the measurement is one pass per level and server.
//!
//! Run: `make bench-serve STORE=DIR` (installs Oxigraph's CLI, the `oxigraph` package on PyPI,
//! into .venv), or `CBRREL_BENCH_STORE=DIR cargo bench --bench serve_load` on a built store
//! (e.g. the one `CBRREL_BENCH_KEEP` keeps from `graph_pipeline`). Settings:
//! CBRREL_BENCH_SECONDS per level (default 20), CBRREL_BENCH_CLIENTS (default "1,8,32"),
//! CBRREL_BENCH_TIMEOUT seconds per query (default 30), CBRREL_BENCH_OXIGRAPH (path of the
//! `oxigraph` binary; unset: ours alone). Nothing else may run on the machine meanwhile.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use cbrrel::serve::{ServeConfig, Server};

/// The shipped questions (ontology/queries/*.rq): name and text, by name.
fn questions() -> Vec<(String, String)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("ontology/queries");
    let mut out: Vec<(String, String)> = std::fs::read_dir(dir)
        .expect("ontology/queries")
        .filter_map(|e| {
            let p = e.ok()?.path();
            (p.extension()? == "rq").then(|| {
                let name = p.file_stem().unwrap().to_string_lossy().into_owned();
                (name, std::fs::read_to_string(&p).expect("query text"))
            })
        })
        .collect();
    out.sort();
    out
}

/// One SPARQL protocol POST; the status code once the whole body arrived.
fn post(addr: SocketAddr, path: &str, query: &str) -> Option<u16> {
    let mut s = TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(120))).ok()?;
    write!(
        s,
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nAccept: text/csv\r\nContent-Type: application/sparql-query\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{query}",
        query.len()
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

/// Peak resident memory of a process (`self` or a pid), MiB.
fn peak_rss_mib(proc: &str) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{proc}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

fn env_or<T: std::str::FromStr>(key: &str, default: T) -> T {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A server under test: where it listens, its query route, and whose memory to read.
struct Target {
    label: &'static str,
    addr: SocketAddr,
    route: &'static str,
    proc: String,
}

/// What one level measured on one server.
struct Level {
    requests: usize,
    not_200: BTreeMap<u16, usize>,
    peak_rss_mib: f64,
    /// Per question: (answered with 200, p50 ms, p99 ms).
    per_question: BTreeMap<String, (usize, f64, f64)>,
}

fn run_level(
    target: &Target,
    questions: &[(String, String)],
    clients: usize,
    seconds: u64,
) -> Level {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let per_client: Vec<Vec<(usize, u16, f64)>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..clients)
            .map(|c| {
                scope.spawn(move || {
                    let mut out = Vec::new();
                    let mut k = c;
                    while Instant::now() < deadline {
                        let q = k % questions.len();
                        k += 1;
                        let t0 = Instant::now();
                        let status = post(target.addr, target.route, &questions[q].1).unwrap_or(0);
                        out.push((q, status, t0.elapsed().as_secs_f64() * 1e3));
                    }
                    out
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let all: Vec<&(usize, u16, f64)> = per_client.iter().flatten().collect();
    let mut not_200 = BTreeMap::new();
    for r in all.iter().filter(|r| r.1 != 200) {
        *not_200.entry(r.1).or_default() += 1;
    }
    let per_question = questions
        .iter()
        .enumerate()
        .map(|(i, (name, _))| {
            let mut ms: Vec<f64> = all
                .iter()
                .filter(|r| r.0 == i && r.1 == 200)
                .map(|r| r.2)
                .collect();
            ms.sort_by(f64::total_cmp);
            let row = (ms.len(), percentile(&ms, 0.5), percentile(&ms, 0.99));
            (name.clone(), row)
        })
        .collect();
    Level {
        requests: all.len(),
        not_200,
        peak_rss_mib: peak_rss_mib(&target.proc),
        per_question,
    }
}

/// Oxigraph's own read-only server on the same store, as a child process; killed on drop.
struct Oxigraph(Child);

impl Drop for Oxigraph {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_oxigraph(bin: &str, store: &str, timeout: f64) -> (Oxigraph, SocketAddr) {
    // A free loopback port: bind, read it, release it for the child.
    let addr = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port");
    let child = Command::new(bin)
        .args(["serve-read-only", "--location", store, "--bind"])
        .arg(addr.to_string())
        // `cbrrel query` and `cbrrel serve` read the default graph as the union of all graphs.
        .arg("--union-default-graph")
        .args(["--timeout-s", &format!("{}", timeout.ceil() as u64)])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("{bin}: {e}"));
    let server = Oxigraph(child);
    let t0 = Instant::now();
    while TcpStream::connect(addr).is_err() {
        assert!(
            t0.elapsed() < Duration::from_secs(120),
            "oxigraph serve-read-only did not listen on {addr} within 120 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    (server, addr)
}

fn print_level(label: &str, clients: usize, seconds: u64, l: &Level) {
    println!(
        "\n{label}, {clients} client(s): {} requests in ≈{seconds} s = {:.1} requests/s; not 200: {:?}; peak RSS {:.0} MiB",
        l.requests,
        l.requests as f64 / seconds as f64,
        l.not_200,
        l.peak_rss_mib
    );
}

fn main() {
    let Ok(store) = std::env::var("CBRREL_BENCH_STORE") else {
        eprintln!("serve_load: set CBRREL_BENCH_STORE to a store directory; nothing measured");
        return;
    };
    let seconds: u64 = env_or("CBRREL_BENCH_SECONDS", 20);
    let levels: Vec<usize> = std::env::var("CBRREL_BENCH_CLIENTS")
        .unwrap_or_else(|_| "1,8,32".into())
        .split(',')
        .filter_map(|v| v.trim().parse().ok())
        .collect();
    let timeout: f64 = env_or("CBRREL_BENCH_TIMEOUT", 30.0);
    let oxigraph_bin = std::env::var("CBRREL_BENCH_OXIGRAPH").ok();

    let mut config = ServeConfig::new(&store);
    config.bind = "127.0.0.1:0".parse().unwrap();
    config.timeout = Some(Duration::from_secs_f64(timeout));
    config.handle_signals = false;
    let server = Server::bind(config).expect("bind");
    let ours = Target {
        label: "cbrrel serve",
        addr: server.local_addr(),
        route: "/sparql",
        proc: "self".into(),
    };
    let stop = server.stop_handle();
    let running = std::thread::spawn(move || server.run());
    let questions = questions();
    println!(
        "serve_load: store {store}, {} questions, {seconds} s per level and server, timeout {timeout} s, {} cores",
        questions.len(),
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );

    // Ours first at every level, then Oxigraph's at every level: one server busy at a time.
    let mine: Vec<Level> = levels
        .iter()
        .map(|&c| {
            let l = run_level(&ours, &questions, c, seconds);
            print_level(ours.label, c, seconds, &l);
            l
        })
        .collect();
    stop.stop();
    let _ = running.join();
    let theirs: Option<Vec<Level>> = oxigraph_bin.map(|bin| {
        let (child, addr) = start_oxigraph(&bin, &store, timeout);
        let target = Target {
            label: "oxigraph serve-read-only",
            addr,
            route: "/query",
            proc: child.0.id().to_string(),
        };
        let out = levels
            .iter()
            .map(|&c| {
                let l = run_level(&target, &questions, c, seconds);
                print_level(target.label, c, seconds, &l);
                l
            })
            .collect();
        drop(child);
        out
    });

    // One table per level: each question's p50/p99 on both, and the ratio of the p50s.
    for (i, &clients) in levels.iter().enumerate() {
        let m = &mine[i];
        let t = theirs.as_ref().map(|v| &v[i]);
        println!("\n### {clients} client(s)\n");
        println!(
            "requests/s: cbrrel {:.2}{}; peak RSS cbrrel {:.0} MiB (server and clients){}\n",
            m.requests as f64 / seconds as f64,
            t.map_or(String::new(), |t| format!(
                ", oxigraph {:.2} (ratio {:.2})",
                t.requests as f64 / seconds as f64,
                m.requests as f64 / t.requests.max(1) as f64
            )),
            m.peak_rss_mib,
            t.map_or(String::new(), |t| format!(
                ", oxigraph {:.0} MiB (server)",
                t.peak_rss_mib
            )),
        );
        println!("| question | n | p50 ms | p99 ms | oxigraph n | p50 ms | p99 ms | p50 ratio |");
        println!("|---|--:|--:|--:|--:|--:|--:|--:|");
        for (name, (n, p50, p99)) in &m.per_question {
            let (tn, tp50, tp99) = t
                .and_then(|t| t.per_question.get(name).copied())
                .unwrap_or((0, f64::NAN, f64::NAN));
            println!(
                "| {name} | {n} | {p50:.1} | {p99:.1} | {tn} | {tp50:.1} | {tp99:.1} | {:.2} |",
                p50 / tp50
            );
        }
    }
}
