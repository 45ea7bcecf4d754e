//! The scenario's `comms` section: the channel model every message bus of a run follows.

use super::Performative;
use serde::{Deserialize, Serialize};

/// Longest latency a distribution may produce, in ticks: bounds the in-flight calendar.
pub const MAX_LATENCY: u32 = 1_000_000;

/// The channel model, from the scenario's `comms` section. Every field has a default, so a
/// scenario that talks needs no `comms` section at all:
///
/// ```ron
/// comms: (
///     latency: Fixed(1),          // or Uniform(1, 5), Geometric(0.5): ticks, >= 1
///     loss: 0.0,                  // probability that a message copy is lost
///     range: None,                // Some(r): copies between agents farther apart are dropped
///     bandwidth: None,            // Some(k): at most k copies sent per agent per tick
///     mailbox: (capacity: 256, overflow: DropNewest),
///     topology: Complete,         // who may talk to whom
///     rebuild_every: None,        // Some(n): rebuild the topology from positions every n ticks
///     record: (messages: false, graph: false),
/// )
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommsSpec {
    /// Ticks between sending and delivery (default `Fixed(1)`).
    #[serde(default)]
    pub latency: Latency,
    /// Probability in `[0, 1]` that a copy is lost in transit (default 0).
    #[serde(default)]
    pub loss: f64,
    /// Largest sender-receiver distance a copy can travel, in world units (default `None`:
    /// unlimited). Distances are measured when the message is sent.
    #[serde(default)]
    pub range: Option<f64>,
    /// Most copies an agent may send per tick; later ones are dropped (default `None`:
    /// unlimited).
    #[serde(default)]
    pub bandwidth: Option<u32>,
    /// Mailbox size and what happens when it is full (default 256, `DropNewest`).
    #[serde(default)]
    pub mailbox: MailboxSpec,
    /// Which agents may exchange messages (default `Complete`).
    #[serde(default)]
    pub topology: TopologySpec,
    /// Rebuild the topology every N ticks from the agents' current positions (default
    /// `None`: built once, and again when agents join).
    #[serde(default)]
    pub rebuild_every: Option<u64>,
    /// Message and communication-graph outputs (default: none).
    #[serde(default)]
    pub record: CommsRecordSpec,
}

impl Default for CommsSpec {
    fn default() -> Self {
        CommsSpec {
            latency: Latency::default(),
            loss: 0.0,
            range: None,
            bandwidth: None,
            mailbox: MailboxSpec::default(),
            topology: TopologySpec::default(),
            rebuild_every: None,
            record: CommsRecordSpec::default(),
        }
    }
}

/// How many ticks a message copy spends in flight (always at least 1, so that a message sent
/// in tick `t` is delivered in tick `t + 1` at the earliest).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum Latency {
    /// Always this many ticks.
    Fixed(u32),
    /// Uniform over `a..=b` ticks.
    Uniform(u32, u32),
    /// Geometric with success probability `p` in `[0.001, 1]`: `P(k) = (1-p)^(k-1) p` for
    /// `k >= 1`, mean `1/p`.
    Geometric(f64),
}

impl Default for Latency {
    fn default() -> Self {
        Latency::Fixed(1)
    }
}

/// Mailbox capacity and overflow policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MailboxSpec {
    /// Most messages a mailbox holds (default 256).
    #[serde(default = "default_capacity")]
    pub capacity: u32,
    /// What a full mailbox does with an arriving message (default `DropNewest`).
    #[serde(default)]
    pub overflow: Overflow,
}

fn default_capacity() -> u32 {
    256
}

impl Default for MailboxSpec {
    fn default() -> Self {
        MailboxSpec {
            capacity: default_capacity(),
            overflow: Overflow::default(),
        }
    }
}

/// What a full mailbox does when a message arrives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum Overflow {
    /// The arriving message is dropped.
    #[default]
    DropNewest,
    /// The oldest unread message is evicted to make room.
    DropOldest,
}

/// Which agents may exchange messages. Nodes are the agents that use a message type (the
/// bus's members), in agent-id order; only neighbours can talk.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub enum TopologySpec {
    /// Everyone talks to everyone (no graph is stored).
    #[default]
    Complete,
    /// Agents in id order on a cycle.
    Ring,
    /// Agents in id order on a near-square lattice (`ceil(sqrt(n))` columns), four
    /// neighbours each, no wrap-around.
    Grid,
    /// Each agent linked to its `k` nearest agents by position (links are mutual).
    KNearest(u32),
    /// Agents closer than `r` world units are linked.
    RandomGeometric(f64),
    /// Each pair linked with probability `p`.
    ErdosRenyi(f64),
    /// Watts-Strogatz small world: a ring lattice of degree `k` (even), each link rewired with
    /// probability `beta`.
    WattsStrogatz(u32, f64),
    /// Barabasi-Albert preferential attachment, `m` links per new node.
    BarabasiAlbert(u32),
    /// Links read from a text file, one `a b` pair of agent ids per line (`#` starts a
    /// comment); the path is relative to the scenario file.
    EdgeList(String),
}

impl TopologySpec {
    /// The variant's name, as written in scenarios.
    pub fn name(&self) -> &'static str {
        match self {
            TopologySpec::Complete => "Complete",
            TopologySpec::Ring => "Ring",
            TopologySpec::Grid => "Grid",
            TopologySpec::KNearest(_) => "KNearest",
            TopologySpec::RandomGeometric(_) => "RandomGeometric",
            TopologySpec::ErdosRenyi(_) => "ErdosRenyi",
            TopologySpec::WattsStrogatz(..) => "WattsStrogatz",
            TopologySpec::BarabasiAlbert(_) => "BarabasiAlbert",
            TopologySpec::EdgeList(_) => "EdgeList",
        }
    }

    /// Whether building it reads agent positions.
    pub fn uses_positions(&self) -> bool {
        matches!(
            self,
            TopologySpec::KNearest(_) | TopologySpec::RandomGeometric(_)
        )
    }
}

/// What the message bus records into the run folder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct CommsRecordSpec {
    /// Write `messages.csv`: one row per message copy when it is delivered or dropped (default
    /// false).
    #[serde(default)]
    pub messages: bool,
    /// Only these performatives in `messages.csv`, by FIPA name (`"inform"`, `"cfp"`,
    /// `"not-understood"`, ...); empty means all (default empty).
    #[serde(default)]
    pub performatives: Vec<String>,
    /// Accumulate the graph of who actually talked; write `comm_graph.dot` and
    /// `comm_degree.csv`, and feed the `comm_graph` metric (default false).
    #[serde(default)]
    pub graph: bool,
}

/// A problem with the `comms` section: the field path under the scenario root and what is
/// wrong.
pub type SpecProblem = (String, String);

impl CommsSpec {
    /// Checks every value; the first problem found is returned with its field path.
    pub fn check(&self) -> Result<(), SpecProblem> {
        let bad = |field: &str, msg: String| Err((format!("comms.{field}"), msg));
        match self.latency {
            Latency::Fixed(0) => {
                return bad(
                    "latency",
                    "latency must be at least 1 tick: a message sent in tick t is delivered in tick t+1 at the earliest (got Fixed(0))".into(),
                );
            }
            Latency::Fixed(l) if l > MAX_LATENCY => {
                return bad(
                    "latency",
                    format!("latency {l} is above the limit of {MAX_LATENCY} ticks"),
                );
            }
            Latency::Uniform(a, b) if a == 0 || b < a || b > MAX_LATENCY => {
                return bad(
                    "latency",
                    format!(
                        "`Uniform(a, b)` needs 1 <= a <= b <= {MAX_LATENCY} ticks (got Uniform({a}, {b}))"
                    ),
                );
            }
            Latency::Geometric(p) if !(0.001..=1.0).contains(&p) => {
                return bad(
                    "latency",
                    format!(
                        "`Geometric(p)` needs p between 0.001 and 1 (mean latency 1/p ticks), got {p}"
                    ),
                );
            }
            _ => {}
        }
        if !(0.0..=1.0).contains(&self.loss) {
            return bad(
                "loss",
                format!(
                    "loss is a probability and must be between 0 and 1, got {}",
                    self.loss
                ),
            );
        }
        if let Some(r) = self.range
            && !(r.is_finite() && r > 0.0)
        {
            return bad(
                "range",
                format!("range must be a positive distance, got {r}"),
            );
        }
        if self.bandwidth == Some(0) {
            return bad(
                "bandwidth",
                "bandwidth must be at least 1 message per tick, or None for unlimited".into(),
            );
        }
        if self.mailbox.capacity == 0 {
            return bad(
                "mailbox.capacity",
                "a mailbox must hold at least 1 message".into(),
            );
        }
        if self.rebuild_every == Some(0) {
            return bad(
                "rebuild_every",
                "must be at least 1 (rebuild every N ticks), or None for a static topology".into(),
            );
        }
        let topo = |msg: String| bad("topology", msg);
        match &self.topology {
            TopologySpec::KNearest(0) => return topo("`KNearest(k)` needs k >= 1".into()),
            TopologySpec::RandomGeometric(r) if !(r.is_finite() && *r > 0.0) => {
                return topo(format!(
                    "`RandomGeometric(r)` needs a positive radius, got {r}"
                ));
            }
            TopologySpec::ErdosRenyi(p) if !(0.0..=1.0).contains(p) => {
                return topo(format!("`ErdosRenyi(p)` needs p between 0 and 1, got {p}"));
            }
            TopologySpec::WattsStrogatz(k, beta) => {
                if *k < 2 || k % 2 != 0 {
                    return topo(format!(
                        "`WattsStrogatz(k, beta)` needs an even degree k >= 2, got {k}"
                    ));
                }
                if !(0.0..=1.0).contains(beta) {
                    return topo(format!(
                        "`WattsStrogatz(k, beta)` needs beta between 0 and 1, got {beta}"
                    ));
                }
            }
            TopologySpec::BarabasiAlbert(0) => {
                return topo("`BarabasiAlbert(m)` needs m >= 1".into());
            }
            TopologySpec::EdgeList(path) if path.trim().is_empty() => {
                return topo("`EdgeList(path)` needs a file path".into());
            }
            _ => {}
        }
        for (i, name) in self.record.performatives.iter().enumerate() {
            if let Err(msg) = Performative::parse(name) {
                return bad(&format!("record.performatives[{i}]"), msg);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_bad_values_name_their_field() {
        assert_eq!(CommsSpec::default().check(), Ok(()));
        let cases: Vec<(CommsSpec, &str, &str)> = vec![
            (
                CommsSpec {
                    latency: Latency::Fixed(0),
                    ..Default::default()
                },
                "comms.latency",
                "at least 1 tick",
            ),
            (
                CommsSpec {
                    loss: 1.5,
                    ..Default::default()
                },
                "comms.loss",
                "between 0 and 1",
            ),
            (
                CommsSpec {
                    loss: -0.1,
                    ..Default::default()
                },
                "comms.loss",
                "between 0 and 1",
            ),
            (
                CommsSpec {
                    topology: TopologySpec::WattsStrogatz(3, 0.1),
                    ..Default::default()
                },
                "comms.topology",
                "even degree",
            ),
            (
                CommsSpec {
                    record: CommsRecordSpec {
                        performatives: vec!["infrom".into()],
                        ..Default::default()
                    },
                    ..Default::default()
                },
                "comms.record.performatives[0]",
                "did you mean `inform`",
            ),
        ];
        for (spec, field, text) in cases {
            let (f, msg) = spec.check().unwrap_err();
            assert_eq!(f, field);
            assert!(msg.contains(text), "{msg}");
        }
    }
}
