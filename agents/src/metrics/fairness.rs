//! `gini` and `jain`: inequality of any per-agent quantity.

use agora_engine::prelude::*;
use agora_engine::stats::{StatsError, gini_in_place, jain_index};
use agora_engine::{PluginKind, QuantitySource, unknown_name_message};
use serde::{Deserialize, Serialize};

/// The quantities a fairness metric summarises, made on first use from the run's registry.
#[derive(Default)]
struct Sources(Vec<Option<Box<dyn QuantitySource>>>);

impl Clone for Sources {
    /// Instances hold scratch only; a clone makes its own on first use.
    fn clone(&self) -> Self {
        Sources::default()
    }
}

impl std::fmt::Debug for Sources {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Sources({})", self.0.len())
    }
}

/// Shared by [`Gini`] and [`Jain`]: collect each quantity in id order, apply `index`.
#[derive(Clone, Debug, Default)]
struct Over {
    sources: Sources,
    values: Vec<(u32, f64)>,
    scratch: Vec<f64>,
}

impl Over {
    fn compute(
        &mut self,
        of: &[String],
        world: &mut World,
        index: fn(&mut [f64]) -> Result<f64, StatsError>,
        out: &mut Vec<f64>,
    ) {
        if self.sources.0.len() != of.len() {
            let quantities = world.resource::<agora_engine::Quantities>().clone();
            self.sources.0 = of.iter().map(|name| quantities.make(name)).collect();
        }
        for source in &mut self.sources.0 {
            let Some(source) = source.as_mut() else {
                out.push(f64::NAN);
                continue;
            };
            self.values.clear();
            source.collect(world, &mut self.values);
            self.values.sort_unstable_by_key(|&(id, _)| id);
            self.scratch.clear();
            self.scratch.extend(self.values.iter().map(|&(_, v)| v));
            out.push(index(&mut self.scratch).unwrap_or(f64::NAN));
        }
    }
}

fn validate_of(metric: &str, of: &[String], ctx: &ValidateCtx) -> Result<(), String> {
    if of.is_empty() {
        return Err(format!(
            "`of` lists no quantity; name at least one, e.g. `{metric}: (of: [\"speed\"])`"
        ));
    }
    let valid = ctx.registry.names(PluginKind::Quantity);
    for (i, name) in of.iter().enumerate() {
        if !valid.contains(&name.as_str()) {
            return Err(format!(
                "`of[{i}]`: {}",
                unknown_name_message("quantity", name, &valid)
            ));
        }
        if of[..i].contains(name) {
            return Err(format!("`of[{i}]`: quantity `{name}` is listed twice"));
        }
    }
    Ok(())
}

fn default_of() -> Vec<String> {
    vec!["speed".to_owned()]
}

/// Gini coefficient (Gini 1912, "Variabilità e mutabilità") of per-agent quantities, one
/// column `gini_<quantity>` each:
///
/// `G = sum_i sum_j |x_i - x_j| / (2 N^2 mean(x))`
///
/// 0 when every agent has the same amount, `1 - 1/N` when one agent has everything (see
/// [`agora_engine::stats::gini`]). NaN when no agent has the quantity or a value is negative
/// or not finite. Quantities are named plug-ins (`agora list`): `speed`, `neighbors`,
/// `state`, `opinion`, `work`, and any a behavior registers. Scenario:
/// `metric_params: {"gini": (of: ["speed", "neighbors"])}`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Gini {
    /// Quantity names (default `["speed"]`).
    pub of: Vec<String>,
    #[serde(skip)]
    state: Over,
}

impl Default for Gini {
    fn default() -> Self {
        Gini {
            of: default_of(),
            state: Over::default(),
        }
    }
}

impl Metric for Gini {
    const NAME: &'static str = "gini";
    const SUMMARY: &'static str = "Gini coefficient of per-agent quantities (0 = equal).";

    fn columns(&self) -> Vec<String> {
        self.of.iter().map(|q| format!("gini_{q}")).collect()
    }

    fn validate(&self, ctx: &ValidateCtx) -> Result<(), String> {
        validate_of(Self::NAME, &self.of, ctx)
    }

    fn compute(&mut self, world: &mut World, out: &mut Vec<f64>) {
        self.state.compute(&self.of, world, gini_in_place, out);
    }
}

/// Jain's fairness index (Jain, Chiu & Hawe 1984, "A quantitative measure of fairness and
/// discrimination for resource allocation in shared computer systems", DEC-TR-301) of
/// per-agent quantities, one column `jain_<quantity>` each:
///
/// `J = (sum_i x_i)^2 / (N sum_i x_i^2)`
///
/// 1 when every agent has the same amount, `k/N` when `k` agents share equally and the rest
/// have nothing. NaN when no agent has the quantity or a value is negative or not finite.
/// Scenario: `metric_params: {"jain": (of: ["work"])}`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Jain {
    /// Quantity names (default `["speed"]`).
    pub of: Vec<String>,
    #[serde(skip)]
    state: Over,
}

impl Default for Jain {
    fn default() -> Self {
        Jain {
            of: default_of(),
            state: Over::default(),
        }
    }
}

fn jain(values: &mut [f64]) -> Result<f64, StatsError> {
    jain_index(values)
}

impl Metric for Jain {
    const NAME: &'static str = "jain";
    const SUMMARY: &'static str = "Jain's fairness index of per-agent quantities (1 = equal).";

    fn columns(&self) -> Vec<String> {
        self.of.iter().map(|q| format!("jain_{q}")).collect()
    }

    fn validate(&self, ctx: &ValidateCtx) -> Result<(), String> {
        validate_of(Self::NAME, &self.of, ctx)
    }

    fn compute(&mut self, world: &mut World, out: &mut Vec<f64>) {
        self.state.compute(&self.of, world, jain, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::testing::{compute, world};

    #[test]
    fn speeds_by_hand() {
        // Speeds 0, 0, 0, 4: Gini 0.75, Jain 0.25; neighbours within 1: 1, 1, 0, 0.
        let agents = [
            (1.0, 1.0, 0.0, 0.0),
            (1.5, 1.0, 0.0, 0.0),
            (5.0, 5.0, 0.0, 0.0),
            (8.0, 8.0, 0.0, 4.0),
        ];
        let mut w = world(10.0, 10.0, true, &agents);
        let mut gini = Gini {
            of: vec!["speed".into(), "neighbors".into()],
            ..Gini::default()
        };
        assert_eq!(compute(&mut gini, &mut w), [0.75, 0.5]);
        let mut jain = Jain::default();
        assert_eq!(compute(&mut jain, &mut w), [0.25]);
        assert_eq!(gini.columns(), ["gini_speed", "gini_neighbors"]);
    }

    #[test]
    fn missing_or_negative_quantities_are_nan() {
        let mut w = world(10.0, 10.0, true, &[(1.0, 1.0, 1.0, 0.0)]);
        let mut gini = Gini {
            of: vec!["opinion".into()],
            ..Gini::default()
        };
        assert!(compute(&mut gini, &mut w)[0].is_nan());
        w.spawn((AgentId(7), Opinion(-0.5)));
        assert!(compute(&mut gini, &mut w)[0].is_nan());
    }

    #[test]
    fn unknown_quantities_are_named_with_the_nearest() {
        let src = r#"(
            schema: 1, seed: 1, ticks: Some(1),
            world: (width: 10.0, height: 10.0),
            populations: [(behavior: "random_walk", count: 3)],
            record: (metrics: ["gini"], metric_params: {"gini": (of: ["sped"])}),
        )"#;
        let err = Scenario::parse(src, "s.ron", &crate::registry()).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("s.ron:5:"), "{msg}");
        assert!(
            msg.contains("unknown quantity `sped`; did you mean `speed`?"),
            "{msg}"
        );
        assert!(msg.contains("neighbors"), "{msg}");
    }
}
