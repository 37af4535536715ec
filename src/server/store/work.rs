//! Shared work on PostgreSQL (issue #13): the instances serving one database, the tests of
//! unfinished batches claimed by leases, and the per-version running tallies every instance keeps
//! its live progress in step from.
//!
//! - **Instances** register a row and renew `seen_at` by heartbeat, on the database's clock, so
//!   the instances' own clocks never matter. One whose heartbeat is older than the lease time is
//!   gone, and its leases with it.
//! - **Work** is a row per test without a result (`batch_work`, written with the batch and by a
//!   re-run, deleted in the transaction that stores the result). A claim takes the earliest open
//!   rows — unowned, or owned by a vanished instance — `FOR UPDATE SKIP LOCKED`, under the batch's
//!   transaction-scoped advisory lock, which serialises the claims of one batch so that the count
//!   of live leases it reads is the count it adds to: the leases of a batch never exceed its
//!   concurrency (nor a version's its cap), whatever the number of instances. An advisory lock
//!   rather than a slot table, because the leases already are the slots: counting them costs a
//!   scan of a small partial index, and nothing has to be given back when an instance dies.
//! - **Fair share**: an instance holds at most ⌈concurrency ÷ active instances⌉ of a batch's
//!   leases, so every instance works every batch, and the survivors take over a vanished one's
//!   share once its heartbeat expires.
//!
//! SQLite is one instance (`InstanceLock`); there the runner keeps its queues in memory and none
//! of this is called (each function refuses with [`StoreError::Unsupported`]).

use super::{now_ms, on_pool, Store, StoreError, StoreResult};
use crate::model::JudgeVerdict;
use crate::model::{BatchId, BatchStatus, CaseId, ResultStatus, TestResult, VersionId};
use sqlx::postgres::PgPool;
use std::collections::BTreeMap;

/// The database's clock in milliseconds: instances on different machines agree on it.
const DB_NOW_MS: &str = "CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT)";
/// The first key of the advisory locks this module takes (the batch id is the second).
const LOCK_CLASS: i32 = 0x6462_656e; // "dben"

/// An instance's row in `instances`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct InstanceId(pub i64);

impl std::fmt::Display for InstanceId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// A test this instance claimed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Claimed {
    pub version_id: VersionId,
    pub case_id: CaseId,
    pub repetition: u32,
    /// Claimed before, by an instance that vanished or stopped: it may have been called already.
    pub reclaimed: bool,
}

/// What a claim found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClaimOutcome {
    pub tests: Vec<Claimed>,
    /// The batch is still queued or running (a claim on an ended batch takes nothing).
    pub open: bool,
    /// Tests of the batch still without a result, claimed or not (this claim's included).
    pub remaining: bool,
    /// Leases live instances other than this one hold on the batch.
    pub others_leased: u64,
}

/// A version's live leases, as a claim counts them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VersionLoad {
    pub version_id: VersionId,
    /// Held by live instances, this one included.
    pub leased: u64,
    /// Held by this instance.
    pub mine: u64,
}

/// How many tests an instance may claim now, and of which versions: at most `want` (what it can
/// send at once), within the batch's `concurrency` counted over every live lease, its fair share
/// ⌈concurrency ÷ `instances`⌉ of them, and each version's `cap`. Versions are in dispatch order;
/// the result gives each version the most it may take, the sum bounded by the returned budget
/// (a version that has fewer open tests leaves the rest to the next).
pub fn claim_budget(
    concurrency: u64,
    cap: Option<u64>,
    instances: u64,
    want: u64,
    versions: &[VersionLoad],
) -> (u64, Vec<(VersionId, u64)>) {
    let leased: u64 = versions.iter().map(|v| v.leased).sum();
    let mine: u64 = versions.iter().map(|v| v.mine).sum();
    let share = concurrency.div_ceil(instances.max(1));
    let budget = want
        .min(concurrency.saturating_sub(leased))
        .min(share.saturating_sub(mine));
    let rooms = versions
        .iter()
        .map(|v| {
            let room = cap.map_or(budget, |c| c.saturating_sub(v.leased).min(budget));
            (v.version_id, room)
        })
        .collect();
    (budget, rooms)
}

/// Per (batch, version): the tallies of the stored results, with the revision that orders them.
#[derive(Debug, Clone, Copy, Default, PartialEq, sqlx::FromRow)]
pub struct LiveTally {
    pub version_id: i64,
    pub rev: i64,
    pub completed: i64,
    pub passed: i64,
    pub errored: i64,
    pub score_sum: f64,
    pub scored: i64,
    pub latency_sum: f64,
    pub timed: i64,
    pub judged: i64,
    pub judge_cached: i64,
    pub judge_errors: i64,
    pub judge_score_sum: f64,
}

impl LiveTally {
    /// What `result` adds (the definitions of `Store::version_tallies`).
    fn add(&mut self, r: &TestResult) {
        self.completed += 1;
        match r.status {
            ResultStatus::Passed => self.passed += 1,
            ResultStatus::Failed => {}
            ResultStatus::Error => self.errored += 1,
        }
        if let Some(s) = r.score {
            self.score_sum += s;
            self.scored += 1;
        }
        if let Some(ms) = r.latency_ms {
            self.latency_sum += ms as f64;
            self.timed += 1;
        }
        if let Some(j) = &r.detail.judge {
            if let Some(s) = j.score {
                self.judged += 1;
                self.judge_score_sum += s;
            }
            self.judge_cached += i64::from(j.cached);
            self.judge_errors += i64::from(j.verdict() == JudgeVerdict::Error);
        }
    }
}

/// How the store recorded a batch's end (what `Registry::conclude` sends).
#[derive(Debug, Clone)]
pub struct StoredEnd {
    pub status: BatchStatus,
    pub error_message: Option<String>,
    pub started_at_ms: Option<i64>,
    pub finished_at_ms: Option<i64>,
}

/// What storing a group of results did on PostgreSQL.
#[derive(Debug, Clone, Default)]
pub struct StoredGroup {
    /// The new tallies of every version a stored result belongs to, per batch.
    pub tallies: Vec<(BatchId, LiveTally)>,
    /// Results not stored because their test already had one (it was called twice).
    pub duplicates: u64,
}

impl Store {
    fn shared_pool(&self) -> StoreResult<&PgPool> {
        self.pg_pool().ok_or(StoreError::Unsupported(
            "shared work needs PostgreSQL; SQLite is served by one instance",
        ))
    }

    /// Registers this process as an instance serving the database.
    pub async fn register_instance(&self, host: &str, pid: u32) -> StoreResult<InstanceId> {
        let pool = self.shared_pool()?;
        let id: i64 = sqlx::query_scalar(&format!(
            "INSERT INTO instances (host, pid, started_at, seen_at) \
             VALUES ($1, $2, {DB_NOW_MS}, {DB_NOW_MS}) RETURNING id"
        ))
        .bind(host)
        .bind(i64::from(pid))
        .fetch_one(pool)
        .await?;
        Ok(InstanceId(id))
    }

    /// Renews this instance's leases; forgets instances silent for `forget_after_ms`. False when
    /// this instance's row is gone (another instance forgot it): it must register again.
    pub async fn heartbeat(&self, me: InstanceId, forget_after_ms: i64) -> StoreResult<bool> {
        let pool = self.shared_pool()?;
        let renewed = sqlx::query(&format!(
            "UPDATE instances SET seen_at = {DB_NOW_MS} WHERE id = $1"
        ))
        .bind(me.0)
        .execute(pool)
        .await?
        .rows_affected();
        sqlx::query(&format!(
            "DELETE FROM instances WHERE seen_at < {DB_NOW_MS} - $1"
        ))
        .bind(forget_after_ms)
        .execute(pool)
        .await?;
        Ok(renewed == 1)
    }

    /// Marks this instance as stopping: it is left out of the fair share from now on.
    pub async fn drain_instance(&self, me: InstanceId) -> StoreResult<()> {
        let pool = self.shared_pool()?;
        sqlx::query("UPDATE instances SET draining = TRUE WHERE id = $1")
            .bind(me.0)
            .execute(pool)
            .await?;
        Ok(())
    }

    /// Gives back every lease this instance holds and removes it: the others claim its tests
    /// at once instead of after the lease time. Returns how many leases it gave back.
    pub async fn leave(&self, me: InstanceId) -> StoreResult<u64> {
        let pool = self.shared_pool()?;
        let mut tx = pool.begin().await?;
        let released = sqlx::query("UPDATE batch_work SET owner = NULL WHERE owner = $1")
            .bind(me.0)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        sqlx::query("DELETE FROM instances WHERE id = $1")
            .bind(me.0)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(released)
    }

    /// Gives back this instance's leases on one batch (its runner stopped without sending them).
    pub async fn release_leases(&self, batch: BatchId, me: InstanceId) -> StoreResult<u64> {
        let pool = self.shared_pool()?;
        let n =
            sqlx::query("UPDATE batch_work SET owner = NULL WHERE batch_id = $1 AND owner = $2")
                .bind(batch.0)
                .bind(me.0)
                .execute(pool)
                .await?
                .rows_affected();
        Ok(n)
    }

    /// Claims up to `want` tests of `batch` for instance `me` (see the module doc for the limits).
    /// An instance is live when its heartbeat is younger than `lease_ms`.
    pub async fn claim_tests(
        &self,
        batch: BatchId,
        me: InstanceId,
        want: u64,
        lease_ms: i64,
    ) -> StoreResult<ClaimOutcome> {
        let pool = self.shared_pool()?;
        let mut tx = pool.begin().await?;
        lock_batch(&mut tx, batch).await?;
        let head: Option<(String, i64, Option<i64>, i64)> = sqlx::query_as(
            "SELECT status, concurrency, per_version_cap, total_tests FROM batches WHERE id = $1",
        )
        .bind(batch.0)
        .fetch_optional(&mut *tx)
        .await?;
        let Some((status, concurrency, cap, total_tests)) = head else {
            return Ok(ClaimOutcome::default());
        };
        if status != "queued" && status != "running" {
            return Ok(ClaimOutcome::default());
        }
        // This instance is live while it claims, whatever its heartbeat task is doing.
        sqlx::query(&format!(
            "UPDATE instances SET seen_at = {DB_NOW_MS} WHERE id = $1"
        ))
        .bind(me.0)
        .execute(&mut *tx)
        .await?;
        let live = format!("SELECT id FROM instances WHERE seen_at > {DB_NOW_MS} - $2");
        let active: i64 = sqlx::query_scalar(&format!(
            "SELECT COUNT(*) FROM instances WHERE seen_at > {DB_NOW_MS} - $1 AND NOT draining"
        ))
        .bind(lease_ms)
        .fetch_one(&mut *tx)
        .await?;
        let versions: Vec<i64> = sqlx::query_scalar(
            "SELECT version_id FROM batch_versions WHERE batch_id = $1 ORDER BY position",
        )
        .bind(batch.0)
        .fetch_all(&mut *tx)
        .await?;
        let leases: Vec<(i64, i64, i64)> = sqlx::query_as(&format!(
            "SELECT version_id, COUNT(*), COUNT(*) FILTER (WHERE owner = $3) FROM batch_work \
             WHERE batch_id = $1 AND owner IS NOT NULL AND owner IN ({live}) GROUP BY version_id"
        ))
        .bind(batch.0)
        .bind(lease_ms)
        .bind(me.0)
        .fetch_all(&mut *tx)
        .await?;
        let loads: Vec<VersionLoad> = versions
            .iter()
            .map(|&v| {
                let (leased, mine) = leases
                    .iter()
                    .find(|l| l.0 == v)
                    .map_or((0, 0), |l| (l.1, l.2));
                VersionLoad {
                    version_id: VersionId(v),
                    leased: leased.max(0) as u64,
                    mine: mine.max(0) as u64,
                }
            })
            .collect();
        let others_leased = loads.iter().map(|l| l.leased - l.mine).sum();
        let (budget, rooms) = claim_budget(
            concurrency.max(1) as u64,
            cap.map(|c| c.max(1) as u64),
            active.max(1) as u64,
            want,
            &loads,
        );
        let mut tests = Vec::new();
        if budget > 0 {
            let pick = "UPDATE batch_work w SET owner = $3, claims = w.claims + 1 FROM (\
                 SELECT version_id, case_id, repetition FROM batch_work \
                 WHERE batch_id = $1 {VERSION} AND (owner IS NULL OR owner NOT IN ({LIVE})) \
                 ORDER BY seq LIMIT $4 FOR UPDATE SKIP LOCKED) pick \
                 WHERE w.batch_id = $1 AND w.version_id = pick.version_id \
                 AND w.case_id = pick.case_id AND w.repetition = pick.repetition \
                 RETURNING w.version_id, w.case_id, w.repetition, w.claims"
                .replace("{LIVE}", &live);
            let mut rows: Vec<(i64, i64, i64, i64)> = Vec::new();
            if cap.is_none() {
                rows = sqlx::query_as(&pick.replace("{VERSION}", ""))
                    .bind(batch.0)
                    .bind(lease_ms)
                    .bind(me.0)
                    .bind(sql_i64(budget))
                    .fetch_all(&mut *tx)
                    .await?;
            } else {
                // A version's work rows are one range of `seq`: the version at position `p`
                // holds `[p × per, (p + 1) × per)`, `per` its repetitions × cases (every writer
                // numbers the rows so: `Store::begin_batch` and `PLAN_WORK`). The range takes
                // the batch's `(batch_id, seq)` index, so no index by version is kept (section
                // j.4 of BENCHMARKS.md: one index less on each of a new batch's work rows).
                let by_version = pick.replace("{VERSION}", "AND seq >= $5 AND seq < $6");
                let per = total_tests / (versions.len().max(1) as i64);
                let mut left = budget;
                for (version, room) in rooms {
                    let n = room.min(left);
                    if n == 0 {
                        continue;
                    }
                    let Some(p) = versions.iter().position(|&v| v == version.0) else {
                        continue;
                    };
                    let got: Vec<(i64, i64, i64, i64)> = sqlx::query_as(&by_version)
                        .bind(batch.0)
                        .bind(lease_ms)
                        .bind(me.0)
                        .bind(sql_i64(n))
                        .bind(p as i64 * per)
                        .bind((p as i64 + 1) * per)
                        .fetch_all(&mut *tx)
                        .await?;
                    left -= got.len() as u64;
                    rows.extend(got);
                    if left == 0 {
                        break;
                    }
                }
            }
            tests = rows
                .into_iter()
                .map(|(v, c, r, claims)| Claimed {
                    version_id: VersionId(v),
                    case_id: CaseId(c),
                    repetition: u32::try_from(r).unwrap_or(u32::MAX),
                    reclaimed: claims > 1,
                })
                .collect();
            // The dispatch order, whichever version's statement returned them.
            tests.sort_by_key(|t| {
                (
                    versions.iter().position(|&v| v == t.version_id.0),
                    t.repetition,
                )
            });
        }
        let remaining: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM batch_work WHERE batch_id = $1)")
                .bind(batch.0)
                .fetch_one(&mut *tx)
                .await?;
        tx.commit().await?;
        // Counted after the claim, not in it: the claim then never waits for the batch's row
        // while holding work rows (a writer may hold the row and want those).
        let reclaimed = tests.iter().filter(|t| t.reclaimed).count() as i64;
        if reclaimed > 0 {
            sqlx::query("UPDATE batches SET reclaimed_tests = reclaimed_tests + $2 WHERE id = $1")
                .bind(batch.0)
                .bind(reclaimed)
                .execute(pool)
                .await?;
        }
        Ok(ClaimOutcome {
            tests,
            open: true,
            remaining,
            others_leased,
        })
    }

    /// Ends a batch as completed if it is still open and every test has a result; true when this
    /// call ended it (of several instances finishing together, exactly one does).
    pub async fn complete_if_done(&self, batch: BatchId) -> StoreResult<bool> {
        let pool = self.shared_pool()?;
        let mut tx = pool.begin().await?;
        lock_batch(&mut tx, batch).await?;
        let ended = sqlx::query(
            "UPDATE batches SET status = 'completed', error_message = NULL, finished_at = $2, \
             started_at = COALESCE(started_at, $2) WHERE id = $1 \
             AND status IN ('queued', 'running') \
             AND NOT EXISTS (SELECT 1 FROM batch_work WHERE batch_id = $1)",
        )
        .bind(batch.0)
        .bind(now_ms())
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if ended {
            let (forget, _) = super::sealed_keys::forget_stale_sql(
                &self.db,
                super::sealed_keys::Scope::Batch(batch.0),
            );
            sqlx::query(&forget).bind(batch.0).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(ended)
    }

    /// The live tallies of a batch's versions (versions without a result have no row).
    pub async fn live_tallies(&self, batch: BatchId) -> StoreResult<Vec<LiveTally>> {
        let pool = self.shared_pool()?;
        Ok(sqlx::query_as(
            "SELECT version_id, rev, completed, passed, errored, score_sum, scored, latency_sum, \
             timed, judged, judge_cached, judge_errors, judge_score_sum FROM batch_tallies \
             WHERE batch_id = $1 ORDER BY version_id",
        )
        .bind(batch.0)
        .fetch_all(pool)
        .await?)
    }

    /// How a batch ended, as recorded (None for an unknown batch).
    pub async fn stored_end(&self, batch: BatchId) -> StoreResult<Option<StoredEnd>> {
        type EndRow = (String, Option<String>, Option<i64>, Option<i64>);
        let row: Option<EndRow> = on_pool!(self, pool =>
            sqlx::query_as(
                "SELECT status, error_message, started_at, finished_at FROM batches WHERE id = $1")
            .bind(batch.0).fetch_optional(pool).await)?;
        let Some((status, error_message, started_at_ms, finished_at_ms)) = row else {
            return Ok(None);
        };
        let status = BatchStatus::parse(&status)
            .ok_or_else(|| StoreError::Corrupt(format!("batch {batch}: status")))?;
        Ok(Some(StoredEnd {
            status,
            error_message,
            started_at_ms,
            finished_at_ms,
        }))
    }

    /// The batch's counts of duplicate work: (tests claimed again, answers stored once of two).
    pub async fn duplicate_work(&self, batch: BatchId) -> StoreResult<(i64, i64)> {
        let row: Option<(i64, i64)> = on_pool!(self, pool => sqlx::query_as(
            "SELECT reclaimed_tests, duplicate_results FROM batches WHERE id = $1")
            .bind(batch.0).fetch_optional(pool).await)?;
        Ok(row.unwrap_or((0, 0)))
    }
}

/// Serialises the claims (and the completion) of one batch, until the transaction ends.
async fn lock_batch(tx: &mut sqlx::PgConnection, batch: BatchId) -> StoreResult<()> {
    sqlx::query("SELECT pg_advisory_xact_lock($1, $2)")
        .bind(LOCK_CLASS)
        .bind(lock_key(batch))
        .execute(tx)
        .await?;
    Ok(())
}

/// The advisory lock's second key: the batch id, folded into 32 bits (two batches sharing a key
/// only wait for each other's claims).
fn lock_key(batch: BatchId) -> i32 {
    (batch.0.rem_euclid(i64::from(i32::MAX))) as i32
}

fn sql_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// The PostgreSQL half of storing a group of results, inside its transaction (after the rows
/// were inserted; `inserted` holds the ones that were new): removes their tests' work rows,
/// adds the new results to their versions' tallies and counts the duplicates.
pub(super) async fn settle_group(
    tx: &mut sqlx::PgConnection,
    results: &[TestResult],
    inserted: &std::collections::HashSet<(i64, i64, i64, i64)>,
) -> StoreResult<StoredGroup> {
    let mut deltas: BTreeMap<(i64, i64), LiveTally> = BTreeMap::new();
    let mut duplicates: BTreeMap<i64, i64> = BTreeMap::new();
    for r in results {
        let key = (
            r.batch_id.0,
            r.version_id.0,
            r.case_id.0,
            i64::from(r.repetition),
        );
        if inserted.contains(&key) {
            deltas
                .entry((r.batch_id.0, r.version_id.0))
                .or_insert_with(|| LiveTally {
                    version_id: r.version_id.0,
                    ..LiveTally::default()
                })
                .add(r);
        } else {
            *duplicates.entry(r.batch_id.0).or_default() += 1;
        }
    }
    let mut group = StoredGroup::default();
    // The batch's row before the work rows, in the order a cancel locks them (`end_batch`).
    for (batch, n) in duplicates {
        sqlx::query("UPDATE batches SET duplicate_results = duplicate_results + $2 WHERE id = $1")
            .bind(batch)
            .bind(n)
            .execute(&mut *tx)
            .await?;
        group.duplicates += n as u64;
    }
    // In runs of powers of two, as the results were inserted: a few statement shapes to cache.
    for chunk in super::power_of_two_runs(results, 256) {
        let mut q = sqlx::QueryBuilder::new(
            "DELETE FROM batch_work WHERE (batch_id, version_id, case_id, repetition) IN ",
        );
        q.push_tuples(chunk, |mut b, r| {
            b.push_bind(r.batch_id.0)
                .push_bind(r.version_id.0)
                .push_bind(r.case_id.0)
                .push_bind(i64::from(r.repetition));
        });
        q.build().execute(&mut *tx).await?;
    }
    for ((batch, _), d) in deltas {
        let t: LiveTally = sqlx::query_as(
            "INSERT INTO batch_tallies AS t (batch_id, version_id, completed, passed, errored, \
             score_sum, scored, latency_sum, timed, judged, judge_cached, judge_errors, \
             judge_score_sum) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) \
             ON CONFLICT (batch_id, version_id) DO UPDATE SET rev = t.rev + 1, \
             completed = t.completed + EXCLUDED.completed, passed = t.passed + EXCLUDED.passed, \
             errored = t.errored + EXCLUDED.errored, score_sum = t.score_sum + EXCLUDED.score_sum, \
             scored = t.scored + EXCLUDED.scored, \
             latency_sum = t.latency_sum + EXCLUDED.latency_sum, timed = t.timed + EXCLUDED.timed, \
             judged = t.judged + EXCLUDED.judged, \
             judge_cached = t.judge_cached + EXCLUDED.judge_cached, \
             judge_errors = t.judge_errors + EXCLUDED.judge_errors, \
             judge_score_sum = t.judge_score_sum + EXCLUDED.judge_score_sum \
             RETURNING version_id, rev, completed, passed, errored, score_sum, scored, \
             latency_sum, timed, judged, judge_cached, judge_errors, judge_score_sum",
        )
        .bind(batch)
        .bind(d.version_id)
        .bind(d.completed)
        .bind(d.passed)
        .bind(d.errored)
        .bind(d.score_sum)
        .bind(d.scored)
        .bind(d.latency_sum)
        .bind(d.timed)
        .bind(d.judged)
        .bind(d.judge_cached)
        .bind(d.judge_errors)
        .bind(d.judge_score_sum)
        .fetch_one(&mut *tx)
        .await?;
        group.tallies.push((BatchId(batch), t));
    }
    Ok(group)
}

/// The work rows of a batch: every test without a result, in dispatch order (PostgreSQL, inside
/// the transaction that creates or re-opens the batch).
pub(super) const PLAN_WORK: &str = "INSERT INTO batch_work \
     (batch_id, version_id, case_id, repetition, seq) \
     SELECT b.id, v.version_id, c.case_id, r.rep, \
     (v.position * b.repeats + r.rep) * n.cases + c.position \
     FROM batches b \
     JOIN batch_versions v ON v.batch_id = b.id \
     JOIN batch_cases c ON c.batch_id = b.id \
     CROSS JOIN (SELECT COUNT(*) AS cases FROM batch_cases WHERE batch_id = $1) n \
     CROSS JOIN LATERAL generate_series(0, b.repeats - 1) AS r(rep) \
     WHERE b.id = $1 AND NOT EXISTS (SELECT 1 FROM results x WHERE x.batch_id = b.id \
     AND x.version_id = v.version_id AND x.case_id = c.case_id AND x.repetition = r.rep) \
     ON CONFLICT DO NOTHING";

/// Recomputes a batch's tallies from its results (PostgreSQL, after a re-run deleted some),
/// raising every revision so that older tallies still travelling between instances lose.
pub(super) const RECOUNT_TALLIES: [&str; 2] = [
    "UPDATE batch_tallies SET rev = rev + 1, completed = 0, passed = 0, errored = 0, \
     score_sum = 0, scored = 0, latency_sum = 0, timed = 0, judged = 0, judge_cached = 0, \
     judge_errors = 0, judge_score_sum = 0 WHERE batch_id = $1",
    "UPDATE batch_tallies t SET rev = t.rev + 1, completed = a.completed, passed = a.passed, \
     errored = a.errored, score_sum = a.score_sum, scored = a.scored, \
     latency_sum = a.latency_sum, timed = a.timed, judged = a.judged, \
     judge_cached = a.judge_cached, judge_errors = a.judge_errors, \
     judge_score_sum = a.judge_score_sum \
     FROM (SELECT version_id, COUNT(*) AS completed, \
           COUNT(*) FILTER (WHERE status = 'passed') AS passed, \
           COUNT(*) FILTER (WHERE status = 'error') AS errored, \
           COALESCE(SUM(score), 0) AS score_sum, COUNT(score) AS scored, \
           COALESCE(SUM(CAST(latency_ms AS DOUBLE PRECISION)), 0) AS latency_sum, \
           COUNT(latency_ms) AS timed, COUNT(judge_score) AS judged, \
           COUNT(*) FILTER (WHERE judge_cached) AS judge_cached, \
           COUNT(*) FILTER (WHERE judge_status = 'error') AS judge_errors, \
           COALESCE(SUM(judge_score), 0) AS judge_score_sum \
           FROM results WHERE batch_id = $1 GROUP BY version_id) a \
     WHERE t.batch_id = $1 AND t.version_id = a.version_id",
];

#[cfg(test)]
mod tests {
    use super::*;

    fn load(v: i64, leased: u64, mine: u64) -> VersionLoad {
        VersionLoad {
            version_id: VersionId(v),
            leased,
            mine,
        }
    }

    #[test]
    fn one_instance_takes_what_it_wants_up_to_the_concurrency() {
        let (budget, rooms) = claim_budget(10, None, 1, 32, &[load(1, 0, 0), load(2, 0, 0)]);
        assert_eq!(budget, 10);
        assert_eq!(rooms, vec![(VersionId(1), 10), (VersionId(2), 10)]);
        // Seven in flight: three more.
        let (budget, _) = claim_budget(10, None, 1, 32, &[load(1, 7, 7)]);
        assert_eq!(budget, 3);
        // It never asks for more than it can send.
        assert_eq!(claim_budget(10, None, 1, 2, &[load(1, 0, 0)]).0, 2);
    }

    #[test]
    fn instances_share_a_batch_fairly_and_never_exceed_its_concurrency() {
        // 300 over three instances: 100 each, whoever claims first.
        assert_eq!(claim_budget(300, None, 3, 500, &[load(1, 0, 0)]).0, 100);
        assert_eq!(claim_budget(300, None, 3, 500, &[load(1, 100, 100)]).0, 0);
        assert_eq!(claim_budget(300, None, 3, 500, &[load(1, 200, 0)]).0, 100);
        // ⌈10 ÷ 3⌉ = 4: the batch's concurrency, not the share, is the last word.
        assert_eq!(claim_budget(10, None, 3, 500, &[load(1, 8, 0)]).0, 2);
        // A vanished instance's leases are not counted once it is gone: the survivors' share
        // grows to 150.
        assert_eq!(claim_budget(300, None, 2, 500, &[load(1, 200, 100)]).0, 50);
        // Concurrency 1 on three instances: one of them.
        assert_eq!(claim_budget(1, None, 3, 8, &[load(1, 0, 0)]).0, 1);
        assert_eq!(claim_budget(1, None, 3, 8, &[load(1, 1, 0)]).0, 0);
    }

    #[test]
    fn a_version_cap_counts_every_instance_leases() {
        let (budget, rooms) = claim_budget(
            100,
            Some(5),
            2,
            40,
            &[load(1, 5, 2), load(2, 3, 0), load(3, 0, 0)],
        );
        assert_eq!(budget, 40);
        assert_eq!(
            rooms,
            vec![(VersionId(1), 0), (VersionId(2), 2), (VersionId(3), 5)]
        );
    }
}
