//! The channel: everything between an outbox and a mailbox. Independent of the ECS so that it
//! can be tested and measured on its own; `super::bus` drives it from the tick's systems.
//!
//! Data layout, chosen for throughput. Copies in flight take one of two ways:
//! - *Filed by receiver* (nothing is logged and the latency is fixed, at most
//!   [`FILED_MAX_LATENCY`] ticks: the common case). Each copy is appended, as it is sent, to
//!   its receiver's list in the tray of its delivery tick. Senders transmit in id order and
//!   every copy in a tray was sent in the same tick, so each list is already in (sender,
//!   sequence) order; delivery hands each list to its mailbox in one move (when the
//!   mailbox is empty, the list's buffer becomes the mailbox's and the mailbox's empty one
//!   goes back to the tray), so a copy is written once on its way and read by the receiver
//!   only. The scattered stores of sending are prefetched an outbox (or a broadcast) at a
//!   time.
//! - *In the calendar* (messages logged, or a random or long latency): a ring of reusable
//!   per-tick buckets indexed by delivery tick, appended in (sender id, send sequence,
//!   receiver id) order. A bucket that received copies from a single send tick is
//!   therefore already in delivery order; one that mixes send ticks (random latency) is
//!   delivered through a merge of its runs by sender id (indices only, no envelope moves),
//!   which is correct because a sender's sequence numbers grow with time. Delivery reads
//!   the due copies once, in that order, appending each to its receiver's mailbox
//!   (mailboxes are handed over indexed by member slot, so a copy costs one write), and
//!   the log lists every copy's fate in that global order.
//!
//! Both ways give the same mailboxes and counters (a property test runs a logging twin of
//! every random channel). Nothing here allocates per message once buffers have grown,
//! except cloning a payload that owns heap memory for the second and later receivers of a
//! multi-receiver message.

use super::envelope::{
    Cast, ConversationId, Dest, Envelope, Mailbox, MessageId, Outbox, Performative,
};
use super::size::serialized_size;
use super::spec::{CommsSpec, Latency, MAX_LATENCY, Overflow};
use super::topology::Topology;
use crate::rng::{AgentRng, Purpose, SimRng};
use crate::space::{GridItem, Space, UniformGrid};
use glam::DVec2;
use serde::Serialize;
use std::collections::{HashMap, VecDeque};

/// What a message type must be to travel on a bus: cloneable (one copy per receiver),
/// shareable between threads, and serializable (its encoded size feeds the `bytes` counters).
pub trait Payload: Clone + Send + Sync + Serialize + 'static {}

impl<T: Clone + Send + Sync + Serialize + 'static> Payload for T {}

/// Why a message copy did not reach a mailbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DropReason {
    /// Lost in transit (the channel's `loss` probability).
    Loss,
    /// Sender and receiver were farther apart than the channel's `range`.
    Range,
    /// The receiver is not the sender's neighbour in the topology.
    Topology,
    /// The sender exceeded its `bandwidth` this tick.
    Bandwidth,
    /// The receiver's mailbox was full (or, with `DropOldest`, the copy was evicted unread).
    MailboxOverflow,
    /// The receiver died before delivery.
    ReceiverGone,
    /// The sender died before delivery.
    SenderGone,
    /// No such agent listens on this bus (never existed, or does not use this message type).
    NoReceiver,
}

impl DropReason {
    /// Number of reasons.
    pub const COUNT: usize = 8;
    /// Every reason, in the order of [`CommsCounters::dropped`].
    pub const ALL: [DropReason; DropReason::COUNT] = [
        DropReason::Loss,
        DropReason::Range,
        DropReason::Topology,
        DropReason::Bandwidth,
        DropReason::MailboxOverflow,
        DropReason::ReceiverGone,
        DropReason::SenderGone,
        DropReason::NoReceiver,
    ];

    /// The snake_case name used in outputs.
    pub fn name(self) -> &'static str {
        match self {
            DropReason::Loss => "loss",
            DropReason::Range => "range",
            DropReason::Topology => "topology",
            DropReason::Bandwidth => "bandwidth",
            DropReason::MailboxOverflow => "mailbox_overflow",
            DropReason::ReceiverGone => "receiver_gone",
            DropReason::SenderGone => "sender_gone",
            DropReason::NoReceiver => "no_receiver",
        }
    }
}

/// Cumulative message accounting of one bus (or, summed, of a run). Counts are per copy: a
/// broadcast to 5 neighbours is 5 copies. At every tick boundary
/// `sent == delivered + dropped_total() + in_flight`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CommsCounters {
    /// Copies sent.
    pub sent: u64,
    /// Copies placed in a mailbox (and not evicted since).
    pub delivered: u64,
    /// Copies dropped, indexed like [`DropReason::ALL`].
    pub dropped: [u64; DropReason::COUNT],
    /// Copies travelling now.
    pub in_flight: u64,
    /// Sum of the latencies of delivered copies, in ticks.
    pub latency_sum: u64,
    /// Number of copies in `latency_sum`.
    pub latency_count: u64,
    /// Payload bytes of the copies sent (compact binary encoding, see [`super::serialized_size`]).
    pub bytes_sent: u64,
    /// Payload bytes of the copies delivered.
    pub bytes_delivered: u64,
    /// Copies sent per performative, indexed like [`Performative::ALL`] (protocols report
    /// messages per task by performative from it).
    pub sent_by_performative: [u64; Performative::ALL.len()],
    /// Payload bytes of the copies sent per performative, indexed like [`Performative::ALL`].
    pub bytes_by_performative: [u64; Performative::ALL.len()],
}

impl CommsCounters {
    /// Copies dropped, all reasons.
    pub fn dropped_total(&self) -> u64 {
        self.dropped.iter().sum()
    }

    /// Copies dropped for `reason`.
    pub fn dropped_for(&self, reason: DropReason) -> u64 {
        self.dropped[reason as usize]
    }

    /// Whether every copy sent is accounted for.
    pub fn balanced(&self) -> bool {
        self.sent == self.delivered + self.dropped_total() + self.in_flight
    }

    /// Mean latency of delivered copies, in ticks (NaN before the first delivery).
    pub fn mean_latency(&self) -> f64 {
        if self.latency_count == 0 {
            f64::NAN
        } else {
            self.latency_sum as f64 / self.latency_count as f64
        }
    }

    /// Adds another bus's counters.
    pub fn add(&mut self, o: &CommsCounters) {
        self.sent += o.sent;
        self.delivered += o.delivered;
        for (a, b) in self.dropped.iter_mut().zip(o.dropped) {
            *a += b;
        }
        self.in_flight += o.in_flight;
        self.latency_sum += o.latency_sum;
        self.latency_count += o.latency_count;
        self.bytes_sent += o.bytes_sent;
        self.bytes_delivered += o.bytes_delivered;
        for (a, b) in self
            .sent_by_performative
            .iter_mut()
            .zip(o.sent_by_performative)
        {
            *a += b;
        }
        for (a, b) in self
            .bytes_by_performative
            .iter_mut()
            .zip(o.bytes_by_performative)
        {
            *a += b;
        }
    }

    /// Copies sent with `performative`.
    pub fn sent_with(&self, performative: Performative) -> u64 {
        self.sent_by_performative[performative as usize]
    }

    /// Payload bytes sent with `performative`.
    pub fn bytes_with(&self, performative: Performative) -> u64 {
        self.bytes_by_performative[performative as usize]
    }
}

/// What happened to a message copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Placed in the receiver's mailbox.
    Delivered,
    /// Dropped, and why.
    Dropped(DropReason),
}

/// One row of `messages.csv`: a copy's fate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MessageEvent {
    /// Tick of the outcome (delivery, or the drop).
    pub tick: u64,
    /// Tick it was sent in.
    pub sent: u64,
    /// Sender id.
    pub sender: u32,
    /// Sender's sequence number.
    pub seq: u32,
    /// Receiver id.
    pub receiver: u32,
    /// Performative.
    pub performative: Performative,
    /// Conversation.
    pub conversation: ConversationId,
    /// How it was addressed.
    pub cast: Cast,
    /// Delivered or dropped.
    pub outcome: Outcome,
}

/// Who listens on a bus: its members (agents using its message type, ascending ids), with
/// their populations and positions, and which ids belonged to agents that have died.
#[derive(Debug, Clone, Default)]
pub struct Members {
    ids: Vec<u32>,
    population: Vec<u16>,
    positions: Vec<DVec2>,
    slot_of: Vec<u32>,
    gone: Vec<bool>,
    departures: u64,
}

const NO_SLOT: u32 = u32::MAX;

/// A receiver id's standing on a bus.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    /// A live member, at this slot.
    Member(u32),
    /// It died.
    Gone,
    /// No live member has this id.
    Unknown,
}

impl Members {
    /// Sets the members from `(id, population)` pairs (any order) and the dead ids.
    pub fn rebuild(&mut self, members: impl IntoIterator<Item = (u32, u16)>, gone: &[u32]) {
        let mut pairs: Vec<(u32, u16)> = members.into_iter().collect();
        pairs.sort_unstable();
        self.departures += self
            .ids
            .iter()
            .filter(|&&id| pairs.binary_search_by_key(&id, |p| p.0).is_err())
            .count() as u64;
        self.ids.clear();
        self.population.clear();
        self.ids.extend(pairs.iter().map(|p| p.0));
        self.population.extend(pairs.iter().map(|p| p.1));
        self.positions.resize(self.ids.len(), DVec2::ZERO);
        let top = self
            .ids
            .last()
            .copied()
            .into_iter()
            .chain(gone.iter().copied())
            .max()
            .map_or(0, |m| m as usize + 1);
        self.slot_of.clear();
        self.slot_of.resize(top, NO_SLOT);
        for (slot, &id) in self.ids.iter().enumerate() {
            self.slot_of[id as usize] = slot as u32;
        }
        self.gone.clear();
        self.gone.resize(top, false);
        for &g in gone {
            self.gone[g as usize] = true;
        }
    }

    /// Member ids, ascending.
    pub fn ids(&self) -> &[u32] {
        &self.ids
    }

    /// How many members have left since the start (summed over rebuilds): while it stays
    /// the same, every member of an earlier tick still is one.
    pub(crate) fn departures(&self) -> u64 {
        self.departures
    }

    /// Number of members.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// The member slot of agent `id`.
    #[inline]
    pub fn slot(&self, id: u32) -> Option<u32> {
        self.slot_of
            .get(id as usize)
            .copied()
            .filter(|&s| s != NO_SLOT)
    }

    /// Whether `id` is a live member, dead, or unknown here.
    #[inline]
    pub fn standing(&self, id: u32) -> Standing {
        match self.slot(id) {
            Some(s) => Standing::Member(s),
            None if self.gone.get(id as usize).copied().unwrap_or(false) => Standing::Gone,
            None => Standing::Unknown,
        }
    }

    /// Population of the member at `slot`.
    #[inline]
    pub fn population(&self, slot: u32) -> u16 {
        self.population[slot as usize]
    }

    /// Positions, by slot.
    pub fn positions(&self) -> &[DVec2] {
        &self.positions
    }

    /// Sets the position of the member at `slot`.
    #[inline]
    pub fn set_position(&mut self, slot: u32, pos: DVec2) {
        self.positions[slot as usize] = pos;
    }
}

/// The channel model with its draws precomputed.
#[derive(Debug, Clone)]
struct Model {
    latency: Latency,
    geometric_log: f64,
    /// Loss as a threshold on a uniform `u32`: `loss * 2^32`.
    loss_threshold: u64,
    range2: Option<f64>,
    range: Option<f64>,
    bandwidth: Option<u32>,
    capacity: usize,
    overflow: Overflow,
    random: bool,
    random_latency: bool,
}

impl Model {
    fn new(spec: &CommsSpec) -> Model {
        let geometric_log = match spec.latency {
            Latency::Geometric(p) if p < 1.0 => (1.0 - p).ln(),
            _ => 0.0,
        };
        let loss_threshold = (spec.loss.clamp(0.0, 1.0) * 4_294_967_296.0).round() as u64;
        Model {
            latency: spec.latency,
            geometric_log,
            loss_threshold,
            range2: spec.range.map(|r| r * r),
            range: spec.range,
            bandwidth: spec.bandwidth,
            capacity: spec.mailbox.capacity.max(1) as usize,
            overflow: spec.mailbox.overflow,
            random: loss_threshold > 0 || !matches!(spec.latency, Latency::Fixed(_)),
            random_latency: !matches!(spec.latency, Latency::Fixed(_)),
        }
    }

    /// The latency when it is fixed.
    fn fixed(&self) -> Option<u32> {
        match self.latency {
            Latency::Fixed(l) => Some(l),
            _ => None,
        }
    }

    #[inline]
    fn latency(&self, w: u32) -> u64 {
        match self.latency {
            Latency::Fixed(l) => u64::from(l),
            Latency::Uniform(a, b) => {
                let span = u64::from(b - a) + 1;
                u64::from(a) + ((u64::from(w) * span) >> 32)
            }
            Latency::Geometric(_) if self.geometric_log == 0.0 => 1,
            Latency::Geometric(_) => {
                let u = (f64::from(w) + 1.0) / 4_294_967_296.0;
                let k = 1.0 + (u.ln() / self.geometric_log).floor();
                (k as u64).clamp(1, u64::from(MAX_LATENCY))
            }
        }
    }
}

struct Bucket<P> {
    /// `None` once delivered or dropped; `Option` costs no space (the envelope has a niche).
    copies: Vec<Option<Envelope<P>>>,
    /// Where each send tick's run of copies starts (one run per send tick, each in (sender,
    /// sequence) order).
    runs: Vec<u32>,
    last_sent: u64,
}

impl<P> Bucket<P> {
    fn new(copies: Vec<Option<Envelope<P>>>, runs: Vec<u32>) -> Bucket<P> {
        Bucket {
            copies,
            runs,
            last_sent: u64::MAX,
        }
    }
}

/// Copies and payload bytes of the copies in a tray that are still to land.
#[derive(Debug, Clone, Copy, Default)]
struct Tally {
    copies: u64,
    bytes: u64,
}

impl Tally {
    /// Takes a copy that will not land out of the tally.
    fn remove<P: Serialize>(&mut self, env: &Envelope<P>) {
        self.copies -= 1;
        self.bytes -= serialized_size(&env.payload);
    }
}

/// The copies due at one tick, filed by receiver as they are sent (see [`Channel`]). They
/// were all sent in one tick (the latency is fixed), senders in id order, so each list is
/// in (sender, sequence) order.
struct Tray<P> {
    /// By receiver id: its copies.
    lists: Vec<Vec<Envelope<P>>>,
    /// Receivers with copies here, in the order they got their first.
    touched: Vec<u32>,
    tally: Tally,
    /// [`Members::departures`] when the first copy was filed: if it has not changed by
    /// delivery, every sender is still a member.
    departures: u64,
}

impl<P> Default for Tray<P> {
    fn default() -> Self {
        Tray {
            lists: Vec::new(),
            touched: Vec::new(),
            tally: Tally::default(),
            departures: 0,
        }
    }
}

/// The longest (fixed) latency for which copies are filed by receiver: a tray has a list
/// header per receiver id, so the trays in flight cost latency x 24 bytes per agent.
const FILED_MAX_LATENCY: u32 = 8;

/// What one tick's sending needs besides the outbox.
#[derive(Debug, Clone, Copy)]
pub struct Net<'a> {
    /// The tick being executed.
    pub tick: u64,
    /// The run's randomness (loss and latency draws come from the sender's `CHANNEL` stream).
    pub rng: &'a SimRng,
    /// The world, for distances.
    pub space: &'a Space,
    /// Who listens.
    pub members: &'a Members,
    /// Who may talk to whom.
    pub topology: &'a Topology,
}

/// Which performatives reach the log.
#[derive(Debug, Clone)]
struct LogFilter([bool; 22]);

/// Per-sender state while its outbox is transmitted.
struct Sending {
    sender: u32,
    slot: Option<u32>,
    used: u32,
    rng: Option<AgentRng>,
}

/// Senders' `CHANNEL` streams for one tick, computed eight at a time: senders transmit in
/// ascending id order, so the next few ids usually follow. Each stream is exactly what
/// [`SimRng::agent`] gives; a stream not taken is just wasted work.
#[derive(Debug, Default)]
struct SenderStreams {
    tick: u64,
    first: u32,
    streams: [Option<AgentRng>; 8],
}

impl SenderStreams {
    fn take(&mut self, rng: &SimRng, sender: u32, tick: u64) -> AgentRng {
        let lane = sender.wrapping_sub(self.first) as usize;
        if self.tick == tick
            && let Some(stream) = self.streams.get_mut(lane).and_then(Option::take)
        {
            return stream;
        }
        let ids = std::array::from_fn(|i| sender.saturating_add(i as u32));
        self.streams = rng.agents8(ids, tick, Purpose::CHANNEL).map(Some);
        self.tick = tick;
        self.first = sender;
        self.streams[0].take().expect("just computed")
    }
}

/// A bus's channel: in-flight copies, counters, and the message log.
pub struct Channel<P> {
    model: Model,
    calendar: VecDeque<Bucket<P>>,
    /// The delivery tick of `calendar[0]`.
    base: u64,
    spare: Vec<Vec<Option<Envelope<P>>>>,
    spare_runs: Vec<Vec<u32>>,
    counters: CommsCounters,
    receivers: Vec<u32>,
    found: Vec<u32>,
    grid: UniformGrid<u32>,
    grid_state: Option<(u64, f64)>,
    // Delivery in progress: the due copies, and per receiver slot the arrivals still to
    // come and how many of them the mailbox refuses.
    due: Vec<Option<Envelope<P>>>,
    /// Delivery order of `due` when its buckets mixed send ticks (empty: `due` is in order).
    order: Vec<u32>,
    /// `(start, end)` of the runs being merged.
    heads: Vec<(u32, u32)>,
    arriving: Vec<u32>,
    refused: Vec<u32>,
    log: Option<(LogFilter, Vec<MessageEvent>)>,
    evicted: Vec<MessageEvent>,
    talk: Option<HashMap<(u32, u32), u64>>,
    streams: SenderStreams,
    /// Copies filed by receiver, by delivery tick from `tray_base` on.
    trays: VecDeque<Tray<P>>,
    tray_base: u64,
    spare_trays: Vec<Tray<P>>,
}

impl<P> std::fmt::Debug for Channel<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Channel")
            .field("counters", &self.counters)
            .finish_non_exhaustive()
    }
}

fn event_of<P>(env: &Envelope<P>, tick: u64, outcome: Outcome) -> MessageEvent {
    MessageEvent {
        tick,
        sent: env.sent,
        sender: env.id.sender,
        seq: env.id.seq,
        receiver: env.receiver,
        performative: env.header.performative,
        conversation: env.header.conversation,
        cast: env.cast,
        outcome,
    }
}

impl<P: Payload> Channel<P> {
    /// A channel following `spec` (assumed valid: see [`CommsSpec::check`]).
    pub fn new(spec: &CommsSpec) -> Channel<P> {
        Channel {
            model: Model::new(spec),
            calendar: VecDeque::new(),
            base: 0,
            spare: Vec::new(),
            spare_runs: Vec::new(),
            counters: CommsCounters::default(),
            receivers: Vec::new(),
            found: Vec::new(),
            grid: UniformGrid::new(),
            grid_state: None,
            due: Vec::new(),
            order: Vec::new(),
            heads: Vec::new(),
            arriving: Vec::new(),
            refused: Vec::new(),
            log: None,
            evicted: Vec::new(),
            talk: None,
            streams: SenderStreams::default(),
            trays: VecDeque::new(),
            tray_base: 0,
            spare_trays: Vec::new(),
        }
    }

    /// The counters so far.
    pub fn counters(&self) -> &CommsCounters {
        &self.counters
    }

    /// Starts logging every copy's outcome, keeping only `performatives` (all when empty).
    /// Call it before the first message is sent: copies already in flight are delivered
    /// unlogged.
    pub fn enable_log(&mut self, performatives: &[Performative]) {
        let mut keep = [performatives.is_empty(); 22];
        for &p in performatives {
            keep[p as usize] = true;
        }
        self.log = Some((LogFilter(keep), Vec::new()));
    }

    /// Starts counting who delivered to whom.
    pub fn enable_talk_graph(&mut self) {
        self.talk.get_or_insert_with(HashMap::new);
    }

    /// Delivered copies per `(sender, receiver)` pair, sorted, if counting is on.
    pub fn talk_edges(&self) -> Option<Vec<(u32, u32, u64)>> {
        self.talk.as_ref().map(|t| {
            let mut v: Vec<(u32, u32, u64)> = t.iter().map(|(&(a, b), &n)| (a, b, n)).collect();
            v.sort_unstable();
            v
        })
    }

    /// Takes the log rows written since the last call (empty when logging is off).
    pub fn take_log(&mut self, into: &mut Vec<MessageEvent>) {
        if let Some((_, rows)) = &mut self.log {
            into.append(rows);
        }
    }

    #[inline]
    fn note(&mut self, ev: MessageEvent) {
        if let Some((filter, rows)) = &mut self.log
            && filter.0[ev.performative as usize]
        {
            rows.push(ev);
        }
    }

    /// Sends everything in `outbox` (sent in `net.tick`) and empties it. Call once per
    /// sender per tick, in ascending sender id order: that order is the delivery order.
    pub fn transmit(&mut self, net: &Net<'_>, outbox: &mut Outbox<P>) {
        let sender = outbox.owner();
        let mut st = Sending {
            sender,
            slot: net.members.slot(sender),
            used: 0,
            rng: None,
        };
        let Outbox {
            pending, targets, ..
        } = outbox;
        self.prefetch_filing(
            net.tick,
            pending.iter().filter_map(|msg| match msg.dest {
                Dest::Agent(r) => Some(r),
                _ => None,
            }),
        );
        for msg in pending.drain(..) {
            let bytes = serialized_size(&msg.payload);
            let id = MessageId {
                sender,
                seq: msg.seq,
            };
            if let Dest::Agent(receiver) = msg.dest {
                // The common case, without the receiver list.
                self.copy(
                    net,
                    &mut st,
                    id,
                    receiver,
                    Cast::Unicast,
                    msg.header,
                    bytes,
                    msg.payload,
                );
                continue;
            }
            let cast = self.expand(net, sender, st.slot, msg.dest, targets);
            let receivers = std::mem::take(&mut self.receivers);
            self.prefetch_filing(net.tick, receivers.iter().copied());
            if let Some((&last, rest)) = receivers.split_last() {
                for &r in rest {
                    self.copy(
                        net,
                        &mut st,
                        id,
                        r,
                        cast,
                        msg.header,
                        bytes,
                        msg.payload.clone(),
                    );
                }
                self.copy(net, &mut st, id, last, cast, msg.header, bytes, msg.payload);
            }
            self.receivers = receivers;
        }
        targets.clear();
    }

    /// Sends one copy: the checks in order (sender, receiver, topology, range, bandwidth,
    /// loss), then the latency draw and the calendar.
    #[expect(
        clippy::too_many_arguments,
        reason = "one hot call site per addressing form"
    )]
    #[inline]
    fn copy(
        &mut self,
        net: &Net<'_>,
        st: &mut Sending,
        id: MessageId,
        receiver: u32,
        cast: Cast,
        header: super::envelope::Header,
        bytes: u64,
        payload: P,
    ) {
        let tick = net.tick;
        self.counters.sent += 1;
        self.counters.bytes_sent += bytes;
        self.counters.sent_by_performative[header.performative as usize] += 1;
        self.counters.bytes_by_performative[header.performative as usize] += bytes;
        let env = Envelope {
            id,
            receiver,
            cast,
            header,
            sent: tick,
            delivered: tick,
            payload,
        };
        let Some(from) = st.slot else {
            return self.drop_env(DropReason::SenderGone, &env, tick);
        };
        let to = match net.members.standing(receiver) {
            Standing::Member(s) => s,
            Standing::Gone => return self.drop_env(DropReason::ReceiverGone, &env, tick),
            Standing::Unknown => return self.drop_env(DropReason::NoReceiver, &env, tick),
        };
        if !net.topology.connected(st.sender, receiver) {
            return self.drop_env(DropReason::Topology, &env, tick);
        }
        if let Some(r2) = self.model.range2 {
            let p = net.members.positions();
            if net.space.distance_squared(p[from as usize], p[to as usize]) > r2 {
                return self.drop_env(DropReason::Range, &env, tick);
            }
        }
        if let Some(b) = self.model.bandwidth
            && st.used >= b
        {
            return self.drop_env(DropReason::Bandwidth, &env, tick);
        }
        st.used += 1;
        let mut latency_word = 0;
        if self.model.random {
            // Words from the sender's own stream for this tick, in send order: one for loss
            // (when lossy), one for latency (when random). A copy's fate is a pure function of
            // (seed, sender, tick, copy index), whatever the thread count.
            let r = st
                .rng
                .get_or_insert_with(|| self.streams.take(net.rng, st.sender, tick));
            if self.model.loss_threshold > 0 {
                let loss_word = rand::Rng::next_u32(r);
                if u64::from(loss_word) < self.model.loss_threshold {
                    return self.drop_env(DropReason::Loss, &env, tick);
                }
            }
            if self.model.random_latency {
                latency_word = rand::Rng::next_u32(r);
            }
        }
        let due = tick + self.model.latency(latency_word);
        let mut env = env;
        env.delivered = due;
        if self.files() {
            self.file(due, env, bytes, net.members.departures());
        } else {
            self.push(due, tick, env);
        }
    }

    #[cold]
    fn drop_env(&mut self, reason: DropReason, env: &Envelope<P>, tick: u64) {
        self.counters.dropped[reason as usize] += 1;
        if self.log.is_some() {
            self.note(event_of(env, tick, Outcome::Dropped(reason)));
        }
    }

    /// Fills `self.receivers` (ascending, unique) for one message.
    fn expand(
        &mut self,
        net: &Net<'_>,
        sender: u32,
        sender_slot: Option<u32>,
        dest: Dest,
        targets: &[u32],
    ) -> Cast {
        self.receivers.clear();
        let members = net.members;
        let topo = net.topology;
        let neighbours = |out: &mut Vec<u32>, keep: &dyn Fn(u32) -> bool| {
            if topo.is_complete() {
                out.extend(
                    members
                        .ids()
                        .iter()
                        .copied()
                        .filter(|&m| m != sender && keep(m)),
                );
            } else {
                out.extend(
                    topo.neighbors(sender)
                        .iter()
                        .copied()
                        .filter(|&m| members.slot(m).is_some() && keep(m)),
                );
            }
        };
        match dest {
            Dest::Agent(a) => {
                self.receivers.push(a);
                Cast::Unicast
            }
            Dest::List { start, len } => {
                let list = &targets[start as usize..(start + len) as usize];
                self.receivers.extend_from_slice(list);
                self.receivers.sort_unstable();
                self.receivers.dedup();
                Cast::Multicast
            }
            Dest::Group(g) => {
                neighbours(&mut self.receivers, &|m| {
                    members.slot(m).is_some_and(|s| members.population(s) == g)
                });
                Cast::Group(g)
            }
            Dest::Broadcast => {
                neighbours(&mut self.receivers, &|_| true);
                Cast::Broadcast
            }
            Dest::InRange(radius) => {
                let r = self.model.range.map_or(radius, |c| c.min(radius));
                if let (Some(from), true) = (sender_slot, r.is_finite() && r >= 0.0) {
                    self.index_members(net, r);
                    let centre = members.positions()[from as usize];
                    self.found.clear();
                    let found = &mut self.found;
                    self.grid
                        .for_each_within(centre, r, |it, _, _| found.push(it.id));
                    self.found.sort_unstable();
                    for &m in &self.found {
                        if m != sender && topo.connected(sender, m) {
                            self.receivers.push(m);
                        }
                    }
                }
                Cast::InRange
            }
        }
    }

    /// Indexes member positions for in-range addressing, once per tick (or again for a
    /// larger radius).
    fn index_members(&mut self, net: &Net<'_>, radius: f64) {
        if let Some((t, r)) = self.grid_state
            && t == net.tick
            && r >= radius
        {
            return;
        }
        let m = net.members;
        self.grid.rebuild(
            net.space,
            radius.max(1e-9),
            m.ids()
                .iter()
                .zip(m.positions())
                .enumerate()
                .map(|(slot, (&id, &pos))| GridItem {
                    pos,
                    id,
                    data: slot as u32,
                }),
        );
        self.grid_state = Some((net.tick, radius));
    }

    #[inline]
    fn push(&mut self, due: u64, sent: u64, env: Envelope<P>) {
        let idx = (due - self.base) as usize;
        while self.calendar.len() <= idx {
            let v = self.spare.pop().unwrap_or_default();
            let r = self.spare_runs.pop().unwrap_or_default();
            self.calendar.push_back(Bucket::new(v, r));
        }
        let bucket = &mut self.calendar[idx];
        if bucket.last_sent != sent {
            bucket.runs.push(bucket.copies.len() as u32);
            bucket.last_sent = sent;
        }
        bucket.copies.push(Some(env));
        crate::prefetch::spare(&mut bucket.copies, CALENDAR_AHEAD, 1);
        self.counters.in_flight += 1;
    }

    /// Whether copies are filed by receiver instead of waiting in the calendar.
    #[inline]
    fn files(&self) -> bool {
        self.log.is_none() && self.model.fixed().is_some_and(|l| l <= FILED_MAX_LATENCY)
    }

    /// Prefetches where copies to `receivers` will be filed, before any is: each goes to
    /// its receiver's list, a line that is usually not in the cache, and the stores of a
    /// whole outbox (or broadcast) wait for their lines together instead of one after the
    /// other.
    #[inline]
    fn prefetch_filing(&mut self, tick: u64, receivers: impl Iterator<Item = u32>) {
        let (true, Some(latency)) = (self.files(), self.model.fixed()) else {
            return;
        };
        let due = tick + u64::from(latency);
        let Some(tray) = due
            .checked_sub(self.tray_base)
            .and_then(|idx| self.trays.get_mut(idx as usize))
        else {
            return;
        };
        for r in receivers {
            if let Some(list) = tray.lists.get_mut(r as usize) {
                crate::prefetch::spare(list, 0, 2);
            }
        }
    }

    /// Files a copy in its receiver's list in the tray of its delivery tick.
    #[inline]
    fn file(&mut self, due: u64, env: Envelope<P>, bytes: u64, departures: u64) {
        let idx = (due - self.tray_base) as usize;
        while self.trays.len() <= idx {
            let tray = self.spare_trays.pop().unwrap_or_default();
            self.trays.push_back(tray);
        }
        let tray = &mut self.trays[idx];
        if tray.tally.copies == 0 {
            tray.departures = departures;
        }
        tray.tally.copies += 1;
        tray.tally.bytes += bytes;
        let r = env.receiver as usize;
        if r >= tray.lists.len() {
            tray.lists.resize_with(r + 1, Vec::new);
        }
        let list = &mut tray.lists[r];
        if list.is_empty() {
            tray.touched.push(env.receiver);
        }
        list.push(env);
        self.counters.in_flight += 1;
    }

    /// Delivers every copy due at `tick` into the members' mailboxes (`mailboxes` is indexed
    /// by member slot): drops copies whose sender or receiver is gone, applies each
    /// mailbox's capacity and overflow policy, and appends the rest in (sender, sequence)
    /// order. Writes each mailbox once per copy. The due copies are read once when nothing
    /// is logged and full mailboxes refuse arrivals (the default); otherwise each receiver's
    /// arrivals are counted first, so that `DropOldest` evicts exactly and the log lists
    /// drops, deliveries and evictions in that order.
    pub fn deliver<S: MailboxSlots<P> + ?Sized>(
        &mut self,
        tick: u64,
        members: &Members,
        mailboxes: &mut S,
    ) {
        while self.tray_base <= tick {
            let Some(mut tray) = self.trays.pop_front() else {
                self.tray_base = tick + 1;
                break;
            };
            self.tray_base += 1;
            self.empty_tray(&mut tray, tick, members, mailboxes);
            self.spare_trays.push(tray);
        }
        self.take_due(tick);
        if self.log.is_none() && self.model.overflow == Overflow::DropNewest {
            return self.deliver_in_one_pass(tick, members, mailboxes);
        }
        let n = members.len();
        self.arriving.clear();
        self.arriving.resize(n, 0);
        for k in 0..self.due.len() {
            let i = nth_due(&self.order, k);
            let Some(env) = &self.due[i] else { continue };
            let reason = match receiver_slot(members, env) {
                Ok(s) => {
                    self.arriving[s as usize] += 1;
                    continue;
                }
                Err(reason) => reason,
            };
            if let Some(env) = self.due[i].take() {
                self.drop_env(reason, &env, tick);
            }
        }
        // Per receiver: how many arrivals are refused (full mailbox) and which held messages
        // are evicted, decided before anything moves so that both policies are exact.
        self.refused.clear();
        self.refused.resize(n, 0);
        for s in 0..n {
            let arriving = self.arriving[s] as usize;
            if arriving == 0 {
                continue;
            }
            let Some(mb) = mailboxes.slot(s) else {
                continue;
            };
            let refuse = self.make_room(mb, arriving, tick);
            self.refused[s] = refuse as u32;
            if refuse < arriving {
                mb.queue.reserve(arriving - refuse);
            }
        }
        // DropNewest refuses a receiver's last arrivals, DropOldest its first ones: count
        // arrivals down as they come.
        let newest = self.model.overflow == Overflow::DropNewest;
        let logging = self.log.is_some();
        for k in 0..self.due.len() {
            prefetch_mailboxes(&self.due, &self.order, k, members, mailboxes);
            let i = nth_due(&self.order, k);
            let Some(env) = self.due[i].take() else {
                continue;
            };
            let Some(s) = members.slot(env.receiver) else {
                continue;
            };
            let s = s as usize;
            let left = self.arriving[s];
            self.arriving[s] -= 1;
            let refuse = self.refused[s];
            let refused = refuse > 0
                && if newest {
                    left <= refuse
                } else {
                    self.refused[s] -= 1;
                    true
                };
            let Some(mb) = mailboxes.slot(s) else {
                self.drop_env(DropReason::NoReceiver, &env, tick);
                continue;
            };
            if refused {
                self.drop_env(DropReason::MailboxOverflow, &env, tick);
                continue;
            }
            if logging {
                self.note(event_of(&env, tick, Outcome::Delivered));
            }
            self.land(mb, env);
        }
        if logging && !self.evicted.is_empty() {
            let evicted = std::mem::take(&mut self.evicted);
            for ev in &evicted {
                self.note(*ev);
            }
            self.evicted = evicted;
            self.evicted.clear();
        }
        self.due.clear();
    }

    /// Delivers a tray: each receiver's list lands in its mailbox in one move (the list
    /// becomes the mailbox's buffer when the mailbox is empty), after the same checks as a
    /// copy from the calendar, made per receiver, and per copy only for the senders when
    /// members have left since the first copy was filed.
    fn empty_tray<S: MailboxSlots<P> + ?Sized>(
        &mut self,
        tray: &mut Tray<P>,
        tick: u64,
        members: &Members,
        mailboxes: &mut S,
    ) {
        let mut tally = std::mem::take(&mut tray.tally);
        self.counters.in_flight -= tally.copies;
        let senders_may_be_gone = tray.departures != members.departures();
        for &r in &tray.touched {
            let mut list = std::mem::take(&mut tray.lists[r as usize]);
            let slot = match members.standing(r) {
                Standing::Member(s) => Ok(s as usize),
                Standing::Gone => Err(DropReason::ReceiverGone),
                Standing::Unknown => Err(DropReason::NoReceiver),
            };
            if senders_may_be_gone && slot.is_ok() {
                for env in list.extract_if(.., |e| members.slot(e.id.sender).is_none()) {
                    self.refuse(&mut tally, DropReason::SenderGone, &env);
                }
            }
            // When nothing is left to land, the mailbox is not touched (nor marked changed).
            if !list.is_empty() {
                match slot.and_then(|s| mailboxes.slot(s).ok_or(DropReason::NoReceiver)) {
                    Ok(mb) => self.admit(mb, &mut list, &mut tally, tick),
                    Err(reason) => {
                        for env in list.drain(..) {
                            self.refuse(&mut tally, reason, &env);
                        }
                    }
                }
            }
            tray.lists[r as usize] = list;
        }
        tray.touched.clear();
        // Trays fill only when the latency is fixed.
        let latency = self.model.fixed().map_or(0, u64::from);
        self.counters.delivered += tally.copies;
        self.counters.latency_sum += tally.copies * latency;
        self.counters.latency_count += tally.copies;
        self.counters.bytes_delivered += tally.bytes;
    }

    /// Applies a mailbox's capacity to `arriving` copies before any lands: with `DropOldest`
    /// evicts held messages first, and returns how many arrivals the mailbox refuses (the
    /// last ones with `DropNewest`, the first ones with `DropOldest`).
    fn make_room(&mut self, mb: &mut Mailbox<P>, arriving: usize, tick: u64) -> usize {
        let cap = self.model.capacity;
        let held = mb.queue.len();
        let (refuse, evict) = match self.model.overflow {
            Overflow::DropNewest => (arriving.saturating_sub(cap.saturating_sub(held)), 0),
            Overflow::DropOldest => {
                let excess = (held + arriving).saturating_sub(cap);
                let evict = excess.min(held);
                (excess - evict, evict)
            }
        };
        for old in mb.queue.drain(..evict) {
            self.counters.delivered -= 1;
            self.counters.dropped[DropReason::MailboxOverflow as usize] += 1;
            if self.log.is_some() {
                self.evicted.push(event_of(
                    &old,
                    tick,
                    Outcome::Dropped(DropReason::MailboxOverflow),
                ));
            }
        }
        refuse
    }

    /// Applies `mb`'s capacity and overflow policy to a receiver's arrivals, then moves the
    /// ones it keeps in.
    fn admit(
        &mut self,
        mb: &mut Mailbox<P>,
        list: &mut Vec<Envelope<P>>,
        tally: &mut Tally,
        tick: u64,
    ) {
        let arriving = list.len();
        let refuse = self.make_room(mb, arriving, tick);
        let refused = match self.model.overflow {
            Overflow::DropNewest => arriving - refuse..arriving,
            Overflow::DropOldest => 0..refuse,
        };
        for env in list.drain(refused) {
            self.refuse(tally, DropReason::MailboxOverflow, &env);
        }
        if let Some(t) = &mut self.talk {
            for env in list.iter() {
                *t.entry((env.id.sender, env.receiver)).or_insert(0) += 1;
            }
        }
        if mb.queue.is_empty() {
            std::mem::swap(&mut mb.queue, list);
        } else {
            mb.queue.append(list);
        }
    }

    /// Counts a filed copy that does not land as dropped.
    #[cold]
    fn refuse(&mut self, tally: &mut Tally, reason: DropReason, env: &Envelope<P>) {
        self.counters.dropped[reason as usize] += 1;
        tally.remove(env);
    }

    /// [`Channel::deliver`] when nothing is logged and a full mailbox refuses arrivals: a
    /// receiver then keeps its first arrivals up to its capacity, so each copy's fate is
    /// known when it is read, and the due copies are read once (by value when in order)
    /// instead of counted first. Same mailboxes and counters as the general path.
    fn deliver_in_one_pass<S: MailboxSlots<P> + ?Sized>(
        &mut self,
        tick: u64,
        members: &Members,
        mailboxes: &mut S,
    ) {
        let mut due = std::mem::take(&mut self.due);
        let order = std::mem::take(&mut self.order);
        for k in 0..delivery_len(&due, &order) {
            prefetch_mailboxes(&due, &order, k, members, mailboxes);
            if let Some(env) = due[nth_due(&order, k)].take() {
                self.deliver_one(tick, members, mailboxes, env);
            }
        }
        self.order = order;
        due.clear();
        self.due = due;
    }

    #[inline]
    fn deliver_one<S: MailboxSlots<P> + ?Sized>(
        &mut self,
        tick: u64,
        members: &Members,
        mailboxes: &mut S,
        env: Envelope<P>,
    ) {
        let s = match receiver_slot(members, &env) {
            Ok(s) => s,
            Err(reason) => return self.drop_env(reason, &env, tick),
        };
        let Some(mb) = mailboxes.slot(s as usize) else {
            return self.drop_env(DropReason::NoReceiver, &env, tick);
        };
        if mb.queue.len() >= self.model.capacity {
            return self.drop_env(DropReason::MailboxOverflow, &env, tick);
        }
        self.land(mb, env);
    }

    /// Appends a delivered copy to its receiver's mailbox and counts it.
    #[inline]
    fn land(&mut self, mb: &mut Mailbox<P>, env: Envelope<P>) {
        self.counters.delivered += 1;
        self.counters.latency_sum += env.delivered - env.sent;
        self.counters.latency_count += 1;
        self.counters.bytes_delivered += serialized_size(&env.payload);
        if let Some(t) = &mut self.talk {
            *t.entry((env.id.sender, env.receiver)).or_insert(0) += 1;
        }
        mb.queue.push(env);
    }

    /// Moves the buckets due by `tick` into `self.due`; when a bucket holds runs from several
    /// send ticks (random latency), `self.order` lists `due` in delivery order: the runs
    /// merged by sender, earlier runs first among equal senders, which is (sender, sequence)
    /// order because a sender's sequence numbers grow with time. Only indices move.
    fn take_due(&mut self, tick: u64) {
        self.due.clear();
        self.order.clear();
        let mut merged = false;
        while self.base <= tick {
            let Some(mut bucket) = self.calendar.pop_front() else {
                self.base = tick + 1;
                break;
            };
            self.base += 1;
            let offset = self.due.len() as u32;
            if self.due.is_empty() {
                std::mem::swap(&mut self.due, &mut bucket.copies);
            } else {
                self.due.append(&mut bucket.copies);
            }
            let end = self.due.len() as u32;
            if bucket.runs.len() > 1 && !merged {
                // Earlier buckets (if any) were single runs: list them as they are.
                self.order.extend(0..offset);
                merged = true;
            }
            if merged {
                self.heads.clear();
                for (k, &start) in bucket.runs.iter().enumerate() {
                    let stop = bucket.runs.get(k + 1).map_or(end - offset, |&n| n);
                    self.heads.push((offset + start, offset + stop));
                }
                loop {
                    let mut best: Option<(u32, usize)> = None;
                    for (k, &(at, stop)) in self.heads.iter().enumerate() {
                        if at < stop {
                            let sender = self.due[at as usize]
                                .as_ref()
                                .map_or(u32::MAX, |e| e.id.sender);
                            if best.is_none_or(|(b, _)| sender < b) {
                                best = Some((sender, k));
                            }
                        }
                    }
                    let Some((_, k)) = best else { break };
                    self.order.push(self.heads[k].0);
                    self.heads[k].0 += 1;
                }
            }
            bucket.runs.clear();
            self.spare.push(bucket.copies);
            self.spare_runs.push(bucket.runs);
        }
        self.counters.in_flight -= self.due.len() as u64;
    }
}

/// How many copies there are to deliver: `order` lists them when it is not empty.
#[inline]
fn delivery_len<P>(due: &[Option<Envelope<P>>], order: &[u32]) -> usize {
    if order.is_empty() {
        due.len()
    } else {
        order.len()
    }
}

/// The index in `due` of the `k`-th copy in delivery order (`order`, or `due`'s own when it
/// is empty).
#[inline]
fn nth_due(order: &[u32], k: usize) -> usize {
    if order.is_empty() {
        k
    } else {
        order[k] as usize
    }
}

/// Prefetches for the copies ahead of the `k`-th in delivery order, in three steps, each
/// needing what the one before fetched: the copy itself (when runs of several send ticks
/// are merged, delivery order jumps between them), its receiver's mailbox, and where that
/// mailbox's next arrival goes. Delivery is a run of stores into scattered mailboxes;
/// without this each one waits for its line.
#[inline(always)]
fn prefetch_mailboxes<P: Send + Sync + 'static, S: MailboxSlots<P> + ?Sized>(
    due: &[Option<Envelope<P>>],
    order: &[u32],
    k: usize,
    members: &Members,
    mailboxes: &mut S,
) {
    let n = delivery_len(due, order);
    if !order.is_empty() && k + 3 * PREFETCH_AHEAD < n {
        let i = nth_due(order, k + 3 * PREFETCH_AHEAD);
        // An envelope's 64 bytes usually straddle two lines.
        for copy in &due[i..due.len().min(i + 2)] {
            crate::prefetch::line(copy);
        }
    }
    for (ahead, storage) in [(2 * PREFETCH_AHEAD, false), (PREFETCH_AHEAD, true)] {
        if k + ahead < n
            && let Some(env) = &due[nth_due(order, k + ahead)]
            && let Standing::Member(s) = members.standing(env.receiver)
        {
            mailboxes.prefetch(s as usize, storage);
        }
    }
}

/// The member slot a due copy lands at, or why it cannot land (its receiver or sender left).
#[inline]
fn receiver_slot<P>(members: &Members, env: &Envelope<P>) -> Result<u32, DropReason> {
    match (members.standing(env.receiver), members.slot(env.id.sender)) {
        (Standing::Member(s), Some(_)) => Ok(s),
        (Standing::Gone, _) => Err(DropReason::ReceiverGone),
        (Standing::Member(_), None) => Err(DropReason::SenderGone),
        (Standing::Unknown, _) => Err(DropReason::NoReceiver),
    }
}

/// How many slots past the end of a calendar bucket are fetched as it fills: its buffer
/// is reused every few ticks, long enough for it to have left the cache.
const CALENDAR_AHEAD: usize = 4;

/// How many copies ahead of the one being delivered its receiver's mailbox is prefetched:
/// enough for the line to arrive, few enough that it is still there when the copy lands.
const PREFETCH_AHEAD: usize = 12;

/// Mailboxes by member slot, as [`Channel::deliver`] reads them: a slice of mailboxes, or of
/// optional handles to them (ECS components).
pub trait MailboxSlots<P: Send + Sync + 'static> {
    /// The mailbox of the member at `slot`, if there is one.
    fn slot(&mut self, slot: usize) -> Option<&mut Mailbox<P>>;

    /// Prefetches the mailbox at `slot` (`storage`: where it stores its next arrival;
    /// otherwise its own fields), without counting as a change.
    fn prefetch(&mut self, slot: usize, storage: bool);
}

impl<P: Send + Sync + 'static> MailboxSlots<P> for [Mailbox<P>] {
    #[inline]
    fn slot(&mut self, slot: usize) -> Option<&mut Mailbox<P>> {
        self.get_mut(slot)
    }

    #[inline]
    fn prefetch(&mut self, slot: usize, storage: bool) {
        if let Some(mb) = self.get_mut(slot) {
            mb.prefetch(storage);
        }
    }
}

impl<P: Send + Sync + 'static, M: MailboxHandle<P>> MailboxSlots<P> for [Option<M>] {
    #[inline]
    fn slot(&mut self, slot: usize) -> Option<&mut Mailbox<P>> {
        self.get_mut(slot).and_then(|m| m.as_deref_mut())
    }

    #[inline]
    fn prefetch(&mut self, slot: usize, storage: bool) {
        if let Some(Some(mb)) = self.get_mut(slot) {
            mb.quietly().prefetch(storage);
        }
    }
}

/// A mutable handle to a mailbox that can also be reached without counting as a change
/// (bevy's `Mut` marks its component changed on every mutable access).
pub trait MailboxHandle<P: Send + Sync + 'static>: std::ops::DerefMut<Target = Mailbox<P>> {
    /// The mailbox, not marked changed.
    fn quietly(&mut self) -> &mut Mailbox<P>;
}

impl<P: Send + Sync + 'static> MailboxHandle<P> for &mut Mailbox<P> {
    #[inline]
    fn quietly(&mut self) -> &mut Mailbox<P> {
        self
    }
}

impl<P: Send + Sync + 'static> MailboxHandle<P>
    for bevy_ecs::change_detection::Mut<'_, Mailbox<P>>
{
    #[inline]
    fn quietly(&mut self) -> &mut Mailbox<P> {
        bevy_ecs::change_detection::DetectChangesMut::bypass_change_detection(self)
    }
}
