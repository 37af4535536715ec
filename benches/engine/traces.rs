//! Section `traces` (issue #12): what storing node traces costs.
//!
//! One batch of 1 version × 10,000 cases at c = 100, a streaming chatflow answering in
//! L = 20 ms (ideal ceil(N/c) × L = 2.0 s), in-process engine on file SQLite: once with the
//! simulator reporting ten nodes per answer (`nodes10`: start, retrieval, six code nodes, LLM,
//! answer — each trace stored with its result) and once reporting none (`nodes0`: the same answers,
//! nothing to trace). Database growth per test is the SQLite file (after a WAL checkpoint) before
//! and after the batch, divided by the tests; wall is `start_batch` → terminal event.

use super::*;

const TRACE_CASES: usize = 10_000;
const TRACE_CONCURRENCY: u32 = 100;

pub fn section_traces(sim: &MockDify) {
    println!("## l. Node traces: storage and speed (1 chatflow version x {TRACE_CASES} cases, c = {TRACE_CONCURRENCY}, streaming, L = {LATENCY_MS} ms)");
    println!("engine in-process (file SQLite, WAL); growth = database bytes after a checkpoint, after minus before the batch, per test");
    println!("engine CPU = this process's user + sys during the batch; simulator CPU = the mock-dify process's, from /proc/PID/stat, over the same span");
    println!("| simulator key | nodes per test | wall s (median) | wall vs no nodes | DB growth per test (bytes, median) | trace JSON per test (bytes) | stored trace / row bytes (mean) | engine CPU s (µs per test) | simulator CPU s | runs |");
    println!("|---|---|---|---|---|---|---|---|---|---|");
    let mut base_wall = None;
    for (key, nodes) in [
        ("app-advanced-chat.q80.nodes0", 0),
        ("app-advanced-chat.q80.nodes10", 10),
    ] {
        let rs = phase_runs(
            "__traces",
            &[
                &sim.base,
                key,
                &TRACE_CASES.to_string(),
                &TRACE_CONCURRENCY.to_string(),
                &sim.child.id().to_string(),
            ],
        );
        let wall = median(rs.iter().map(|r| r["wall_s"].as_f64().unwrap()));
        let growth = median(rs.iter().map(|r| r["growth_per_test"].as_f64().unwrap()));
        let trace = median(
            rs.iter()
                .map(|r| r["trace_bytes_per_test"].as_f64().unwrap()),
        );
        let stored_trace = median(rs.iter().map(|r| r["stored_trace_bytes"].as_f64().unwrap()));
        let stored_row = median(rs.iter().map(|r| r["stored_row_bytes"].as_f64().unwrap()));
        let engine_cpu = median(rs.iter().map(|r| r["engine_cpu_s"].as_f64().unwrap()));
        let sim_cpu = median(rs.iter().map(|r| r["sim_cpu_s"].as_f64().unwrap()));
        let runs: Vec<String> = rs
            .iter()
            .map(|r| format!("{:.2}", r["wall_s"].as_f64().unwrap()))
            .collect();
        let ratio = base_wall.map_or("1.00 (base)".to_string(), |b: f64| {
            format!("{:.2}", wall / b)
        });
        base_wall.get_or_insert(wall);
        println!(
            "| `{key}` | {nodes} | {wall:.2} | {ratio} | {growth:.0} | {trace:.0} | {stored_trace:.0} / {stored_row:.0} | {engine_cpu:.2} ({:.0}) | {sim_cpu:.2} | {} |",
            engine_cpu * 1e6 / TRACE_CASES as f64,
            runs.join(" ")
        );
    }
    println!();
}

/// `args`: simulator base URL, key, cases, concurrency, the simulator's pid.
pub async fn phase_traces(args: &[String]) -> Value {
    let (sim, key) = (&args[0], args[1].clone());
    let cases: usize = args[2].parse().unwrap();
    let c: u32 = args[3].parse().unwrap();
    let sim_pid: u32 = args[4].parse().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bench.db");
    let engine = http::engine_for(
        &format!("sqlite://{}", path.display()),
        OutboundPolicy::allowing_private(),
    )
    .await
    .unwrap();
    let store = engine.store();
    let mut draft = version_draft(0, sim, key);
    draft.app_mode = AppMode::AdvancedChat;
    draft.response_mode = ResponseMode::Streaming;
    let version = store.insert_version(&draft).await.unwrap();
    store.insert_cases(&case_drafts(cases)).await.unwrap();
    let before = db_bytes(&path).await;
    let (cpu0, sim_cpu0) = (cpu_s(), proc_cpu_s(sim_pid));
    let t0 = Instant::now();
    let id = engine
        .start_batch(StartBatch {
            name: "traces".into(),
            version_ids: vec![version],
            concurrency: Some(c),
            ..Default::default()
        })
        .await
        .unwrap();
    wait_end(&engine, id).await;
    let wall = t0.elapsed().as_secs_f64();
    let (engine_cpu, sim_cpu) = (cpu_s() - cpu0, proc_cpu_s(sim_pid) - sim_cpu0);
    let after = db_bytes(&path).await;
    let (stored_trace, stored_row) = stored_bytes(&path).await;
    let results = store.list_results(id).await.unwrap();
    let trace_bytes: usize = results
        .iter()
        .filter_map(|r| r.trace.as_ref())
        .map(|t| serde_json::to_string(t).unwrap().len())
        .sum();
    let batch = store.get_batch(id).await.unwrap().unwrap();
    assert_eq!(batch.completed_tests as usize, cases, "every test ran");
    json!({
        "wall_s": wall,
        "growth_per_test": (after - before) as f64 / cases as f64,
        "trace_bytes_per_test": trace_bytes as f64 / cases as f64,
        "errors": batch.failed_tests,
        "stored_trace_bytes": stored_trace,
        "stored_row_bytes": stored_row,
        "engine_cpu_s": engine_cpu,
        "sim_cpu_s": sim_cpu,
    })
}

/// A process's user + sys CPU seconds, from fields 14 and 15 of /proc/PID/stat (clock ticks).
fn proc_cpu_s(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("the simulator runs");
    // The command name (field 2) may hold spaces; the fields after it are counted from its `)`.
    let after = &stat[stat.rfind(')').expect("a /proc stat line") + 2..];
    let fields: Vec<&str> = after.split(' ').collect();
    let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
    ticks / unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64
}

/// Mean bytes of the stored trace column and of a whole results row (SQLite's `dbstat` is not
/// compiled in everywhere, so the row is the sum of its columns' lengths, as stored).
async fn stored_bytes(path: &Path) -> (f64, f64) {
    use sqlx::{Connection, Row};
    let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    let cols: Vec<String> = sqlx::query("SELECT name FROM pragma_table_info('results')")
        .fetch_all(&mut conn)
        .await
        .unwrap()
        .iter()
        .map(|r| r.get::<String, _>(0))
        .collect();
    let row_sum = cols
        .iter()
        .map(|c| format!("COALESCE(LENGTH(CAST(\"{c}\" AS BLOB)), 0)"))
        .collect::<Vec<_>>()
        .join(" + ");
    let row = sqlx::query(&format!(
        "SELECT AVG(COALESCE(LENGTH(CAST(trace AS BLOB)), 0)), AVG({row_sum}) FROM results"
    ))
    .fetch_one(&mut conn)
    .await
    .unwrap();
    conn.close().await.unwrap();
    (row.get(0), row.get(1))
}

/// The database's size on disk once the WAL is folded into it (through a connection of its own).
async fn db_bytes(path: &Path) -> i64 {
    use sqlx::Connection;
    let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
        .execute(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
    std::fs::metadata(path).unwrap().len() as i64
}
