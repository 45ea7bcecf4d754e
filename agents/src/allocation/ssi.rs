//! Sequential single-item (SSI) auctions for multi-robot routing, as a pure round-based
//! procedure: one target is awarded per round to the globally lowest single bid.

use super::insertion::{Point, RouteBid, minimax_bid, minisum_bid, path_cost};
use thiserror::Error;

/// The team objective, which fixes the bidding rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SsiObjective {
    /// Total travel distance; agents bid their marginal path cost (BidSumPath).
    MiniSum,
    /// Longest path (makespan); agents bid their resulting path cost (BidMaxPath).
    MiniMax,
}

/// Result of an SSI auction.
#[derive(Debug, Clone, PartialEq)]
pub struct SsiOutcome {
    /// Per agent, its targets in execution order (cheapest insertion as each was won).
    pub paths: Vec<Vec<usize>>,
    /// Per target, the winning agent.
    pub winners: Vec<usize>,
    /// Per agent, its open path length.
    pub path_costs: Vec<f64>,
    /// Number of auction rounds (one per target).
    pub rounds: usize,
    /// Transmissions: one announcement, one bid per agent and one award per round, m(n+2).
    pub messages: usize,
}

impl SsiOutcome {
    /// Sum of path lengths (the MiniSum team cost).
    pub fn sum_cost(&self) -> f64 {
        self.path_costs.iter().sum()
    }

    /// Longest path length (the MiniMax team cost); 0 with no agents.
    pub fn max_cost(&self) -> f64 {
        self.path_costs.iter().copied().fold(0.0, f64::max)
    }
}

/// Errors from [`sequential_single_item`].
#[derive(Debug, Clone, PartialEq, Error)]
#[non_exhaustive]
pub enum SsiError {
    /// There are targets but nobody to bid on them.
    #[error("{targets} targets to allocate but no agents, expected at least one agent")]
    NoAgents {
        /// Number of targets.
        targets: usize,
    },
    /// An agent start has a non-finite coordinate.
    #[error("agent {0} start position is not finite")]
    BadStart(usize),
    /// A target has a non-finite coordinate.
    #[error("target {0} location is not finite")]
    BadTarget(usize),
}

/// Runs SSI: each round every agent bids on its single best unallocated target (lowest bid,
/// ties by target id), the lowest (bid, agent id, target id) wins and the target is inserted
/// into the winner's path at its cheapest position; repeat until every target is allocated.
pub fn sequential_single_item(
    starts: &[Point],
    targets: &[Point],
    objective: SsiObjective,
) -> Result<SsiOutcome, SsiError> {
    if starts.is_empty() && !targets.is_empty() {
        return Err(SsiError::NoAgents {
            targets: targets.len(),
        });
    }
    if let Some(a) = starts.iter().position(|p| !p.is_finite()) {
        return Err(SsiError::BadStart(a));
    }
    if let Some(t) = targets.iter().position(|p| !p.is_finite()) {
        return Err(SsiError::BadTarget(t));
    }
    let n = starts.len();
    let mut paths: Vec<Vec<usize>> = vec![Vec::new(); n];
    let mut points: Vec<Vec<Point>> = vec![Vec::new(); n];
    let mut winners = vec![usize::MAX; targets.len()];
    let mut unallocated: Vec<usize> = (0..targets.len()).collect();
    let bid_fn = match objective {
        SsiObjective::MiniSum => minisum_bid,
        SsiObjective::MiniMax => minimax_bid,
    };
    let mut rounds = 0;
    while !unallocated.is_empty() {
        rounds += 1;
        let mut best: Option<(f64, usize, usize, usize)> = None;
        for (agent, &start) in starts.iter().enumerate() {
            // Each agent submits only its single best bid; ascending target order plus a
            // strict comparison keeps the lowest target id on ties.
            let mut own: Option<(RouteBid, usize)> = None;
            for &t in &unallocated {
                let bid = bid_fn(start, &points[agent], targets[t]);
                if own.is_none_or(|(b, _)| bid.value < b.value) {
                    own = Some((bid, t));
                }
            }
            if let Some((bid, t)) = own {
                // Agents are visited in ascending id and each names one target, so a strict
                // comparison implements the (bid, agent id, target id) tie rule.
                if best.is_none_or(|(v, ..)| bid.value < v) {
                    best = Some((bid.value, agent, t, bid.position));
                }
            }
        }
        let Some((_, agent, t, position)) = best else {
            break;
        };
        paths[agent].insert(position, t);
        points[agent].insert(position, targets[t]);
        winners[t] = agent;
        unallocated.retain(|&u| u != t);
    }
    let path_costs = starts
        .iter()
        .zip(&points)
        .map(|(&s, p)| path_cost(s, p))
        .collect();
    Ok(SsiOutcome {
        paths,
        winners,
        path_costs,
        rounds,
        messages: rounds * (n + 2),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Exact optimal open path cost from `start` over each subset of `targets` (Held–Karp).
    fn exact_path_costs(start: Point, targets: &[Point]) -> Vec<f64> {
        let m = targets.len();
        let full = 1usize << m;
        let mut dp = vec![f64::INFINITY; full * m];
        for j in 0..m {
            dp[(1 << j) * m + j] = start.dist(targets[j]);
        }
        for mask in 1..full {
            for last in 0..m {
                let cur = dp[mask * m + last];
                if cur == f64::INFINITY {
                    continue;
                }
                for next in 0..m {
                    if mask & (1 << next) == 0 {
                        let nm = mask | (1 << next);
                        let c = cur + targets[last].dist(targets[next]);
                        if c < dp[nm * m + next] {
                            dp[nm * m + next] = c;
                        }
                    }
                }
            }
        }
        (0..full)
            .map(|mask| {
                if mask == 0 {
                    0.0
                } else {
                    (0..m)
                        .map(|l| dp[mask * m + l])
                        .fold(f64::INFINITY, f64::min)
                }
            })
            .collect()
    }

    /// Exact optimum over all partitions of targets among agents, each with its best path.
    fn exact_optimum(starts: &[Point], targets: &[Point]) -> (f64, f64) {
        let full = 1usize << targets.len();
        let pcs: Vec<Vec<f64>> = starts
            .iter()
            .map(|&s| exact_path_costs(s, targets))
            .collect();
        // sum[k][mask]: best MiniSum using agents 0..k for targets in mask; same for max.
        let mut sum = vec![f64::INFINITY; full];
        let mut max = vec![f64::INFINITY; full];
        sum[0] = 0.0;
        max[0] = 0.0;
        for pc in &pcs {
            let mut nsum = vec![f64::INFINITY; full];
            let mut nmax = vec![f64::INFINITY; full];
            for mask in 0..full {
                let mut sub = mask;
                loop {
                    let rest = mask ^ sub;
                    nsum[mask] = nsum[mask].min(sum[rest] + pc[sub]);
                    nmax[mask] = nmax[mask].min(max[rest].max(pc[sub]));
                    if sub == 0 {
                        break;
                    }
                    sub = (sub - 1) & mask;
                }
            }
            sum = nsum;
            max = nmax;
        }
        (sum[full - 1], max[full - 1])
    }

    fn arb_point() -> impl Strategy<Value = Point> {
        (0.0f64..10.0, 0.0f64..10.0).prop_map(|(x, y)| Point::new(x, y))
    }

    fn check_partition(out: &SsiOutcome, m: usize) {
        let mut seen = vec![false; m];
        for (a, p) in out.paths.iter().enumerate() {
            for &t in p {
                assert!(!seen[t]);
                seen[t] = true;
                assert_eq!(out.winners[t], a);
            }
        }
        assert!(seen.iter().all(|&s| s));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]
        #[test]
        fn minisum_within_twice_optimal(
            starts in proptest::collection::vec(arb_point(), 2..=3),
            targets in proptest::collection::vec(arb_point(), 1..=6),
        ) {
            let out = sequential_single_item(&starts, &targets, SsiObjective::MiniSum).unwrap();
            check_partition(&out, targets.len());
            let (opt_sum, opt_max) = exact_optimum(&starts, &targets);
            prop_assert!(out.sum_cost() >= opt_sum - 1e-9);
            prop_assert!(out.sum_cost() <= 2.0 * opt_sum + 1e-9,
                "ssi {} vs optimum {}", out.sum_cost(), opt_sum);
            prop_assert_eq!(out.rounds, targets.len());
            prop_assert_eq!(out.messages, targets.len() * (starts.len() + 2));

            let mm = sequential_single_item(&starts, &targets, SsiObjective::MiniMax).unwrap();
            check_partition(&mm, targets.len());
            prop_assert!(mm.max_cost() >= opt_max - 1e-9);
        }
    }

    #[test]
    fn hand_computed_two_agents() {
        // Agents at x=0 and x=10; targets at x=1, 2 and 9 on a line.
        let starts = [Point::new(0.0, 0.0), Point::new(10.0, 0.0)];
        let targets = [
            Point::new(1.0, 0.0),
            Point::new(2.0, 0.0),
            Point::new(9.0, 0.0),
        ];
        let out = sequential_single_item(&starts, &targets, SsiObjective::MiniSum).unwrap();
        // Round 1: bids 1 (agent 0, t0) and 1 (agent 1, t2): tie on bid -> agent 0.
        // Round 2: agent 0 bids 1 on t1, agent 1 bids 1 on t2: tie -> agent 0 takes t1.
        // Round 3: agent 0 bids 7 on t2, agent 1 bids 1 -> agent 1.
        assert_eq!(out.paths, vec![vec![0, 1], vec![2]]);
        assert_eq!(out.path_costs, vec![2.0, 1.0]);
        assert_eq!((out.rounds, out.messages), (3, 12));
        // MiniMax: round 2 agent 0 bids path cost 2 on t1, agent 1 bids 1 on t2 -> agent 1.
        let mm = sequential_single_item(&starts, &targets, SsiObjective::MiniMax).unwrap();
        assert_eq!(mm.paths, vec![vec![0, 1], vec![2]]);
        assert_eq!(mm.max_cost(), 2.0);
    }

    #[test]
    fn minimax_balances_where_minisum_does_not() {
        // Two targets next to agent 0; agent 1 far away. MiniSum gives both to agent 0,
        // MiniMax's bid counts the whole path and hands the second to agent 1 when cheaper.
        let starts = [Point::new(0.0, 0.0), Point::new(0.0, 4.0)];
        let targets = [Point::new(3.0, 0.0), Point::new(3.0, 2.0)];
        let sum = sequential_single_item(&starts, &targets, SsiObjective::MiniSum).unwrap();
        assert_eq!(sum.paths, vec![vec![0, 1], vec![]]);
        let max = sequential_single_item(&starts, &targets, SsiObjective::MiniMax).unwrap();
        assert_eq!(max.paths, vec![vec![0], vec![1]]);
        assert!(max.max_cost() < sum.max_cost());
    }

    #[test]
    fn edge_cases_and_errors() {
        let out = sequential_single_item(&[], &[], SsiObjective::MiniSum).unwrap();
        assert_eq!((out.rounds, out.messages), (0, 0));
        assert_eq!(
            sequential_single_item(&[], &[Point::default()], SsiObjective::MiniSum),
            Err(SsiError::NoAgents { targets: 1 })
        );
        assert_eq!(
            sequential_single_item(
                &[Point::default()],
                &[Point::new(f64::INFINITY, 0.0)],
                SsiObjective::MiniSum
            ),
            Err(SsiError::BadTarget(0))
        );
    }
}
