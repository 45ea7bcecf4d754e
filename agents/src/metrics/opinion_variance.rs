//! `opinion_variance`.

use agora_engine::prelude::*;
use agora_engine::stats::Welford;
use serde::{Deserialize, Serialize};

/// Variance of the agents' [`Opinion`]s, `(1/N) sum_i (o_i - mean(o))^2` (the population
/// variance, accumulated in agent-id order): the spread of views that opinion-dynamics models
/// drive to zero at consensus (Deffuant, Neau, Amblard & Weisbuch 2000, "Mixing beliefs among
/// interacting agents", Adv. Complex Syst. 3, 87; Castellano, Fortunato & Loreto 2009, Rev.
/// Mod. Phys. 81, 591). NaN while no agent holds an opinion.
///
/// Time to consensus: detect its fall below a tolerance,
/// `detect: [(metric: "opinion_variance", name: "consensus", watch: Down,
/// detector: Threshold((enter_above: 0.001, exit_below: 0.0001)))]`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpinionVariance {
    #[serde(skip)]
    values: Vec<(u32, f64)>,
}

impl Metric for OpinionVariance {
    const NAME: &'static str = "opinion_variance";
    const SUMMARY: &'static str = "Population variance of the agents' opinions.";

    fn compute(&mut self, world: &mut World, out: &mut Vec<f64>) {
        let mut q = world.query::<(&AgentId, &Opinion)>();
        self.values.clear();
        self.values.extend(q.iter(world).map(|(id, o)| (id.0, o.0)));
        self.values.sort_unstable_by_key(|&(id, _)| id);
        let mut w = Welford::new();
        for &(_, v) in &self.values {
            w.push(v);
        }
        out.push(w.population_variance().unwrap_or(f64::NAN));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::testing::{compute, world};

    #[test]
    fn hand_computed() {
        let mut w = world(10.0, 10.0, true, &[]);
        assert!(compute(&mut OpinionVariance::default(), &mut w)[0].is_nan());
        for (i, o) in [0.0, 0.5, 1.0, 0.5].into_iter().enumerate() {
            w.spawn((AgentId(i as u32), Opinion(o)));
        }
        // Mean 0.5; squared deviations 0.25, 0, 0.25, 0.
        assert!((compute(&mut OpinionVariance::default(), &mut w)[0] - 0.125).abs() < 1e-15);
    }
}
