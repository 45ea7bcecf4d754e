//! `voting`: the parties (or every agent near the contested thing) vote on who gets it.

use super::procedures::{Tally, approval, borda, plurality};
use super::{draw, slot};
use agora_engine::Contested;
use agora_engine::prelude::*;
use bevy_ecs::prelude::Local;
use serde::{Deserialize, Serialize};

/// The voting rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum VotingRule {
    /// One vote for the voter's first choice.
    Plurality,
    /// With `m` candidates, a voter's `k`-th choice earns `m - k` points.
    #[default]
    Borda,
    /// One vote for every candidate the voter approves of.
    Approval,
}

/// Who votes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Voters {
    /// The parties of the conflict.
    #[default]
    Parties,
    /// The parties and every agent within this many cells (Chebyshev distance) of the
    /// contested cell, edge or resource (grid worlds with one agent per cell; elsewhere the
    /// parties).
    InRange(u32),
}

/// Scenario: `conflicts: (policy: "voting", params: (rule: Borda, voters: InRange(3)))`
///
/// Candidates are the parties. A voter ranks them by urgency (most urgent first, then
/// earliest request, then lowest id); a selfish voter that is itself a candidate puts itself
/// first. Under approval a voter approves itself (when selfish) and every candidate at least
/// as urgent as the candidates' mean. The highest score wins; ties are broken by a seeded
/// draw. Each ballot counts as one message.
#[derive(Resource, Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Voting {
    /// The rule (default `Borda`).
    pub rule: VotingRule,
    /// Who votes (default `Parties`).
    pub voters: Voters,
    /// Whether candidates vote for themselves first (default true).
    pub selfish: bool,
}

impl Default for Voting {
    fn default() -> Self {
        Voting {
            rule: VotingRule::Borda,
            voters: Voters::Parties,
            selfish: true,
        }
    }
}

impl Mechanism for Voting {
    const SECTION: Section = Section::Conflicts;
    const NAME: &'static str = "voting";
    const SUMMARY: &'static str =
        "Parties (or agents nearby) vote on the winner: plurality, Borda or approval.";

    fn build(sim: &mut SimBuilder) {
        sim.use_intents();
        sim.add_systems(Phase::Resolve, vote);
    }
}

/// Reused buffers.
#[derive(Default)]
struct Scratch {
    voters: Vec<u32>,
    ballots: Vec<Vec<usize>>,
    order: Vec<usize>,
}

fn vote(
    params: Res<Voting>,
    rng: Res<SimRng>,
    occupancy: Option<Res<GridOccupancy>>,
    resources: Res<Resources>,
    mut conflicts: ResMut<Conflicts>,
    mut scratch: Local<Scratch>,
) {
    let tick = conflicts.tick();
    let sc = &mut *scratch;
    let mut ballots_cast = 0u64;
    for mut c in conflicts.iter_mut() {
        let parties = c.parties().to_vec();
        let m = parties.len();
        // The common preference: most urgent, earliest, lowest id.
        sc.order.clear();
        sc.order.extend(0..m);
        sc.order.sort_by(|&a, &b| {
            let (pa, pb) = (&parties[a], &parties[b]);
            pb.urgency
                .total_cmp(&pa.urgency)
                .then(pa.since.cmp(&pb.since))
                .then(pa.agent.cmp(&pb.agent))
        });
        sc.voters.clear();
        sc.voters.extend(parties.iter().map(|p| p.agent));
        if let (Voters::InRange(r), Some(occ)) = (params.voters, occupancy.as_deref()) {
            let mut around = |cell: GridCell| {
                let r = r as i32;
                for y in cell.y - r..=cell.y + r {
                    for x in cell.x - r..=cell.x + r {
                        if let Some(a) = occ.occupant(GridCell::new(x, y)) {
                            sc.voters.push(a);
                        }
                    }
                }
            };
            match c.thing() {
                Contested::Cell(cell) => around(cell),
                Contested::Edge(a, b) => {
                    around(a);
                    around(b);
                }
                Contested::Resource(id) => {
                    for &(x, y) in resources.spec(id).map_or(&[][..], |s| &s.cells) {
                        around(GridCell::new(x, y));
                    }
                }
                Contested::Task(_) => {}
            }
            sc.voters.sort_unstable();
            sc.voters.dedup();
        }
        let mean_urgency = parties.iter().map(|p| p.urgency).sum::<f64>() / m as f64;
        while sc.ballots.len() < sc.voters.len() {
            sc.ballots.push(Vec::new());
        }
        for (k, &v) in sc.voters.iter().enumerate() {
            let ballot = &mut sc.ballots[k];
            ballot.clear();
            let own = parties.iter().position(|p| p.agent == v);
            let own = own.filter(|_| params.selfish);
            if let Some(i) = own {
                ballot.push(i);
            }
            match params.rule {
                VotingRule::Plurality | VotingRule::Borda => {
                    ballot.extend(sc.order.iter().copied().filter(|&i| Some(i) != own));
                }
                VotingRule::Approval => ballot.extend(
                    sc.order
                        .iter()
                        .copied()
                        .filter(|&i| Some(i) != own && parties[i].urgency >= mean_urgency),
                ),
            }
        }
        let ballots = &sc.ballots[..sc.voters.len()];
        ballots_cast += ballots.len() as u64;
        let tally: Tally = match params.rule {
            VotingRule::Plurality => plurality(m, ballots),
            VotingRule::Borda => borda(m, ballots),
            VotingRule::Approval => approval(m, ballots),
        }
        .unwrap_or_else(|e| unreachable!("ballots are built from the candidates: {e}"));
        let scores = tally.scores();
        // Highest score first; ties by each candidate's own draw, then id.
        let mut ranked: Vec<(u64, u64, u32, usize)> = (0..m)
            .map(|i| {
                let a = parties[i].agent;
                (u64::MAX - scores[i], draw(&rng, a, tick, slot::VOTE), a, i)
            })
            .collect();
        ranked.sort_unstable();
        let out = c.parties_mut();
        for (k, &(_, _, _, i)) in ranked.iter().enumerate() {
            out[k] = parties[i];
        }
    }
    conflicts.add_messages(ballots_cast);
}

#[cfg(test)]
mod tests {
    use super::super::procedures::{borda, condorcet_winner, plurality};

    #[test]
    fn selfish_parties_split_plurality_and_borda_follows_urgency() {
        // Three candidates ranked by urgency 2 > 0 > 1; each votes for itself first.
        let ballots = [vec![0, 2, 1], vec![1, 2, 0], vec![2, 0, 1]];
        let p = plurality(3, &ballots).unwrap();
        assert_eq!(p.scores(), &[1, 1, 1]);
        let b = borda(3, &ballots).unwrap();
        assert_eq!(b.scores(), &[3, 2, 4]);
        assert_eq!(b.winner(), Some(2));
        assert_eq!(condorcet_winner(3, &ballots).unwrap(), Some(2));
    }
}
