//! Messaging metrics: the buses' accounting, the graph of who talked, the topology, and
//! agent memory.

use agora_engine::comms::{self, DropReason, GraphSummary, summarize, undirected};
use agora_engine::prelude::*;
use serde::{Deserialize, Serialize};

/// Cumulative message accounting over every bus: sent, delivered, in flight, dropped (in
/// total and by reason), mean latency and payload bytes. Counts are per copy (a broadcast to
/// five neighbours is five).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Messages {}

impl Metric for Messages {
    const NAME: &'static str = "messages";
    const SUMMARY: &'static str =
        "Messages sent, delivered, in flight, dropped by reason; mean latency; bytes sent.";

    fn columns(&self) -> Vec<String> {
        let mut c: Vec<String> = ["msg_sent", "msg_delivered", "msg_in_flight", "msg_dropped"]
            .map(str::to_owned)
            .to_vec();
        c.extend(
            DropReason::ALL
                .iter()
                .map(|r| format!("dropped_{}", r.name())),
        );
        c.push("msg_latency_mean".into());
        c.push("msg_bytes_sent".into());
        c
    }

    fn compute(&mut self, world: &mut World, out: &mut Vec<f64>) {
        let c = comms::counters(world);
        out.extend([c.sent, c.delivered, c.in_flight, c.dropped_total()].map(|v| v as f64));
        out.extend(c.dropped.iter().map(|&v| v as f64));
        out.push(c.mean_latency());
        out.push(c.bytes_sent as f64);
    }
}

fn graph_columns(prefix: &str) -> Vec<String> {
    [
        "nodes",
        "edges",
        "mean_degree",
        "max_degree",
        "components",
        "largest_component",
        "diameter",
    ]
    .iter()
    .map(|c| format!("{prefix}_{c}"))
    .collect()
}

fn push_summary(s: Option<GraphSummary>, out: &mut Vec<f64>) {
    match s {
        Some(s) => out.extend([
            s.nodes as f64,
            s.edges as f64,
            s.mean_degree,
            s.max_degree as f64,
            s.components as f64,
            s.largest_component as f64,
            s.diameter as f64,
        ]),
        None => out.extend([f64::NAN; 7]),
    }
}

/// The graph of who actually talked (an undirected edge per pair that exchanged at least
/// one delivered message): size, degrees, components and diameter (exact up to 2000 nodes,
/// a lower bound above). Needs `comms: (record: (graph: true))`; NaN otherwise.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommGraph {}

impl Metric for CommGraph {
    const NAME: &'static str = "comm_graph";
    const SUMMARY: &'static str =
        "Who talked: nodes, edges, degrees, components, diameter (needs comms.record.graph).";

    fn columns(&self) -> Vec<String> {
        graph_columns("talk")
    }

    fn compute(&mut self, world: &mut World, out: &mut Vec<f64>) {
        let summary = comms::talk_graph(world).map(|edges| {
            let pairs: Vec<(u32, u32)> = edges.iter().map(|&(a, b, _)| (a, b)).collect();
            summarize(&undirected(&[], &pairs))
        });
        push_summary(summary, out);
    }
}

/// The communication topology now (every bus merged): size, degrees, components and
/// diameter. NaN when nobody talks, or for a complete topology of more than 2000 agents.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TopologyShape {}

impl Metric for TopologyShape {
    const NAME: &'static str = "topology";
    const SUMMARY: &'static str =
        "The comms topology: nodes, edges, degrees, components, diameter.";

    fn columns(&self) -> Vec<String> {
        graph_columns("topo")
    }

    fn compute(&mut self, world: &mut World, out: &mut Vec<f64>) {
        let summary = comms::topology_graph(world)
            .map(|(nodes, edges)| summarize(&undirected(&nodes, &edges)));
        push_summary(summary, out);
    }
}

/// Agent memory: mean beliefs held per agent, mean age of held beliefs, staleness (mean age
/// of the beliefs agents recalled, over the run) and evictions so far. NaN without memories.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemoryUse {}

impl Metric for MemoryUse {
    const NAME: &'static str = "memory";
    const SUMMARY: &'static str =
        "Beliefs per agent, their mean age, staleness of recalled beliefs, evictions.";

    fn columns(&self) -> Vec<String> {
        [
            "memory_beliefs_mean",
            "memory_age_mean",
            "memory_staleness",
            "memory_evictions",
        ]
        .map(str::to_owned)
        .to_vec()
    }

    fn compute(&mut self, world: &mut World, out: &mut Vec<f64>) {
        let now = world.resource::<Tick>().0;
        let t = agora_engine::memory::totals(world, now);
        let ratio = |a: u64, b: u64| {
            if b == 0 {
                f64::NAN
            } else {
                a as f64 / b as f64
            }
        };
        out.push(ratio(t.beliefs, t.agents));
        out.push(ratio(t.age_sum, t.beliefs));
        out.push(ratio(t.recall_age_sum, t.recalls));
        out.push(if t.agents == 0 {
            f64::NAN
        } else {
            t.evictions as f64
        });
    }
}
