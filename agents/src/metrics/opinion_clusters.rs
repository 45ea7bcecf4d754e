//! `opinion_clusters`: groups of agents that share a view.

use agora_engine::prelude::*;
use serde::{Deserialize, Serialize};

/// Opinion clusters in the sense of bounded-confidence models (Deffuant, Neau, Amblard &
/// Weisbuch 2000, "Mixing beliefs among interacting agents", Adv. Complex Syst. 3, 87):
/// sort the agents' [`Opinion`]s and cut wherever two consecutive values differ by more than
/// `tolerance`. Columns:
/// * `opinion_cluster_count`: the number of clusters (1 at consensus);
/// * `opinion_largest_cluster`: the fraction of agents in the largest cluster (1 at consensus;
///   above 1/2 a majority view exists).
///
/// NaN while no agent holds an opinion. Time to consensus: detect
/// `opinion_largest_cluster` reaching 1, `detect: [(metric: "opinion_largest_cluster",
/// name: "consensus", detector: Threshold((enter_above: 0.999, exit_below: 0.9)))]`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OpinionClusters {
    /// Largest gap between neighbouring opinions of one cluster (default 0.01).
    pub tolerance: f64,
    #[serde(skip)]
    values: Vec<f64>,
}

impl Default for OpinionClusters {
    fn default() -> Self {
        OpinionClusters {
            tolerance: 0.01,
            values: Vec::new(),
        }
    }
}

impl Metric for OpinionClusters {
    const NAME: &'static str = "opinion_clusters";
    const SUMMARY: &'static str =
        "Opinion clusters (gap > tolerance splits): count and largest fraction.";

    fn columns(&self) -> Vec<String> {
        vec![
            "opinion_cluster_count".to_owned(),
            "opinion_largest_cluster".to_owned(),
        ]
    }

    fn validate(&self, _ctx: &ValidateCtx) -> Result<(), String> {
        if self.tolerance.is_finite() && self.tolerance >= 0.0 {
            Ok(())
        } else {
            Err(format!(
                "`tolerance` must be a number >= 0, got {}",
                self.tolerance
            ))
        }
    }

    fn compute(&mut self, world: &mut World, out: &mut Vec<f64>) {
        let mut q = world.query::<&Opinion>();
        self.values.clear();
        self.values
            .extend(q.iter(world).map(|o| o.0).filter(|v| v.is_finite()));
        if self.values.is_empty() {
            out.extend([f64::NAN, f64::NAN]);
            return;
        }
        self.values.sort_unstable_by(f64::total_cmp);
        let (mut count, mut run, mut largest) = (1usize, 1usize, 1usize);
        for w in self.values.windows(2) {
            if w[1] - w[0] > self.tolerance {
                count += 1;
                run = 1;
            } else {
                run += 1;
            }
            largest = largest.max(run);
        }
        out.push(count as f64);
        out.push(largest as f64 / self.values.len() as f64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::testing::{compute, world};

    #[test]
    fn gaps_split_clusters() {
        let mut w = world(10.0, 10.0, true, &[]);
        assert!(compute(&mut OpinionClusters::default(), &mut w)[0].is_nan());
        for (i, o) in [0.9, 0.1, 0.105, 0.5, 0.11, 0.905].into_iter().enumerate() {
            w.spawn((AgentId(i as u32), Opinion(o)));
        }
        // {0.1, 0.105, 0.11}, {0.5}, {0.9, 0.905}.
        assert_eq!(compute(&mut OpinionClusters::default(), &mut w), [3.0, 0.5]);
        let mut loose = OpinionClusters {
            tolerance: 0.5,
            ..OpinionClusters::default()
        };
        assert_eq!(compute(&mut loose, &mut w), [1.0, 1.0]);
    }
}
