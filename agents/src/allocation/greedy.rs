//! Centralised sequential greedy assignment (SGA): the single-assignment baseline on a
//! matrix, and the multi-assignment variant driven by marginal scores, which is the
//! solution CBBA reproduces under diminishing marginal gains.

use super::lap::{Assignment, CostMatrix, LapError, Objective};
use thiserror::Error;

/// The value of adding a task to an agent's path, and where in the path it goes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Marginal {
    /// Score increase from inserting the task (higher is better).
    pub gain: f64,
    /// Insertion index into the current path, in `0..=path.len()`.
    pub position: usize,
}

/// A marginal-score oracle: `marginal(agent, path, task)` is the best insertion of `task`
/// into `agent`'s `path`, or `None` when the agent cannot do the task.
///
/// It must be a pure function of its arguments (mutable only for scratch buffers): SGA
/// caches gains of agents whose path did not change, and CBBA's equivalence with SGA relies
/// on both computing bit-identical gains for the same `(agent, path, task)`.
pub trait MarginalScore {
    /// The best insertion of `task` into `path` for `agent`.
    fn marginal(&mut self, agent: usize, path: &[usize], task: usize) -> Option<Marginal>;
}

impl<F> MarginalScore for F
where
    F: FnMut(usize, &[usize], usize) -> Option<Marginal>,
{
    fn marginal(&mut self, agent: usize, path: &[usize], task: usize) -> Option<Marginal> {
        self(agent, path, task)
    }
}

/// Errors from the greedy procedures.
#[derive(Debug, Clone, PartialEq, Error)]
#[non_exhaustive]
pub enum GreedyError {
    /// The cost matrix is malformed or holds a NaN or unbounded entry.
    #[error(transparent)]
    Matrix(#[from] LapError),
    /// The scorer returned a NaN gain.
    #[error("scorer gave a NaN gain for agent {agent} and task {task}")]
    NotANumber {
        /// Agent asked.
        agent: usize,
        /// Task asked.
        task: usize,
    },
    /// The scorer returned an insertion index past the end of the path.
    #[error(
        "scorer gave insertion position {position} for agent {agent} and task {task}, expected at most the path length {len}"
    )]
    BadPosition {
        /// Agent asked.
        agent: usize,
        /// Task asked.
        task: usize,
        /// Returned position.
        position: usize,
        /// Path length at the time.
        len: usize,
    },
}

/// Single-assignment SGA on a matrix: repeatedly take the best remaining (row, column) pair
/// (lowest cost, or highest profit), ties broken by lowest (row, column). Forbidden pairs
/// (`+∞` cost, `-∞` profit) are never taken; the result may leave rows unassigned even when
/// a complete assignment exists, which is the point of comparing it with the optimum.
pub fn greedy_assignment(
    matrix: &CostMatrix,
    objective: Objective,
) -> Result<Assignment, GreedyError> {
    let CostMatrix { rows, cols, .. } = *matrix;
    if matrix.data.len() != rows.saturating_mul(cols) {
        return Err(LapError::DataLength {
            rows,
            cols,
            len: matrix.data.len(),
        }
        .into());
    }
    let mut pairs: Vec<(f64, usize)> = Vec::with_capacity(matrix.data.len());
    for (at, &value) in matrix.data.iter().enumerate() {
        let (row, col) = (at / cols, at % cols);
        if value.is_nan() {
            return Err(LapError::NotANumber { row, col }.into());
        }
        let key = match objective {
            Objective::Minimize => value,
            Objective::Maximize => -value,
        };
        if key == f64::NEG_INFINITY {
            return Err(LapError::Unbounded { row, col, value }.into());
        }
        if key.is_finite() {
            pairs.push((key, at));
        }
    }
    // Row-major index order is (row, column) order, so it is the tie-break.
    pairs.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    let mut row_to_col = vec![None; rows];
    let mut col_used = vec![false; cols];
    let mut left = rows.min(cols);
    for &(_, at) in &pairs {
        if left == 0 {
            break;
        }
        let (row, col) = (at / cols, at % cols);
        if row_to_col[row].is_none() && !col_used[col] {
            row_to_col[row] = Some(col);
            col_used[col] = true;
            left -= 1;
        }
    }
    let total_cost = row_to_col
        .iter()
        .enumerate()
        .filter_map(|(r, c)| c.map(|c| matrix.data[r * cols + c]))
        .sum();
    Ok(Assignment {
        row_to_col,
        total_cost,
    })
}

/// A multi-assignment: each agent's tasks in the order won and in execution order.
#[derive(Debug, Clone, PartialEq)]
pub struct BundleAssignment {
    /// Per agent, tasks in the order they were added.
    pub bundles: Vec<Vec<usize>>,
    /// Per agent, tasks in execution order.
    pub paths: Vec<Vec<usize>>,
    /// Per task, the agent that holds it (`None` if unassigned).
    pub winners: Vec<Option<usize>>,
    /// Per task, the marginal gain it was won with (0 if unassigned).
    pub bids: Vec<f64>,
}

impl BundleAssignment {
    /// Sum of the winning marginal gains, which telescopes to the sum of path scores.
    pub fn total_gain(&self) -> f64 {
        self.bids.iter().sum()
    }
}

/// Multi-assignment SGA: every iteration gives the globally best (agent, task) marginal gain
/// to that agent, inserting the task at the scorer's position, until no agent with fewer
/// than `max_tasks_per_agent` tasks has a strictly positive gain on an unassigned task.
/// Ties go to the lowest (agent id, task id).
pub fn sequential_greedy(
    num_agents: usize,
    num_tasks: usize,
    max_tasks_per_agent: usize,
    scorer: &mut impl MarginalScore,
) -> Result<BundleAssignment, GreedyError> {
    let mut out = BundleAssignment {
        bundles: vec![Vec::new(); num_agents],
        paths: vec![Vec::new(); num_agents],
        winners: vec![None; num_tasks],
        bids: vec![0.0; num_tasks],
    };
    // Only the winning agent's path changes per iteration, so every other agent's gains stay
    // valid; caching them turns O(agents·tasks) scorer calls per iteration into O(tasks).
    let mut gains: Vec<Option<Marginal>> = vec![None; num_agents * num_tasks];
    for agent in 0..num_agents {
        refresh(
            agent,
            num_tasks,
            &out,
            scorer,
            &mut gains,
            max_tasks_per_agent,
        )?;
    }
    loop {
        let mut best: Option<(f64, usize, usize, usize)> = None;
        for agent in 0..num_agents {
            for task in 0..num_tasks {
                if out.winners[task].is_some() {
                    continue;
                }
                if let Some(m) = gains[agent * num_tasks + task]
                    && m.gain > 0.0
                    && best.is_none_or(|b| m.gain > b.0)
                {
                    best = Some((m.gain, agent, task, m.position));
                }
            }
        }
        let Some((gain, agent, task, position)) = best else {
            break;
        };
        out.winners[task] = Some(agent);
        out.bids[task] = gain;
        out.bundles[agent].push(task);
        out.paths[agent].insert(position, task);
        refresh(
            agent,
            num_tasks,
            &out,
            scorer,
            &mut gains,
            max_tasks_per_agent,
        )?;
    }
    Ok(out)
}

fn refresh(
    agent: usize,
    num_tasks: usize,
    out: &BundleAssignment,
    scorer: &mut impl MarginalScore,
    gains: &mut [Option<Marginal>],
    cap: usize,
) -> Result<(), GreedyError> {
    let path = &out.paths[agent];
    let full = path.len() >= cap;
    for task in 0..num_tasks {
        let slot = &mut gains[agent * num_tasks + task];
        *slot = if full || out.winners[task].is_some() {
            None
        } else {
            checked_marginal(scorer, agent, path, task)?
        };
    }
    Ok(())
}

/// Calls the scorer and rejects NaN gains and out-of-range positions.
pub(super) fn checked_marginal(
    scorer: &mut impl MarginalScore,
    agent: usize,
    path: &[usize],
    task: usize,
) -> Result<Option<Marginal>, GreedyError> {
    let Some(m) = scorer.marginal(agent, path, task) else {
        return Ok(None);
    };
    if m.gain.is_nan() {
        return Err(GreedyError::NotANumber { agent, task });
    }
    if m.position > path.len() {
        return Err(GreedyError::BadPosition {
            agent,
            task,
            position: m.position,
            len: path.len(),
        });
    }
    Ok(Some(m))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn greedy_matrix_hand_computed() {
        // Costs: the global minimum 1 at (0,0) is taken first, then (1,1)=5 is forced.
        let m = CostMatrix::new(2, 2, vec![1.0, 2.0, 2.0, 5.0]).unwrap();
        let a = greedy_assignment(&m, Objective::Minimize).unwrap();
        assert_eq!(a.row_to_col, vec![Some(0), Some(1)]);
        assert_eq!(a.total_cost, 6.0);
        // The optimum is 4 (anti-diagonal): greedy is suboptimal here by construction.
        assert_eq!(super::super::lap::minimize(&m).unwrap().total_cost, 4.0);
        let a = greedy_assignment(&m, Objective::Maximize).unwrap();
        assert_eq!(a.row_to_col, vec![Some(0), Some(1)]);
    }

    #[test]
    fn greedy_matrix_ties_go_to_lowest_row_then_column() {
        let m = CostMatrix::filled(3, 3, 1.0);
        let a = greedy_assignment(&m, Objective::Minimize).unwrap();
        assert_eq!(a.row_to_col, vec![Some(0), Some(1), Some(2)]);
        let mut m = CostMatrix::filled(2, 3, 4.0);
        m.forbid(0, 0).unwrap();
        let a = greedy_assignment(&m, Objective::Minimize).unwrap();
        assert_eq!(a.row_to_col, vec![Some(1), Some(0)]);
    }

    #[test]
    fn greedy_matrix_can_get_stuck_on_forbidden_pairs() {
        let mut m = CostMatrix::new(2, 2, vec![1.0, 2.0, 3.0, 0.0]).unwrap();
        m.forbid(1, 1).unwrap();
        // Greedy takes (0,0) and then row 1 only has the forbidden column left.
        let a = greedy_assignment(&m, Objective::Minimize).unwrap();
        assert_eq!(a.row_to_col, vec![Some(0), None]);
        assert_eq!(super::super::lap::minimize(&m).unwrap().total_cost, 5.0);
    }

    #[test]
    fn greedy_matrix_rejects_nan() {
        let m = CostMatrix::new(1, 1, vec![f64::NAN]).unwrap();
        assert!(matches!(
            greedy_assignment(&m, Objective::Minimize),
            Err(GreedyError::Matrix(LapError::NotANumber { .. }))
        ));
    }

    proptest! {
        /// With non-negative profits, greedy reaches at least half the optimum (the classic
        /// greedy matching bound).
        #[test]
        fn greedy_profit_is_at_least_half_of_optimum(
            (rows, cols, data) in (1usize..=6, 1usize..=6).prop_flat_map(|(r, c)| {
                (Just(r), Just(c), proptest::collection::vec(0u32..100, r * c))
            })
        ) {
            let m = CostMatrix { rows, cols, data: data.into_iter().map(f64::from).collect() };
            let g = greedy_assignment(&m, Objective::Maximize).unwrap();
            let opt = super::super::lap::maximize(&m).unwrap();
            prop_assert!(2.0 * g.total_cost >= opt.total_cost);
            prop_assert!(g.total_cost <= opt.total_cost);
        }

        /// With L = 1 and path-independent gains, multi-assignment SGA equals matrix SGA.
        #[test]
        fn single_task_sga_matches_matrix_greedy(
            (rows, cols, data) in (1usize..=6, 1usize..=6).prop_flat_map(|(r, c)| {
                (Just(r), Just(c), proptest::collection::vec(1u32..8, r * c))
            })
        ) {
            let m = CostMatrix { rows, cols, data: data.into_iter().map(f64::from).collect() };
            let mut scorer = |a: usize, _: &[usize], t: usize| {
                Some(Marginal { gain: m.data[a * cols + t], position: 0 })
            };
            let s = sequential_greedy(rows, cols, 1, &mut scorer).unwrap();
            let g = greedy_assignment(&m, Objective::Maximize).unwrap();
            for (agent, bundle) in s.bundles.iter().enumerate() {
                prop_assert_eq!(bundle.first().copied(), g.row_to_col[agent]);
            }
            prop_assert_eq!(s.total_gain(), g.total_cost);
        }
    }

    #[test]
    fn multi_assignment_hand_computed() {
        // Gains shrink by half per task already held: agent 0 is better at everything, so it
        // takes tasks until its halved gain drops below agent 1's.
        let base = [[8.0, 6.0, 5.0], [4.0, 3.0, 2.0]];
        let mut scorer = |a: usize, p: &[usize], t: usize| {
            Some(Marginal {
                gain: base[a][t] / f64::from(1u32 << p.len()),
                position: p.len(),
            })
        };
        let s = sequential_greedy(2, 3, 3, &mut scorer).unwrap();
        // Iteration 1: (0,0)=8. Iteration 2: agent 0 gains 3, 2.5; agent 1 gains 3, 2 ->
        // tie at 3 goes to agent 0 task 1. Iteration 3: agent 0 gains 1.25; agent 1 task 2 = 2.
        assert_eq!(s.bundles, vec![vec![0, 1], vec![2]]);
        assert_eq!(s.winners, vec![Some(0), Some(0), Some(1)]);
        assert_eq!(s.bids, vec![8.0, 3.0, 2.0]);
        assert_eq!(s.total_gain(), 13.0);
        let capped = sequential_greedy(2, 3, 1, &mut scorer).unwrap();
        assert_eq!(capped.bundles, vec![vec![0], vec![1]]);
        assert_eq!(capped.winners, vec![Some(0), Some(1), None]);
    }

    #[test]
    fn multi_assignment_inserts_at_scorer_position_and_checks_it() {
        let mut front = |_: usize, _: &[usize], t: usize| {
            Some(Marginal {
                gain: 10.0 - t as f64,
                position: 0,
            })
        };
        let s = sequential_greedy(1, 3, 3, &mut front).unwrap();
        assert_eq!(s.bundles[0], vec![0, 1, 2]);
        assert_eq!(s.paths[0], vec![2, 1, 0]);
        let mut bad = |_: usize, p: &[usize], _: usize| {
            Some(Marginal {
                gain: 1.0,
                position: p.len() + 1,
            })
        };
        assert!(matches!(
            sequential_greedy(1, 1, 1, &mut bad),
            Err(GreedyError::BadPosition { position: 1, .. })
        ));
        let mut nan = |_: usize, _: &[usize], _: usize| {
            Some(Marginal {
                gain: f64::NAN,
                position: 0,
            })
        };
        assert!(matches!(
            sequential_greedy(1, 1, 1, &mut nan),
            Err(GreedyError::NotANumber { .. })
        ));
    }
}
