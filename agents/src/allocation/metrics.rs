//! `task_allocation`: the measures task-allocation papers report, as one metric with a
//! column each.

use super::common::GapMonitor;
use agora_engine::prelude::*;
use agora_engine::task::{Task, TaskState, TaskStats, TaskStatus, Worker};
use serde::{Deserialize, Serialize};

/// The columns, in order.
pub const COLUMNS: [&str; 19] = [
    "released",
    "done",
    "completion_rate",
    "open",
    "wait_mean",
    "wait_p95",
    "latency_mean",
    "latency_p95",
    "makespan",
    "travel",
    "award_time_mean",
    "deadline_misses",
    "optimality_gap",
    "gap_instances",
    "work_gini",
    "dol_index",
    "orphaned",
    "reallocated",
    "recovery_mean",
];

/// Task-allocation measures since the start of the run (NaN where not defined yet):
///
/// | column | meaning |
/// |---|---|
/// | `released`, `done` | tasks arrived, tasks completed |
/// | `completion_rate` | done / released |
/// | `open` | tasks claimable now |
/// | `wait_mean`, `wait_p95` | ticks from release to first work, over completed tasks |
/// | `latency_mean`, `latency_p95` | ticks from release to done, over completed tasks |
/// | `makespan` | the tick the last completed task was done |
/// | `travel` | total distance travelled by workers |
/// | `award_time_mean` | ticks from release to first award |
/// | `deadline_misses` | tasks done late, withdrawn, or overdue and not done |
/// | `optimality_gap` | (cost - optimal cost) / optimal cost of idle agents' awards, against the optimal assignment of the same agents to the places open then (the protocol's own scoring) |
/// | `gap_instances` | ticks that contributed to the gap |
/// | `work_gini` | Gini coefficient of ticks of work per live worker (0 = equal) |
/// | `dol_index` | division of labour: mutual information of worker and task kind over the entropy of kinds (Gorelick et al. 2004; 1 = each worker does one kind) |
/// | `orphaned` | tasks whose holders failed |
/// | `reallocated` | orphaned tasks awarded again |
/// | `recovery_mean` | ticks from losing the holders to the new award |
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskAllocation {
    #[serde(skip)]
    scratch: Vec<u64>,
}

fn mean(xs: &[u64]) -> f64 {
    if xs.is_empty() {
        f64::NAN
    } else {
        xs.iter().sum::<u64>() as f64 / xs.len() as f64
    }
}

/// Nearest-rank 95th percentile.
fn p95(xs: &[u64], scratch: &mut Vec<u64>) -> f64 {
    if xs.is_empty() {
        return f64::NAN;
    }
    scratch.clear();
    scratch.extend_from_slice(xs);
    scratch.sort_unstable();
    let rank = (0.95 * scratch.len() as f64).ceil() as usize;
    scratch[rank.clamp(1, scratch.len()) - 1] as f64
}

/// Gini coefficient of non-negative values (in any order): 0 for equal shares, NaN when all
/// are zero or there are none.
pub fn gini(values: &mut [f64]) -> f64 {
    let n = values.len() as f64;
    let total: f64 = values.iter().sum();
    if values.is_empty() || total <= 0.0 {
        return f64::NAN;
    }
    values.sort_unstable_by(f64::total_cmp);
    let weighted: f64 = values
        .iter()
        .enumerate()
        .map(|(i, &x)| (i as f64 + 1.0) * x)
        .sum();
    (2.0 * weighted / (n * total) - (n + 1.0) / n).max(0.0)
}

/// Normalised mutual information of agent and task kind over the entropy of kind, from
/// per-agent work per kind (rows in agent-id order). NaN without work or with a single kind.
pub fn division_of_labour(rows: &[Vec<u64>]) -> f64 {
    let kinds = rows.iter().map(Vec::len).max().unwrap_or(0);
    let mut by_kind = vec![0.0; kinds];
    let mut total = 0.0;
    for row in rows {
        for (k, &c) in row.iter().enumerate() {
            by_kind[k] += c as f64;
            total += c as f64;
        }
    }
    if total <= 0.0 {
        return f64::NAN;
    }
    let h: f64 = by_kind
        .iter()
        .filter(|&&c| c > 0.0)
        .map(|&c| {
            let p = c / total;
            -p * p.ln()
        })
        .sum();
    if h <= 0.0 {
        return f64::NAN;
    }
    let mut info = 0.0;
    for row in rows {
        let p_i = row.iter().sum::<u64>() as f64 / total;
        for (k, &c) in row.iter().enumerate() {
            if c > 0 {
                let p = c as f64 / total;
                info += p * (p / (p_i * by_kind[k] / total)).ln();
            }
        }
    }
    (info / h).clamp(0.0, 1.0)
}

impl Metric for TaskAllocation {
    const NAME: &'static str = "task_allocation";
    const SUMMARY: &'static str =
        "Tasks done, completion rate, waits, latencies, makespan, travel, gap, fairness, recovery.";

    fn columns(&self) -> Vec<String> {
        COLUMNS.iter().map(|c| (*c).to_owned()).collect()
    }

    fn compute(&mut self, world: &mut World, out: &mut Vec<f64>) {
        let Some(stats) = world.get_resource::<TaskStats>().cloned() else {
            out.extend(std::iter::repeat_n(f64::NAN, COLUMNS.len()));
            return;
        };
        let now = world.resource::<Tick>().0;
        let gap = world
            .get_resource::<GapMonitor>()
            .map_or((f64::NAN, 0), |g| (g.gap(), g.instances));
        let mut q = world.query::<(&Task, &TaskState)>();
        let mut open = 0u64;
        let mut overdue = 0u64;
        for (t, s) in q.iter(world) {
            open += u64::from(s.status == TaskStatus::Open);
            // Metrics describe the state after tick `now` (state `now + 1`); a live task
            // whose deadline is before that is overdue. (At the initial record, before any
            // tick, this counts a deadline of 0 one tick early.)
            if !s.status.is_final() && t.deadline.is_some_and(|d| d <= now) {
                overdue += 1;
            }
        }
        let mut wq = world.query::<(&AgentId, &Worker)>();
        let mut workers: Vec<(u32, f64, f64, Vec<u64>)> = wq
            .iter(world)
            .map(|(id, w)| {
                (
                    id.0,
                    w.travelled(),
                    w.worked() as f64,
                    w.work_by_kind().to_vec(),
                )
            })
            .collect();
        workers.sort_unstable_by_key(|w| w.0);
        let travel: f64 = workers.iter().map(|w| w.1).sum();
        let mut work: Vec<f64> = workers.iter().map(|w| w.2).collect();
        let rows: Vec<Vec<u64>> = workers.into_iter().map(|w| w.3).collect();
        let rate = if stats.released == 0 {
            f64::NAN
        } else {
            stats.done as f64 / stats.released as f64
        };
        out.extend([
            stats.released as f64,
            stats.done as f64,
            rate,
            open as f64,
            mean(&stats.waits),
            p95(&stats.waits, &mut self.scratch),
            mean(&stats.latencies),
            p95(&stats.latencies, &mut self.scratch),
            stats.makespan as f64,
            travel,
            mean(&stats.award_times),
            (stats.done_late + stats.expired + overdue) as f64,
            gap.0,
            gap.1 as f64,
            gini(&mut work),
            division_of_labour(&rows),
            stats.orphaned as f64,
            stats.reallocated as f64,
            mean(&stats.recovery_times),
        ]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gini_and_dol_on_hand_computed_cases() {
        assert_eq!(gini(&mut [1.0, 1.0, 1.0]), 0.0);
        // One of four does everything: G = 1 - 1/n.
        assert!((gini(&mut [0.0, 0.0, 4.0, 0.0]) - 0.75).abs() < 1e-12);
        assert!(gini(&mut [0.0, 0.0]).is_nan());
        // Pairwise definition: sum |xi - xj| / (2 n^2 mean) for [1, 2, 3] = 8 / 36.
        assert!((gini(&mut [3.0, 1.0, 2.0]) - 8.0 / 36.0).abs() < 1e-12);

        assert_eq!(division_of_labour(&[vec![5, 0], vec![0, 5]]), 1.0);
        assert_eq!(division_of_labour(&[vec![3, 3], vec![2, 2]]), 0.0);
        assert!(division_of_labour(&[vec![3], vec![2]]).is_nan());
        let partial = division_of_labour(&[vec![4, 1], vec![1, 4]]);
        assert!(partial > 0.0 && partial < 1.0);
    }

    #[test]
    fn percentile_is_nearest_rank() {
        let mut s = Vec::new();
        let xs: Vec<u64> = (1..=20).collect();
        assert_eq!(p95(&xs, &mut s), 19.0);
        assert_eq!(p95(&[7], &mut s), 7.0);
        assert!(p95(&[], &mut s).is_nan());
    }
}
