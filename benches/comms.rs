//! Messaging throughput and the scenarios that lean on it.
//!
//! * `channel`: the message channel alone (what a bus does every tick): 10,000 agents each
//!   send 10 small messages (a `u64` payload) per tick, unicast or broadcast over a
//!   topology, with latency and loss on; the channel sends, draws loss and latency, queues,
//!   delivers into mailboxes, and the mailboxes are read. Throughput is copies sent per
//!   second; with 5% loss, 95% of them are delivered.
//! * `gossip_10k`: the `gossip` behavior through the whole engine, 10,000 agents
//!   broadcasting to 10 small-world neighbours each tick (100,000 copies per tick).
//! * `forager_10k`: `scenarios/forager_10k.ron`, 10,000 ants on a 256x256 grid; throughput
//!   is ticks per second.
//!
//! Times are the benchmark thread's CPU time (`/proc/thread-self/schedstat`), not wall time:
//! on a shared machine the wall clock also counts the time other tenants hold the core. Where
//! that file does not exist the wall clock is used.

use agora_engine::comms::topology::{BuildInput, build};
use agora_engine::comms::{
    Channel, CommsSpec, Header, Latency, Mailbox, Members, Net, Outbox, Performative, Recipients,
    Topology, TopologySpec,
};
use agora_engine::space::{Boundary, Neighborhood, Space, SpaceKind};
use agora_engine::{Scenario, Sim, SimOptions, SimRng};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use glam::DVec2;
use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

/// Nanoseconds this thread has run on a CPU, if the kernel says.
fn cpu_ns() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    text.split_whitespace().next()?.parse().ok()
}

/// Times `iters` calls of `f` in CPU time (wall time as a fallback).
fn timed(iters: u64, mut f: impl FnMut()) -> Duration {
    let (c0, w0) = (cpu_ns(), Instant::now());
    for _ in 0..iters {
        f();
    }
    match (c0, cpu_ns()) {
        (Some(a), Some(b)) => Duration::from_nanos(b - a),
        _ => w0.elapsed(),
    }
}

const AGENTS: u32 = 10_000;
const PER_AGENT: u32 = 10;

struct Rig {
    channel: Channel<u64>,
    members: Members,
    topology: Topology,
    outboxes: Vec<Outbox<u64>>,
    mailboxes: Vec<Mailbox<u64>>,
    rng: SimRng,
    space: Space,
    tick: u64,
}

fn rig(latency: Latency, topology: &TopologySpec) -> Rig {
    let spec = CommsSpec {
        latency,
        loss: 0.05,
        ..CommsSpec::default()
    };
    let space = Space {
        kind: SpaceKind::Continuous,
        width: 100.0,
        height: 100.0,
        boundary: Boundary::Torus,
        neighborhood: Neighborhood::Moore,
    };
    let rng = SimRng::new(7);
    let mut members = Members::default();
    members.rebuild((0..AGENTS).map(|i| (i, 0)), &[]);
    let ids: Vec<u32> = (0..AGENTS).collect();
    let positions = vec![DVec2::ZERO; AGENTS as usize];
    let topology = build(
        topology,
        &BuildInput {
            members: &ids,
            positions: &positions,
            space: &space,
            rng: &rng,
            tick: 0,
            edge_list: &[],
            channel: 0,
        },
    );
    Rig {
        channel: Channel::new(&spec),
        members,
        topology,
        outboxes: (0..AGENTS).map(Outbox::new).collect(),
        mailboxes: (0..AGENTS).map(|_| Mailbox::default()).collect(),
        rng,
        space,
        tick: 0,
    }
}

impl Rig {
    fn tick(&mut self, broadcast: bool) -> u64 {
        for (i, ob) in self.outboxes.iter_mut().enumerate() {
            if broadcast {
                ob.send(
                    Recipients::Broadcast,
                    Header::new(Performative::Inform),
                    i as u64,
                );
            } else {
                for k in 0..PER_AGENT {
                    let to = (i as u32 + 1 + k * 997) % AGENTS;
                    ob.send(
                        Recipients::Agent(to),
                        Header::new(Performative::Inform),
                        u64::from(k),
                    );
                }
            }
        }
        self.channel
            .deliver(self.tick, &self.members, self.mailboxes.as_mut_slice());
        let mut read = 0;
        for mb in &mut self.mailboxes {
            for m in mb.drain() {
                read += m.payload;
            }
        }
        let net = Net {
            tick: self.tick,
            rng: &self.rng,
            space: &self.space,
            members: &self.members,
            topology: &self.topology,
        };
        for ob in &mut self.outboxes {
            self.channel.transmit(&net, ob);
        }
        self.tick += 1;
        read
    }
}

fn channel(c: &mut Criterion) {
    let mut group = c.benchmark_group("channel");
    group.throughput(Throughput::Elements(u64::from(AGENTS * PER_AGENT)));
    group.sample_size(20);
    let cases = [
        (
            "unicast_fixed2_loss5",
            Latency::Fixed(2),
            TopologySpec::Complete,
            false,
        ),
        (
            "unicast_uniform1to4_loss5",
            Latency::Uniform(1, 4),
            TopologySpec::Complete,
            false,
        ),
        (
            "broadcast_ws10_fixed2_loss5",
            Latency::Fixed(2),
            TopologySpec::WattsStrogatz(10, 0.1),
            true,
        ),
    ];
    for (name, latency, topo, broadcast) in cases {
        let mut r = rig(latency, &topo);
        for _ in 0..8 {
            r.tick(broadcast);
        }
        let c = *r.channel.counters();
        assert!(c.balanced() && c.delivered > 0, "{c:?}");
        group.bench_function(BenchmarkId::from_parameter(name), |b| {
            b.iter_custom(|iters| {
                timed(iters, || {
                    black_box(r.tick(broadcast));
                })
            });
        });
    }
    group.finish();
}

fn scenario(file: &str, overrides: &[(&str, &str)]) -> Sim {
    let registry = agora_agents::registry();
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../scenarios")
        .join(file);
    let mut s = Scenario::load(&path, &registry).expect("scenario loads");
    let sets: Vec<_> = overrides
        .iter()
        .map(|(k, v)| {
            agora_engine::scenario::overrides::parse_assignment(&format!("{k}={v}"))
                .expect("override")
        })
        .collect();
    s = s.with_overrides(&sets, &registry).expect("overrides apply");
    Sim::new(&s, &registry, SimOptions::default()).expect("sim builds")
}

fn whole_runs(c: &mut Criterion) {
    let mut group = c.benchmark_group("scenarios");
    group.sample_size(10);
    let mut gossip = scenario(
        "gossip.ron",
        &[
            ("populations[0].count", "10000"),
            ("populations[0].params.fanout", "All"),
            ("comms.topology", "WattsStrogatz(10, 0.1)"),
            ("comms.loss", "0.05"),
            ("comms.latency", "Fixed(2)"),
            ("comms.record.messages", "false"),
            ("comms.record.graph", "false"),
            ("ticks", "1000000"),
            ("stop", "None"),
        ],
    );
    group.throughput(Throughput::Elements(u64::from(AGENTS * PER_AGENT)));
    group.bench_function("gossip_10k_broadcast_ws10", |b| {
        b.iter_custom(|iters| timed(iters, || gossip.step().expect("step")));
    });
    let mut forager = scenario("forager_10k.ron", &[("ticks", "1000000")]);
    group.throughput(Throughput::Elements(1));
    group.bench_function("forager_10k_ticks", |b| {
        b.iter_custom(|iters| timed(iters, || forager.step().expect("step")));
    });
    group.finish();
}

criterion_group!(benches, channel, whole_runs);
criterion_main!(benches);
