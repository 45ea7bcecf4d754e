//! `task_allocation`: the measures task-allocation papers report, as one metric with a
//! column each.

use super::common::GapMonitor;
use super::protocols::ProtocolStats;
use crate::metrics::DivisionOfLabor;
use agora_engine::comms::Performative;
use agora_engine::prelude::*;
use agora_engine::stats;
use agora_engine::task::{Task, TaskState, TaskStats, TaskStatus, Worker};
use serde::{Deserialize, Serialize};

/// The columns, in order.
pub const COLUMNS: [&str; 33] = [
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
    "award_time_p95",
    "deadline_misses",
    "optimality_gap",
    "gap_instances",
    "work_gini",
    "dol_index",
    "orphaned",
    "reallocated",
    "recovery_mean",
    "messages_per_task",
    "bytes_per_task",
    "cfp_per_task",
    "propose_per_task",
    "refuse_per_task",
    "accept_per_task",
    "reject_per_task",
    "inform_per_task",
    "failure_per_task",
    "cancel_per_task",
    "rounds_mean",
    "reannounced",
    "calls_timed_out",
];

/// The performatives counted per task, in column order.
const PERFORMATIVES: [Performative; 8] = [
    Performative::Cfp,
    Performative::Propose,
    Performative::Refuse,
    Performative::AcceptProposal,
    Performative::RejectProposal,
    Performative::Inform,
    Performative::Failure,
    Performative::Cancel,
];

/// Task-allocation measures since the start of the run (NaN where not defined yet):
///
/// | column | meaning |
/// |---|---|
/// | `released`, `done` | tasks arrived, tasks completed |
/// | `completion_rate` | done / released |
/// | `open` | tasks claimable now |
/// | `wait_mean`, `wait_p95` | ticks from release to first work, over completed tasks (percentiles interpolate, as in [`agora_engine::stats::quantile_sorted`]) |
/// | `latency_mean`, `latency_p95` | ticks from release to done, over completed tasks |
/// | `makespan` | the tick the last completed task was done |
/// | `travel` | total distance travelled by workers |
/// | `award_time_mean`, `award_time_p95` | time to award: ticks from release to first award |
/// | `deadline_misses` | tasks done late, withdrawn, or overdue and not done |
/// | `optimality_gap` | (cost - optimal cost) / optimal cost of idle agents' awards, against the optimal assignment of the same agents to the places open then (the protocol's own scoring) |
/// | `gap_instances` | ticks that contributed to the gap |
/// | `work_gini` | load balance: Gini coefficient ([`agora_engine::stats::gini`]) of ticks of work per live worker (0 = equal; NaN before any work) |
/// | `dol_index` | division of labour: the `division_of_labor` metric over the workers' [`agora_engine::TaskTally`]s (task kind = lowest required skill; 1 = each worker does one kind) |
/// | `orphaned` | tasks whose holders failed |
/// | `reallocated` | orphaned tasks awarded again |
/// | `recovery_mean` | time to recover: ticks from losing the holders to the new award |
/// | `messages_per_task`, `bytes_per_task` | message copies and payload bytes sent on every bus, per released task (the bus's accounting; 0 for protocols that do not talk) |
/// | `cfp_per_task` ... `cancel_per_task` | copies per released task with each performative: `cfp`, `propose`, `refuse`, `accept-proposal`, `reject-proposal`, `inform`, `failure`, `cancel` |
/// | `rounds_mean` | rounds per allocation: contract-net calls per award, SSI rounds per auction, CBBA consensus rounds to agreement per epoch (NaN for other protocols) |
/// | `reannounced` | tasks announced or auctioned again (failed or lost awards, failed managers, no offers) |
/// | `calls_timed_out` | awaited answers to calls that had not come by the reply-by deadline |
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskAllocation {
    #[serde(skip)]
    sorted: Vec<f64>,
    #[serde(skip)]
    work: Vec<(u32, f64, f64)>,
    #[serde(skip)]
    shares: Vec<f64>,
    /// `dol_index` is the `division_of_labor` metric's value, over the same tallies.
    #[serde(skip)]
    dol: DivisionOfLabor,
    #[serde(skip)]
    dol_out: Vec<f64>,
}

fn mean(xs: &[u64]) -> f64 {
    if xs.is_empty() {
        f64::NAN
    } else {
        xs.iter().sum::<u64>() as f64 / xs.len() as f64
    }
}

/// The 95th percentile as the engine's statistics define it (linear interpolation, what
/// analysts recompute from the raw data); NaN without data.
fn p95(xs: &[u64], sorted: &mut Vec<f64>) -> f64 {
    sorted.clear();
    sorted.extend(xs.iter().map(|&x| x as f64));
    sorted.sort_unstable_by(f64::total_cmp);
    stats::quantile_sorted(sorted, 0.95).unwrap_or(f64::NAN)
}

impl Metric for TaskAllocation {
    const NAME: &'static str = "task_allocation";
    const SUMMARY: &'static str =
        "Tasks done, completion rate, waits, latencies, makespan, travel, gap, fairness, recovery.";

    fn columns(&self) -> Vec<String> {
        COLUMNS.iter().map(|c| (*c).to_owned()).collect()
    }

    fn compute(&mut self, world: &mut World, out: &mut Vec<f64>) {
        let Some(stats) = world.get_resource::<TaskStats>() else {
            out.extend(std::iter::repeat_n(f64::NAN, COLUMNS.len()));
            return;
        };
        let rate = if stats.released == 0 {
            f64::NAN
        } else {
            stats.done as f64 / stats.released as f64
        };
        let from_stats = [
            stats.released as f64,
            stats.done as f64,
            rate,
            mean(&stats.waits),
            p95(&stats.waits, &mut self.sorted),
            mean(&stats.latencies),
            p95(&stats.latencies, &mut self.sorted),
            stats.makespan as f64,
            mean(&stats.award_times),
            p95(&stats.award_times, &mut self.sorted),
            (stats.done_late + stats.expired) as f64,
            stats.orphaned as f64,
            stats.reallocated as f64,
            mean(&stats.recovery_times),
        ];
        let [
            released,
            done,
            rate,
            wait_mean,
            wait_p95,
            latency_mean,
            latency_p95,
            makespan,
            award_mean,
            award_p95,
            missed,
            orphaned,
            reallocated,
            recovery_mean,
        ] = from_stats;
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
        self.work.clear();
        self.work.extend(
            wq.iter(world)
                .map(|(id, w)| (id.0, w.worked() as f64, w.travelled())),
        );
        // Sums in agent-id order, so the total does not depend on entity order.
        self.work.sort_unstable_by_key(|w| w.0);
        let travel: f64 = self.work.iter().map(|w| w.2).sum();
        self.shares.clear();
        self.shares.extend(self.work.iter().map(|w| w.1));
        let work_gini = if self.shares.iter().all(|&w| w == 0.0) {
            f64::NAN
        } else {
            stats::gini_in_place(&mut self.shares).unwrap_or(f64::NAN)
        };
        self.dol_out.clear();
        self.dol.compute(world, &mut self.dol_out);
        let dol = self.dol_out.first().copied().unwrap_or(f64::NAN);
        let per_task = |v: u64| {
            if released > 0.0 {
                v as f64 / released
            } else {
                f64::NAN
            }
        };
        let c = agora_engine::comms::counters(world);
        let protocol = world.get_resource::<ProtocolStats>();
        let (rounds_mean, reannounced, timed_out) = protocol.map_or((f64::NAN, 0.0, 0.0), |s| {
            (s.rounds_mean(), s.reannounced as f64, s.timed_out as f64)
        });
        out.extend([
            released,
            done,
            rate,
            open as f64,
            wait_mean,
            wait_p95,
            latency_mean,
            latency_p95,
            makespan,
            travel,
            award_mean,
            award_p95,
            missed + overdue as f64,
            gap.0,
            gap.1 as f64,
            work_gini,
            dol,
            orphaned,
            reallocated,
            recovery_mean,
            per_task(c.sent),
            per_task(c.bytes_sent),
        ]);
        out.extend(PERFORMATIVES.iter().map(|&p| per_task(c.sent_with(p))));
        out.extend([rounds_mean, reannounced, timed_out]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentile_interpolates_like_the_engine_summary() {
        let mut s = Vec::new();
        let xs: Vec<u64> = (1..=20).collect();
        assert!((p95(&xs, &mut s) - 19.05).abs() < 1e-12);
        assert_eq!(p95(&[7], &mut s), 7.0);
        assert!(p95(&[], &mut s).is_nan());
    }
}
