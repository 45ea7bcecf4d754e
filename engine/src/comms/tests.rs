//! Channel properties (conservation, delivery order) and the bus inside whole simulations.

use super::*;
use crate::prelude::*;
use crate::space::{Boundary, Neighborhood, Space, SpaceKind};
use crate::{AgentId, Population, Registry, Scenario, Sim, SimOptions, SimRng};
use glam::DVec2;
use proptest::prelude::*;
use serde::{Deserialize, Serialize};

fn space() -> Space {
    Space {
        kind: SpaceKind::Continuous,
        width: 20.0,
        height: 20.0,
        boundary: Boundary::Walls,
        neighborhood: Neighborhood::Moore,
    }
}

/// A channel with `n` members 0..n placed on a line (agent i at x = i).
struct Rig {
    channel: Channel<u32>,
    members: Members,
    topology: Topology,
    outboxes: Vec<Outbox<u32>>,
    mailboxes: Vec<Mailbox<u32>>,
    alive: Vec<bool>,
    rng: SimRng,
    space: Space,
}

impl Rig {
    fn new(spec: &CommsSpec, n: u32, seed: u64) -> Rig {
        let mut members = Members::default();
        members.rebuild((0..n).map(|i| (i, (i % 2) as u16)), &[]);
        for slot in 0..n {
            members.set_position(slot, DVec2::new(f64::from(slot), 0.0));
        }
        let ids: Vec<u32> = (0..n).collect();
        let rng = SimRng::new(seed);
        let space = space();
        let topology = topology::build(
            &spec.topology,
            &topology::BuildInput {
                members: &ids,
                positions: members.positions(),
                space: &space,
                rng: &rng,
                tick: 0,
                edge_list: &[],
                channel: 0,
            },
        );
        Rig {
            channel: Channel::new(spec),
            members,
            topology,
            outboxes: (0..n).map(Outbox::new).collect(),
            mailboxes: (0..n).map(|_| Mailbox::default()).collect(),
            alive: vec![true; n as usize],
            rng,
            space,
        }
    }

    fn kill(&mut self, id: u32) {
        self.alive[id as usize] = false;
        let live: Vec<(u32, u16)> = (0..self.alive.len() as u32)
            .filter(|&i| self.alive[i as usize])
            .map(|i| (i, (i % 2) as u16))
            .collect();
        let gone: Vec<u32> = (0..self.alive.len() as u32)
            .filter(|&i| !self.alive[i as usize])
            .collect();
        self.members.rebuild(live, &gone);
        for (slot, &m) in self.members.ids().to_vec().iter().enumerate() {
            self.members
                .set_position(slot as u32, DVec2::new(f64::from(m), 0.0));
        }
    }

    fn deliver(&mut self, tick: u64) {
        let mut by_slot: Vec<Option<&mut Mailbox<u32>>> = Vec::new();
        by_slot.resize_with(self.members.len(), || None);
        for (i, mb) in self.mailboxes.iter_mut().enumerate() {
            if let Some(slot) = self.members.slot(i as u32) {
                by_slot[slot as usize] = Some(mb);
            }
        }
        self.channel
            .deliver(tick, &self.members, by_slot.as_mut_slice());
    }

    fn transmit(&mut self, tick: u64) {
        let net = Net {
            tick,
            rng: &self.rng,
            space: &self.space,
            members: &self.members,
            topology: &self.topology,
        };
        for (i, ob) in self.outboxes.iter_mut().enumerate() {
            if self.alive[i] {
                self.channel.transmit(&net, ob);
            }
        }
    }
}

fn latency() -> impl Strategy<Value = Latency> {
    prop_oneof![
        (1u32..4).prop_map(Latency::Fixed),
        (1u32..3, 0u32..4).prop_map(|(a, d)| Latency::Uniform(a, a + d)),
        (0.2f64..1.0).prop_map(Latency::Geometric),
    ]
}

fn in_order(mb: &Mailbox<u32>) -> bool {
    mb.iter()
        .zip(mb.iter().skip(1))
        .all(|(a, b)| (a.delivered, a.sender(), a.id.seq) < (b.delivered, b.sender(), b.id.seq))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// Whatever the channel model and traffic: at every tick boundary every copy sent is
    /// delivered, dropped or in flight; mailboxes are always in (delivery tick, sender,
    /// sequence) order; once traffic stops everything in flight lands; and logging the
    /// copies changes none of it.
    #[test]
    fn every_copy_is_accounted_for_and_mailboxes_stay_in_delivery_order(
        n in 2u32..10,
        latency in latency(),
        loss in prop_oneof![Just(0.0), 0.0f64..=1.0],
        bandwidth in proptest::option::of(1u32..5),
        range in proptest::option::of(1.0f64..6.0),
        capacity in 1u32..5,
        drop_oldest in any::<bool>(),
        ring in any::<bool>(),
        traffic in proptest::collection::vec((0u32..10, 0u8..5, 0u32..12), 0..80),
        deaths in proptest::collection::vec((0u64..8, 0u32..10), 0..3),
        seed in any::<u64>(),
    ) {
        let spec = CommsSpec {
            latency,
            loss,
            bandwidth,
            range,
            mailbox: MailboxSpec {
                capacity,
                overflow: if drop_oldest { Overflow::DropOldest } else { Overflow::DropNewest },
            },
            topology: if ring { TopologySpec::Ring } else { TopologySpec::Complete },
            ..CommsSpec::default()
        };
        // The twin logs every copy, which keeps copies in the calendar and takes its general
        // delivery path; the plain rig files copies by receiver (or, for long latencies,
        // takes the calendar's one-pass path where its policy allows). All must agree.
        let mut rig = Rig::new(&spec, n, seed);
        let mut twin = Rig::new(&spec, n, seed);
        twin.channel.enable_log(&[]);
        let mut read = 0u64;
        let ticks = 8u64;
        for t in 0..ticks + 40 {
            for r in [&mut rig, &mut twin] {
                r.deliver(t);
            }
            for (i, (mb, other)) in rig.mailboxes.iter_mut().zip(&mut twin.mailboxes).enumerate() {
                prop_assert!(in_order(mb));
                prop_assert_eq!(&mb.queue, &other.queue, "tick {}, agent {}", t, i);
                if (t + i as u64).is_multiple_of(3) {
                    read += mb.drain().count() as u64;
                    other.clear();
                }
            }
            if t < ticks {
                for r in [&mut rig, &mut twin] {
                    for (k, &(s, kind, target)) in traffic.iter().enumerate() {
                        if k as u64 % ticks != t || !r.alive[(s % n) as usize] {
                            continue;
                        }
                        let ob = &mut r.outboxes[(s % n) as usize];
                        let h = Header::new(Performative::Inform);
                        let to = match kind {
                            0 => Recipients::Agent(target),
                            1 => Recipients::Agents(&[target, target + 1, target]),
                            2 => Recipients::Broadcast,
                            3 => Recipients::Group(0),
                            _ => Recipients::InRange(2.5),
                        };
                        ob.send(to, h, k as u32);
                    }
                    r.transmit(t);
                    for &(when, who) in &deaths {
                        if when == t && r.alive[(who % n) as usize] {
                            r.kill(who % n);
                        }
                    }
                }
            }
            let c = rig.channel.counters();
            prop_assert!(c.balanced(), "tick {t}: {c:?}");
            prop_assert_eq!(c, twin.channel.counters(), "tick {}", t);
        }
        let c = *rig.channel.counters();
        prop_assert_eq!(c.in_flight, 0);
        let held: u64 = rig.mailboxes.iter().map(|m| m.len() as u64).sum();
        prop_assert_eq!(c.delivered, read + held);
        if loss == 0.0 && bandwidth.is_none() && range.is_none() && deaths.is_empty() && !ring {
            prop_assert_eq!(c.dropped_total(), c.dropped_for(DropReason::MailboxOverflow)
                + c.dropped_for(DropReason::NoReceiver) + c.dropped_for(DropReason::Topology));
        }
    }

    /// Loss and latency draws depend on (seed, sender, tick, copy), never on which other
    /// senders exist: removing a sender's traffic leaves every other copy's fate unchanged.
    #[test]
    fn one_senders_draws_do_not_depend_on_other_senders(seed in any::<u64>(), quiet in 0u32..6) {
        let spec = CommsSpec { latency: Latency::Uniform(1, 5), loss: 0.3, ..CommsSpec::default() };
        let run = |silent: Option<u32>| {
            let mut rig = Rig::new(&spec, 6, seed);
            let mut got: Vec<(u32, u32, u64)> = Vec::new();
            for t in 0..20 {
                rig.deliver(t);
                for mb in &mut rig.mailboxes {
                    got.extend(mb.drain().map(|m| (m.sender(), m.receiver, m.delivered)));
                }
                if t < 10 {
                    for s in 0..6u32 {
                        if Some(s) != silent {
                            rig.outboxes[s as usize].broadcast(Performative::Inform, s);
                        }
                    }
                    rig.transmit(t);
                }
            }
            got.sort_unstable();
            got
        };
        let all = run(None);
        let some = run(Some(quiet));
        let without: Vec<_> = all.iter().copied().filter(|m| m.0 != quiet).collect();
        prop_assert_eq!(without, some);
    }
}

#[test]
fn copies_in_flight_cost_no_more_than_an_envelope() {
    assert_eq!(size_of::<Envelope<u64>>(), 64, "one cache line");
    assert_eq!(
        size_of::<Option<Envelope<u64>>>(),
        size_of::<Envelope<u64>>()
    );
}

#[test]
fn overflow_policies_keep_the_first_or_the_last_arrivals() {
    for (overflow, kept) in [
        (Overflow::DropNewest, vec![0, 1]),
        (Overflow::DropOldest, vec![3, 4]),
    ] {
        let spec = CommsSpec {
            mailbox: MailboxSpec {
                capacity: 2,
                overflow,
            },
            ..CommsSpec::default()
        };
        let mut rig = Rig::new(&spec, 3, 1);
        for k in 0..5 {
            rig.outboxes[0].tell(1, Performative::Inform, k);
        }
        rig.transmit(0);
        rig.deliver(1);
        let got: Vec<u32> = rig.mailboxes[1].iter().map(|m| m.payload).collect();
        assert_eq!(got, kept, "{overflow:?}");
        let c = rig.channel.counters();
        assert_eq!(
            (c.delivered, c.dropped_for(DropReason::MailboxOverflow)),
            (2, 3)
        );
        // A later arrival into a full mailbox: DropOldest evicts a delivered message.
        rig.outboxes[2].tell(1, Performative::Inform, 9);
        rig.transmit(1);
        rig.deliver(2);
        let c = rig.channel.counters();
        assert!(c.balanced());
        assert_eq!(c.dropped_for(DropReason::MailboxOverflow), 4);
    }
}

#[test]
fn range_bandwidth_topology_and_unknown_receivers_are_dropped_for_their_reason() {
    let spec = CommsSpec {
        range: Some(1.5),
        bandwidth: Some(3),
        topology: TopologySpec::Ring,
        ..CommsSpec::default()
    };
    let mut rig = Rig::new(&spec, 6, 1);
    let ob = &mut rig.outboxes[0];
    ob.tell(1, Performative::Inform, 0); // neighbour, in range
    ob.tell(5, Performative::Inform, 0); // ring neighbour, 5 units away: range
    ob.tell(2, Performative::Inform, 0); // not a neighbour: topology
    ob.tell(42, Performative::Inform, 0); // no such agent
    ob.tell(1, Performative::Inform, 0); // second accepted copy
    ob.tell(1, Performative::Inform, 0); // third: bandwidth 3 reached
    ob.tell(1, Performative::Inform, 0); // a fourth exceeds it
    rig.transmit(0);
    rig.deliver(1);
    let c = rig.channel.counters();
    assert_eq!(c.sent, 7);
    assert_eq!(c.delivered, 3);
    for (reason, n) in [
        (DropReason::Range, 1),
        (DropReason::Topology, 1),
        (DropReason::NoReceiver, 1),
        (DropReason::Bandwidth, 1),
    ] {
        assert_eq!(c.dropped_for(reason), n, "{reason:?}");
    }
    // In-range addressing: agents at distance <= 2.5 that are neighbours (ring: 1 only;
    // 5 is a neighbour but 5 units away).
    let spec = CommsSpec::default();
    let mut rig = Rig::new(&spec, 6, 1);
    rig.outboxes[2].send(Recipients::InRange(1.5), Header::new(Performative::Cfp), 7);
    rig.outboxes[0].send(Recipients::Group(1), Header::new(Performative::Cfp), 8);
    rig.transmit(0);
    rig.deliver(1);
    let receivers = |p: u32| -> Vec<u32> {
        (0..6)
            .filter(|&i| rig.mailboxes[i].iter().any(|m| m.payload == p))
            .map(|i| i as u32)
            .collect()
    };
    assert_eq!(receivers(7), vec![1, 3]);
    assert_eq!(receivers(8), vec![1, 3, 5], "group 1 is the odd ids");
    let m = rig.mailboxes[3].iter().find(|m| m.payload == 7).unwrap();
    assert_eq!((m.cast, m.sent, m.delivered), (Cast::InRange, 0, 1));
}

// --- The bus inside simulations -------------------------------------------------------------

/// Test behavior: every tick each agent tells two random neighbours and, every third tick,
/// broadcasts; it keeps a log of what it heard. With `wander`, it also moves.
#[derive(Component, Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct Chatter {
    wander: bool,
}

#[derive(Component, Default, Debug, Clone, PartialEq)]
struct Heard(Vec<(u64, u32, u32, u32)>);

/// Puts odd agents in another archetype, so that queries visit agents in another order.
#[derive(Component, Default)]
struct Odd;

#[derive(Component, Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct OddChatter {
    wander: bool,
}

fn chat(
    tick: Res<Tick>,
    rng: Res<SimRng>,
    bus: Res<Bus<u32>>,
    mut agents: Query<(&AgentId, &mut Heard, &mut Mailbox<u32>, &mut Outbox<u32>)>,
) {
    agents
        .par_iter_mut()
        .for_each(|(id, mut heard, mut inbox, mut outbox)| {
            for m in inbox.drain() {
                heard.0.push((m.delivered, m.sender(), m.id.seq, m.payload));
            }
            let mut r = rng.agent(id.0, tick.0, Purpose::DECIDE);
            for _ in 0..2 {
                if let Some(to) = bus.random_neighbor(id.0, &mut r) {
                    outbox.tell(to, Performative::Inform, id.0);
                }
            }
            if tick.0.is_multiple_of(3) {
                outbox.broadcast(Performative::Propose, 1000 + id.0);
            }
        });
}

fn wander(
    tick: Res<Tick>,
    rng: Res<SimRng>,
    space: Res<Space>,
    mut q: Query<(&AgentId, &Chatter, &mut Position)>,
) {
    q.iter_mut().for_each(|(id, c, mut p)| {
        if c.wander {
            let mut r = rng.agent(id.0, tick.0, Purpose::MOVE);
            let step = DVec2::new(r.unit_f64() - 0.5, r.unit_f64() - 0.5) * 4.0;
            p.0 = space.wrap(p.0 + step);
        }
    });
}

impl Behavior for Chatter {
    const NAME: &'static str = "chatter";
    const SUMMARY: &'static str = "Test: tells random neighbours.";
    fn build(sim: &mut SimBuilder) {
        sim.messaging::<u32>(Self::NAME)
            .add_systems(Phase::Decide, chat)
            .add_systems(Phase::Act, wander);
    }
    fn spawn(&self, agent: &mut AgentSpawn) {
        agent.insert(Heard::default());
    }
}

impl Behavior for OddChatter {
    const NAME: &'static str = "odd_chatter";
    const SUMMARY: &'static str = "Test: chatter whose odd agents live in another archetype.";
    fn build(sim: &mut SimBuilder) {
        sim.messaging::<u32>(Self::NAME)
            .add_systems(Phase::Decide, chat);
    }
    fn spawn(&self, agent: &mut AgentSpawn) {
        agent.insert(Heard::default());
        if agent.id() % 2 == 1 {
            agent.insert(Odd);
        }
    }
}

fn simulate(src: &str) -> Sim {
    let mut registry = Registry::new();
    registry.behavior::<Chatter>().behavior::<OddChatter>();
    let scenario = Scenario::parse(src, "test", &registry).unwrap();
    let mut sim = Sim::new(&scenario, &registry, SimOptions::default()).unwrap();
    sim.run().unwrap();
    sim
}

fn heard(sim: &mut Sim) -> Vec<(u32, Heard)> {
    let mut q = sim.world_mut().query::<(&AgentId, &Heard)>();
    let mut v: Vec<(u32, Heard)> = q
        .iter(sim.world())
        .map(|(id, h)| (id.0, h.clone()))
        .collect();
    v.sort_by_key(|x| x.0);
    v
}

const CHAT: &str = r#"#![enable(implicit_some)]
(schema: 1, seed: 4, ticks: 30, world: (width: 20.0, height: 20.0, boundary: Walls),
 comms: (latency: Uniform(1, 3), loss: 0.2, topology: WattsStrogatz(4, 0.2), mailbox: (capacity: 5)),
 populations: [(behavior: "BEHAVIOR", count: 40)])"#;

#[test]
fn delivery_does_not_depend_on_the_order_agents_are_stored_in() {
    let mut plain = simulate(&CHAT.replace("BEHAVIOR", "chatter"));
    let mut shuffled = simulate(&CHAT.replace("BEHAVIOR", "odd_chatter"));
    // The two layouts really are visited in different orders.
    let order = |sim: &mut Sim| -> Vec<u32> {
        let mut q = sim.world_mut().query::<&AgentId>();
        q.iter(sim.world()).map(|id| id.0).collect()
    };
    assert_ne!(order(&mut plain), order(&mut shuffled));
    let a = heard(&mut plain);
    assert!(a.iter().map(|h| h.1.0.len()).sum::<usize>() > 1000);
    assert_eq!(a, heard(&mut shuffled));
    assert_eq!(counters(plain.world()), counters(shuffled.world()));
    for (_, h) in &a {
        let keys: Vec<(u64, u32, u32)> = h.0.iter().map(|m| (m.0, m.1, m.2)).collect();
        assert!(keys.windows(2).all(|w| w[0] < w[1]), "delivery order");
    }
}

#[test]
fn topologies_rebuilt_from_positions_follow_the_agents_and_failures_drop_messages() {
    let src = r#"#![enable(implicit_some)]
(schema: 1, seed: 8, ticks: 24, world: (width: 20.0, height: 20.0, boundary: Torus),
 comms: (latency: Fixed(2), topology: KNearest(3), rebuild_every: 5),
 populations: [(behavior: "chatter", name: "c", count: 30, params: (wander: true))],
 events: [(tick: 10, action: Kill(count: 5)), (tick: 12, action: Spawn(group: "c", count: 4))])"#;
    let mut registry = Registry::new();
    registry.behavior::<Chatter>();
    let scenario = Scenario::parse(src, "test", &registry).unwrap();
    let mut sim = Sim::new(&scenario, &registry, SimOptions::default()).unwrap();
    sim.step().unwrap();
    let first = sim.world().resource::<Bus<u32>>().topology().clone();
    sim.run().unwrap();
    let bus = sim.world().resource::<Bus<u32>>();
    assert_ne!(&first, bus.topology(), "rebuilt from new positions");
    assert_eq!(bus.members().len(), 29);
    assert!(bus.members().contains(&33), "joiners are members");
    let c = counters(sim.world());
    assert!(c.balanced());
    assert!(c.dropped_for(DropReason::ReceiverGone) + c.dropped_for(DropReason::SenderGone) > 0);
    let mut q = sim.world_mut().query::<(&AgentId, &Population)>();
    assert_eq!(q.iter(sim.world()).count(), 29);
    let journal = sim.world().resource::<Journal>();
    assert_eq!((journal.count("killed"), journal.count("spawned")), (5, 4));
}

/// A mailbox handle that counts mutable accesses: the ones that count as a change (`Mut`
/// marks its component changed) and the quiet ones.
struct Counted<'a> {
    mailbox: &'a mut Mailbox<u32>,
    loud: &'a std::cell::Cell<u32>,
    quiet: &'a std::cell::Cell<u32>,
}

impl std::ops::Deref for Counted<'_> {
    type Target = Mailbox<u32>;
    fn deref(&self) -> &Mailbox<u32> {
        self.mailbox
    }
}

impl std::ops::DerefMut for Counted<'_> {
    fn deref_mut(&mut self) -> &mut Mailbox<u32> {
        self.loud.set(self.loud.get() + 1);
        self.mailbox
    }
}

impl MailboxHandle<u32> for Counted<'_> {
    fn quietly(&mut self) -> &mut Mailbox<u32> {
        self.quiet.set(self.quiet.get() + 1);
        self.mailbox
    }
}

#[test]
fn prefetching_mailboxes_ahead_of_delivery_does_not_count_as_changing_them() {
    // Copies with a long latency wait in the calendar and are delivered looking ahead;
    // short ones are filed by receiver and land per receiver.
    for (latency, looks_ahead) in [(40, true), (1, false)] {
        let n = 60;
        let spec = CommsSpec {
            latency: Latency::Fixed(latency),
            ..CommsSpec::default()
        };
        let mut rig = Rig::new(&spec, n, 1);
        for to in 1..n {
            rig.outboxes[0].tell(to, Performative::Inform, to);
        }
        rig.transmit(0);
        // The sender leaves while its copies are in flight: they are dropped at delivery
        // without their mailboxes being touched, although delivery looked ahead at them.
        rig.kill(0);
        let loud: Vec<_> = (0..n).map(|_| std::cell::Cell::new(0)).collect();
        let quiet: Vec<_> = (0..n).map(|_| std::cell::Cell::new(0)).collect();
        let mut by_slot: Vec<Option<Counted<'_>>> = Vec::new();
        by_slot.resize_with(rig.members.len(), || None);
        for (i, mailbox) in rig.mailboxes.iter_mut().enumerate() {
            if let Some(slot) = rig.members.slot(i as u32) {
                by_slot[slot as usize] = Some(Counted {
                    mailbox,
                    loud: &loud[i],
                    quiet: &quiet[i],
                });
            }
        }
        rig.channel
            .deliver(u64::from(latency), &rig.members, by_slot.as_mut_slice());
        let c = rig.channel.counters();
        assert_eq!(c.dropped_for(DropReason::SenderGone), u64::from(n - 1));
        assert!(loud.iter().all(|l| l.get() == 0), "a mailbox was marked");
        let looked = quiet.iter().map(std::cell::Cell::get).sum::<u32>() > 0;
        assert_eq!(looked, looks_ahead);
    }
}
