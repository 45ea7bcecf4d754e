//! `division_of_labor`: how much agents specialise among task kinds.

use agora_engine::prelude::*;
use serde::{Deserialize, Serialize};

/// Division of labour as the normalised mutual information between agent and task kind
/// (Gorelick, Bertram, Killeen & Fewell 2004, "Normalized mutual entropy in biology:
/// quantifying division of labor", Am. Nat. 164, 677), over the work recorded in each
/// agent's [`TaskTally`]. With `p_ik` the share of all work done by agent `i` on kind `k`,
/// and `p_i`, `p_k` its marginals:
///
/// `DOL = I(agent; kind) / H(kind)`,  `I = sum_ik p_ik ln(p_ik / (p_i p_k))`,
/// `H(kind) = -sum_k p_k ln p_k`.
///
/// 1 when each agent works on a single kind (full specialisation), 0 when every agent splits
/// its work in the same proportions. NaN while there is no work, or all of it is of one kind
/// (`H(kind) = 0`). The hook for task subsystems is [`TaskTally`].
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DivisionOfLabor {
    /// `(agent id, start, len)` into `counts`, so no per-agent vector is allocated.
    #[serde(skip)]
    rows: Vec<(u32, usize, usize)>,
    #[serde(skip)]
    counts: Vec<f64>,
}

impl Metric for DivisionOfLabor {
    const NAME: &'static str = "division_of_labor";
    const SUMMARY: &'static str =
        "Mutual information of agent and task kind over task entropy (1 = specialists).";

    fn compute(&mut self, world: &mut World, out: &mut Vec<f64>) {
        let mut q = world.query::<(&AgentId, &TaskTally)>();
        self.rows.clear();
        self.counts.clear();
        for (id, t) in q.iter(world) {
            self.rows.push((id.0, self.counts.len(), t.counts.len()));
            self.counts.extend_from_slice(&t.counts);
        }
        self.rows.sort_unstable_by_key(|&(id, _, _)| id);
        let counts = &self.counts;
        out.push(dol(self
            .rows
            .iter()
            .map(|&(_, start, len)| &counts[start..start + len])));
    }
}

/// The index for per-agent work vectors (in agent-id order for a reproducible sum).
fn dol<'a>(rows: impl Iterator<Item = &'a [f64]> + Clone) -> f64 {
    let kinds = rows.clone().map(<[f64]>::len).max().unwrap_or(0);
    let mut by_kind = vec![0.0; kinds];
    let mut total = 0.0;
    for row in rows.clone() {
        for (k, &c) in row.iter().enumerate() {
            if !(c.is_finite() && c >= 0.0) {
                return f64::NAN;
            }
            by_kind[k] += c;
            total += c;
        }
    }
    if total <= 0.0 {
        return f64::NAN;
    }
    let h_kind: f64 = by_kind
        .iter()
        .filter(|&&c| c > 0.0)
        .map(|&c| {
            let p = c / total;
            -p * p.ln()
        })
        .sum();
    if h_kind <= 0.0 {
        return f64::NAN;
    }
    let mut info = 0.0;
    for row in rows {
        let p_i = row.iter().sum::<f64>() / total;
        for (k, &c) in row.iter().enumerate() {
            if c > 0.0 {
                let p = c / total;
                info += p * (p / (p_i * by_kind[k] / total)).ln();
            }
        }
    }
    // Rounding can leave a hair below 0 or above 1 at the extremes.
    (info / h_kind).clamp(0.0, 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::testing::{compute, world};

    #[test]
    fn specialists_generalists_and_a_hand_computed_mix() {
        let specialists: [&[f64]; 3] = [&[5.0, 0.0], &[0.0, 2.0], &[3.0]];
        assert!((dol(specialists.into_iter()) - 1.0).abs() < 1e-12);
        let generalists: [&[f64]; 2] = [&[1.0, 3.0], &[2.0, 6.0]];
        assert!(dol(generalists.into_iter()).abs() < 1e-12);
        // p = [[3, 1], [1, 3]] / 8: I = 3/4 ln(3/2) + 1/4 ln(1/2), H = ln 2.
        let mix: [&[f64]; 2] = [&[3.0, 1.0], &[1.0, 3.0]];
        let want = (0.75 * 1.5f64.ln() + 0.25 * 0.5f64.ln()) / 2f64.ln();
        assert!((dol(mix.into_iter()) - want).abs() < 1e-12);
        let one_kind: [&[f64]; 2] = [&[1.0], &[4.0]];
        assert!(dol(one_kind.into_iter()).is_nan());
    }

    #[test]
    fn reads_task_tallies() {
        let mut w = world(10.0, 10.0, true, &[]);
        assert!(compute(&mut DivisionOfLabor::default(), &mut w)[0].is_nan());
        let mut a = TaskTally::default();
        a.add(0, 2.0);
        let mut b = TaskTally::default();
        b.add(1, 1.0);
        w.spawn((AgentId(0), a));
        w.spawn((AgentId(1), b));
        assert!((compute(&mut DivisionOfLabor::default(), &mut w)[0] - 1.0).abs() < 1e-12);
    }
}
