//! What a message is (the FIPA-ACL-like envelope around a typed payload), and the two
//! per-agent components behaviors touch: the [`Outbox`] they write in Decide and the
//! [`Mailbox`] the bus fills in Deliver.

use crate::plugin::unknown_name_message;
use bevy_ecs::prelude::Component;
use serde::{Deserialize, Serialize};

/// The communicative act of a message: the FIPA ACL performatives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Performative {
    /// Accept a previously submitted proposal.
    AcceptProposal,
    /// Agree to perform a requested action.
    Agree,
    /// Cancel a previous request.
    Cancel,
    /// Call for proposals.
    Cfp,
    /// Confirm that a proposition is true.
    Confirm,
    /// Say that a proposition is false.
    Disconfirm,
    /// An attempted action failed.
    Failure,
    /// Tell that a proposition is true.
    Inform,
    /// Tell whether a proposition is true.
    InformIf,
    /// Tell the object a description refers to.
    InformRef,
    /// The received message was not understood.
    NotUnderstood,
    /// Pass the message on to others.
    Propagate,
    /// Submit a proposal.
    Propose,
    /// Forward the message to agents matching a description.
    Proxy,
    /// Ask whether a proposition is true.
    QueryIf,
    /// Ask for the object a description refers to.
    QueryRef,
    /// Refuse to perform a requested action.
    Refuse,
    /// Reject a proposal.
    RejectProposal,
    /// Ask the receiver to perform an action.
    Request,
    /// Ask for an action once a proposition holds.
    RequestWhen,
    /// Ask for an action every time a proposition holds.
    RequestWhenever,
    /// Ask to be told whenever something changes.
    Subscribe,
}

impl Performative {
    /// Every performative, in declaration order.
    pub const ALL: [Performative; 22] = [
        Performative::AcceptProposal,
        Performative::Agree,
        Performative::Cancel,
        Performative::Cfp,
        Performative::Confirm,
        Performative::Disconfirm,
        Performative::Failure,
        Performative::Inform,
        Performative::InformIf,
        Performative::InformRef,
        Performative::NotUnderstood,
        Performative::Propagate,
        Performative::Propose,
        Performative::Proxy,
        Performative::QueryIf,
        Performative::QueryRef,
        Performative::Refuse,
        Performative::RejectProposal,
        Performative::Request,
        Performative::RequestWhen,
        Performative::RequestWhenever,
        Performative::Subscribe,
    ];

    /// The FIPA name (`accept-proposal`, `cfp`, `not-understood`, ...), used in outputs.
    pub fn name(self) -> &'static str {
        match self {
            Performative::AcceptProposal => "accept-proposal",
            Performative::Agree => "agree",
            Performative::Cancel => "cancel",
            Performative::Cfp => "cfp",
            Performative::Confirm => "confirm",
            Performative::Disconfirm => "disconfirm",
            Performative::Failure => "failure",
            Performative::Inform => "inform",
            Performative::InformIf => "inform-if",
            Performative::InformRef => "inform-ref",
            Performative::NotUnderstood => "not-understood",
            Performative::Propagate => "propagate",
            Performative::Propose => "propose",
            Performative::Proxy => "proxy",
            Performative::QueryIf => "query-if",
            Performative::QueryRef => "query-ref",
            Performative::Refuse => "refuse",
            Performative::RejectProposal => "reject-proposal",
            Performative::Request => "request",
            Performative::RequestWhen => "request-when",
            Performative::RequestWhenever => "request-whenever",
            Performative::Subscribe => "subscribe",
        }
    }

    /// Parses a FIPA name; an unknown name gets the list of valid ones and the nearest match.
    pub fn parse(name: &str) -> Result<Performative, String> {
        Performative::ALL
            .into_iter()
            .find(|p| p.name() == name)
            .ok_or_else(|| {
                let valid: Vec<&str> = Performative::ALL.iter().map(|p| p.name()).collect();
                unknown_name_message("performative", name, &valid)
            })
    }
}

impl std::fmt::Display for Performative {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Identifies one message for the whole run: its sender and the sender's send sequence
/// number (counted from 0 over the run, one number per message whatever its number of
/// receivers).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct MessageId {
    /// The sending agent.
    pub sender: u32,
    /// The sender's message counter when it was sent.
    pub seq: u32,
}

/// Groups the messages of one interaction (a contract-net round, a query and its answer).
/// Chosen by the initiator; [`ConversationId::new`] makes ids that are unique per initiator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct ConversationId(pub u64);

impl ConversationId {
    /// No particular conversation.
    pub const NONE: ConversationId = ConversationId(0);

    /// The `n`-th conversation opened by `initiator` (never equal to [`ConversationId::NONE`]).
    pub fn new(initiator: u32, n: u32) -> ConversationId {
        ConversationId((u64::from(initiator) + 1) << 32 | u64::from(n))
    }
}

/// How a message was addressed (a receiver sees one copy whatever the addressing).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Cast {
    /// To one agent.
    #[default]
    Unicast,
    /// To a list of agents.
    Multicast,
    /// To the sender's neighbours in one population.
    Group(u16),
    /// To all the sender's neighbours.
    Broadcast,
    /// To the sender's neighbours within a radius.
    InRange,
}

impl Cast {
    /// A short label for outputs.
    pub fn name(self) -> &'static str {
        match self {
            Cast::Unicast => "unicast",
            Cast::Multicast => "multicast",
            Cast::Group(_) => "group",
            Cast::Broadcast => "broadcast",
            Cast::InRange => "in_range",
        }
    }
}

/// Who a message is sent to.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Recipients<'a> {
    /// One agent, by id.
    Agent(u32),
    /// Several agents, by id (each gets one copy; duplicates are ignored).
    Agents(&'a [u32]),
    /// The sender's neighbours that belong to a population (by index).
    Group(u16),
    /// All the sender's neighbours.
    Broadcast,
    /// The sender's neighbours within this distance (capped by the channel's range).
    InRange(f64),
}

/// "None" for the optional agent and message fields of a [`Header`]: stored inline so that an
/// envelope with a word of payload fits one 64-byte cache line.
const NONE: u32 = u32::MAX;

/// The ACL fields of a message other than its addressing and payload. Built with
/// [`Header::new`] and the chained setters; read with the getters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Header {
    /// The communicative act.
    pub performative: Performative,
    /// The conversation (default [`ConversationId::NONE`]).
    pub conversation: ConversationId,
    reply_to: u32,
    in_reply_to: MessageId,
}

impl Header {
    /// A header with only a performative.
    pub fn new(performative: Performative) -> Header {
        Header {
            performative,
            conversation: ConversationId::NONE,
            reply_to: NONE,
            in_reply_to: MessageId {
                sender: NONE,
                seq: NONE,
            },
        }
    }

    /// Where replies should go (`None`: to the sender).
    pub fn reply_to_agent(&self) -> Option<u32> {
        (self.reply_to != NONE).then_some(self.reply_to)
    }

    /// The message this one answers, if any.
    pub fn answers(&self) -> Option<MessageId> {
        (self.in_reply_to.sender != NONE).then_some(self.in_reply_to)
    }

    /// Sets the conversation.
    #[must_use]
    pub fn conversation(mut self, c: ConversationId) -> Header {
        self.conversation = c;
        self
    }

    /// Sets the agent replies should go to.
    #[must_use]
    pub fn reply_to(mut self, agent: u32) -> Header {
        self.reply_to = agent;
        self
    }

    /// Marks the message as an answer to `id`.
    #[must_use]
    pub fn in_reply_to(mut self, id: MessageId) -> Header {
        self.in_reply_to = id;
        self
    }
}

/// A delivered message copy, as a receiver sees it in its [`Mailbox`].
#[derive(Debug, Clone, PartialEq)]
pub struct Envelope<P> {
    /// Sender and send sequence number.
    pub id: MessageId,
    /// The agent this copy was delivered to.
    pub receiver: u32,
    /// How it was addressed.
    pub cast: Cast,
    /// Performative, conversation, reply-to and in-reply-to.
    pub header: Header,
    /// Tick it was sent in (Decide of that tick).
    pub sent: u64,
    /// Tick it was delivered in (Deliver of that tick).
    pub delivered: u64,
    /// The typed content.
    pub payload: P,
}

impl<P> Envelope<P> {
    /// The sending agent.
    #[inline]
    pub fn sender(&self) -> u32 {
        self.id.sender
    }

    /// The performative.
    #[inline]
    pub fn performative(&self) -> Performative {
        self.header.performative
    }

    /// The conversation.
    #[inline]
    pub fn conversation(&self) -> ConversationId {
        self.header.conversation
    }

    /// Where a reply should go: the reply-to agent, or else the sender.
    #[inline]
    pub fn reply_address(&self) -> u32 {
        self.header.reply_to_agent().unwrap_or(self.id.sender)
    }

    /// Ticks spent in flight.
    #[inline]
    pub fn latency(&self) -> u64 {
        self.delivered - self.sent
    }
}

/// Where an outgoing message goes, with multicast lists kept in the outbox's own buffer so a
/// message costs no allocation of its own.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Dest {
    Agent(u32),
    List { start: u32, len: u32 },
    Group(u16),
    Broadcast,
    InRange(f64),
}

/// One message waiting in an outbox.
#[derive(Debug, Clone)]
pub(crate) struct Outgoing<P> {
    pub(crate) seq: u32,
    pub(crate) dest: Dest,
    pub(crate) header: Header,
    pub(crate) payload: P,
}

/// An agent's outgoing messages of type `P` for this tick. Behaviors write it in Decide
/// (also from `par_iter_mut`: each agent writes only its own outbox); the bus empties every
/// outbox after Decide, in agent-id order, so the result never depends on thread count.
#[derive(Component, Debug, Clone)]
pub struct Outbox<P: Send + Sync + 'static> {
    owner: u32,
    next_seq: u32,
    pub(crate) pending: Vec<Outgoing<P>>,
    pub(crate) targets: Vec<u32>,
}

impl<P: Send + Sync + 'static> Outbox<P> {
    /// An empty outbox for agent `owner`.
    pub fn new(owner: u32) -> Outbox<P> {
        Outbox {
            owner,
            next_seq: 0,
            pending: Vec::new(),
            targets: Vec::new(),
        }
    }

    /// The owning agent.
    pub fn owner(&self) -> u32 {
        self.owner
    }

    /// Messages written this tick and not yet sent.
    pub fn len(&self) -> usize {
        self.pending.len()
    }

    /// Whether nothing is waiting.
    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    /// Queues a message; it leaves after Decide and arrives after the channel's latency.
    pub fn send(&mut self, to: Recipients<'_>, header: Header, payload: P) -> MessageId {
        let seq = self.next_seq;
        self.next_seq = self.next_seq.wrapping_add(1);
        let dest = match to {
            Recipients::Agent(a) => Dest::Agent(a),
            Recipients::Agents(list) => {
                let start = self.targets.len() as u32;
                self.targets.extend_from_slice(list);
                Dest::List {
                    start,
                    len: list.len() as u32,
                }
            }
            Recipients::Group(g) => Dest::Group(g),
            Recipients::Broadcast => Dest::Broadcast,
            Recipients::InRange(r) => Dest::InRange(r),
        };
        self.pending.push(Outgoing {
            seq,
            dest,
            header,
            payload,
        });
        MessageId {
            sender: self.owner,
            seq,
        }
    }

    /// Sends `payload` to one agent with a bare header.
    pub fn tell(&mut self, to: u32, performative: Performative, payload: P) -> MessageId {
        self.send(Recipients::Agent(to), Header::new(performative), payload)
    }

    /// Sends `payload` to all neighbours with a bare header.
    pub fn broadcast(&mut self, performative: Performative, payload: P) -> MessageId {
        self.send(Recipients::Broadcast, Header::new(performative), payload)
    }

    /// Answers `to`: same conversation, `in_reply_to` set, sent to its reply address.
    pub fn reply<Q>(
        &mut self,
        to: &Envelope<Q>,
        performative: Performative,
        payload: P,
    ) -> MessageId {
        let header = Header::new(performative)
            .conversation(to.header.conversation)
            .in_reply_to(to.id);
        self.send(Recipients::Agent(to.reply_address()), header, payload)
    }
}

/// An agent's received messages of type `P`, oldest first. The bus appends in Deliver in
/// the order (delivery tick, sender id, send sequence); messages stay until the behavior
/// takes them, within the channel's capacity and overflow policy.
#[derive(Component, Debug, Clone)]
pub struct Mailbox<P: Send + Sync + 'static> {
    pub(crate) queue: Vec<Envelope<P>>,
}

impl<P: Send + Sync + 'static> Default for Mailbox<P> {
    fn default() -> Self {
        Mailbox { queue: Vec::new() }
    }
}

impl<P: Send + Sync + 'static> Mailbox<P> {
    /// Number of unread messages.
    pub fn len(&self) -> usize {
        self.queue.len()
    }

    /// Whether there is nothing to read.
    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// Reads without removing, oldest first.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = &Envelope<P>> + DoubleEndedIterator {
        self.queue.iter()
    }

    /// Removes and yields every message, oldest first.
    pub fn drain(&mut self) -> impl ExactSizeIterator<Item = Envelope<P>> + '_ {
        self.queue.drain(..)
    }

    /// Removes the oldest message (moving the others up: to read them all, `drain`).
    pub fn pop(&mut self) -> Option<Envelope<P>> {
        (!self.queue.is_empty()).then(|| self.queue.remove(0))
    }

    /// Keeps only the messages for which `keep` is true.
    pub fn retain(&mut self, keep: impl FnMut(&Envelope<P>) -> bool) {
        self.queue.retain(keep);
    }

    /// Discards everything.
    pub fn clear(&mut self) {
        self.queue.clear();
    }

    /// Asks the CPU to fetch, ahead of delivery, the memory the next two arrivals will be
    /// stored in (`storage`), or the mailbox's own fields (which say where that is):
    /// mailboxes are scattered over memory, and a store into a line not in the cache stalls
    /// delivery until the line arrives.
    #[inline]
    pub(crate) fn prefetch(&mut self, storage: bool) {
        if storage {
            crate::prefetch::spare(&mut self.queue, 0, 2);
        } else {
            crate::prefetch::line(self);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn performative_names_round_trip_and_unknown_ones_are_explained() {
        for p in Performative::ALL {
            assert_eq!(Performative::parse(p.name()), Ok(p));
        }
        let err = Performative::parse("not-understod").unwrap_err();
        assert!(err.contains("did you mean `not-understood`"), "{err}");
        assert!(err.contains("cfp"), "{err}");
    }

    #[test]
    fn outbox_numbers_messages_and_replies_keep_the_conversation() {
        let mut out = Outbox::<u8>::new(7);
        let a = out.tell(3, Performative::Cfp, 1);
        let b = out.send(
            Recipients::Agents(&[1, 2]),
            Header::new(Performative::Inform).conversation(ConversationId::new(7, 0)),
            2,
        );
        assert_eq!((a.seq, b.seq, b.sender), (0, 1, 7));
        assert_eq!(out.len(), 2);
        let received = Envelope {
            id: b,
            receiver: 9,
            cast: Cast::Multicast,
            header: Header::new(Performative::Cfp)
                .conversation(ConversationId::new(7, 0))
                .reply_to(4),
            sent: 0,
            delivered: 1,
            payload: 0u8,
        };
        let mut back = Outbox::<u8>::new(9);
        back.reply(&received, Performative::Propose, 5);
        let m = &back.pending[0];
        assert_eq!(m.dest, Dest::Agent(4));
        assert_eq!(m.header.answers(), Some(b));
        assert_eq!(Header::new(Performative::Cfp).answers(), None);
        assert_eq!(Header::new(Performative::Cfp).reply_to_agent(), None);
        assert_eq!(m.header.conversation, ConversationId::new(7, 0));
        assert_ne!(ConversationId::new(0, 0), ConversationId::NONE);
    }
}
