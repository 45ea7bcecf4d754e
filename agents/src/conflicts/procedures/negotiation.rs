//! Bilateral negotiation: Rubinstein's alternating offers over a unit surplus, and the
//! monotonic concession protocol with the Zeuthen strategy over a finite deal set.

use serde::{Deserialize, Serialize};

use super::ConflictError;

/// One of the two negotiators.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize,
)]
pub enum Player {
    /// The first player (index 0 in per-player arrays); the default first proposer.
    #[default]
    One,
    /// The second player (index 1).
    Two,
}

impl Player {
    /// The opponent.
    #[must_use]
    pub const fn other(self) -> Self {
        match self {
            Self::One => Self::Two,
            Self::Two => Self::One,
        }
    }

    /// Position in per-player arrays: 0 for [`Player::One`], 1 for [`Player::Two`].
    #[must_use]
    pub const fn index(self) -> usize {
        match self {
            Self::One => 0,
            Self::Two => 1,
        }
    }
}

fn discount(name: &'static str, value: f64) -> Result<f64, ConflictError> {
    if value > 0.0 && value < 1.0 {
        Ok(value)
    } else {
        Err(ConflictError::InvalidParameter {
            name,
            value,
            expected: "a discount factor strictly between 0 and 1",
        })
    }
}

/// Share of the unit surplus the proposer keeps in the unique subgame-perfect equilibrium of
/// Rubinstein's infinite-horizon game (Rubinstein 1982): `x* = (1 - d_r) / (1 - d_p d_r)`, with
/// `d_p` the proposer's and `d_r` the responder's per-round discount factor. The responder
/// accepts it at once.
///
/// ```
/// # use agora_agents::conflicts::procedures::rubinstein_share;
/// assert!((rubinstein_share(0.9, 0.9).unwrap() - 1.0 / 1.9).abs() < 1e-15);
/// ```
///
/// # Errors
/// [`ConflictError::InvalidParameter`] when a discount factor is not strictly between 0 and 1.
pub fn rubinstein_share(d_proposer: f64, d_responder: f64) -> Result<f64, ConflictError> {
    let dp = discount("d_proposer", d_proposer)?;
    let dr = discount("d_responder", d_responder)?;
    Ok((1.0 - dr) / (1.0 - dp * dr))
}

/// Which equilibrium the players follow in [`AlternatingOffers`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum Equilibrium {
    /// Rubinstein's stationary strategies for the infinite horizon: always offer yourself
    /// [`rubinstein_share`], accept any offer worth at least the discounted value of proposing
    /// next round. The round limit then only acts as a safety net. The default.
    #[default]
    Stationary,
    /// Backward induction over the known horizon `max_rounds`: in the last round the proposer
    /// takes everything (the responder's alternative is the conflict outcome, worth 0), and in
    /// each earlier round the proposer offers the responder exactly the discounted value of
    /// proposing next. Converges to the stationary share as the horizon grows.
    BackwardInduction,
}

/// Parameters of an [`AlternatingOffers`] negotiation.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AlternatingOffersConfig {
    /// Player one's discount factor per round, strictly between 0 and 1. Default 0.9.
    pub discount_1: f64,
    /// Player two's discount factor per round, strictly between 0 and 1. Default 0.9.
    pub discount_2: f64,
    /// Who proposes in round 1; proposers alternate after. Default `One`.
    pub first_proposer: Player,
    /// Rounds after which a negotiation without agreement ends in the conflict outcome (both
    /// get 0). At least 1. Default 100.
    pub max_rounds: u32,
}

impl Default for AlternatingOffersConfig {
    fn default() -> Self {
        Self {
            discount_1: 0.9,
            discount_2: 0.9,
            first_proposer: Player::One,
            max_rounds: 100,
        }
    }
}

/// How a bargaining game ended.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct BargainOutcome {
    /// Whether an offer was accepted; `false` is the conflict outcome after `max_rounds`.
    pub agreed: bool,
    /// Rounds played, counting the round of agreement (or `max_rounds` on conflict).
    pub rounds: u32,
    /// Share of the surplus per player (indexed by [`Player::index`]); 0 each on conflict.
    pub shares: [f64; 2],
    /// Discounted utility per player: `d_i^(rounds - 1) * shares[i]`; 0 each on conflict.
    pub utilities: [f64; 2],
}

/// What [`AlternatingOffers::respond`] led to.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Step {
    /// The offer was rejected and a new round starts.
    Continue {
        /// The new round, 1-based.
        round: u32,
        /// Who proposes in it.
        proposer: Player,
    },
    /// The negotiation ended.
    Done(BargainOutcome),
}

/// Rubinstein's alternating-offers protocol over splitting a unit surplus, round by round.
///
/// In each round the proposer calls [`propose`](Self::propose) with the share it keeps and the
/// responder calls [`respond`](Self::respond). Rejection passes the proposal right to the other
/// player in the next round; after `max_rounds` rejections the game ends in the conflict
/// outcome, worth 0 to both.
///
/// ```
/// # use agora_agents::conflicts::procedures::{AlternatingOffers, AlternatingOffersConfig, Equilibrium};
/// let config = AlternatingOffersConfig { discount_1: 0.9, discount_2: 0.8, ..Default::default() };
/// let outcome = AlternatingOffers::new(config).unwrap().play_equilibrium(Equilibrium::Stationary);
/// assert!(outcome.agreed && outcome.rounds == 1);
/// assert!((outcome.shares[0] - 0.2 / 0.28).abs() < 1e-12);
/// ```
#[derive(Debug, Clone)]
pub struct AlternatingOffers {
    config: AlternatingOffersConfig,
    round: u32,
    pending: Option<f64>,
    outcome: Option<BargainOutcome>,
}

/// Slack when comparing an offer with the responder's continuation value: at equilibrium the
/// two are equal in exact arithmetic, and rounding must not turn indifference into rejection.
const ACCEPT_TOLERANCE: f64 = 1e-12;

impl AlternatingOffers {
    /// Starts a negotiation at round 1.
    ///
    /// # Errors
    /// [`ConflictError::InvalidParameter`] when a discount factor is not strictly between 0 and
    /// 1 or `max_rounds` is 0.
    pub fn new(config: AlternatingOffersConfig) -> Result<Self, ConflictError> {
        discount("discount_1", config.discount_1)?;
        discount("discount_2", config.discount_2)?;
        if config.max_rounds == 0 {
            return Err(ConflictError::InvalidParameter {
                name: "max_rounds",
                value: 0.0,
                expected: "at least 1 round",
            });
        }
        Ok(Self {
            config,
            round: 1,
            pending: None,
            outcome: None,
        })
    }

    /// The configuration it was built from.
    #[must_use]
    pub const fn config(&self) -> &AlternatingOffersConfig {
        &self.config
    }

    /// The current round, 1-based.
    #[must_use]
    pub const fn round(&self) -> u32 {
        self.round
    }

    /// Who proposes in the current round.
    #[must_use]
    pub const fn proposer(&self) -> Player {
        if self.round % 2 == 1 {
            self.config.first_proposer
        } else {
            self.config.first_proposer.other()
        }
    }

    /// The share the current proposer offered to keep, once it has proposed this round.
    #[must_use]
    pub const fn pending_offer(&self) -> Option<f64> {
        self.pending
    }

    /// The result, once the negotiation has ended.
    #[must_use]
    pub const fn outcome(&self) -> Option<&BargainOutcome> {
        self.outcome.as_ref()
    }

    const fn discount_of(&self, player: Player) -> f64 {
        match player {
            Player::One => self.config.discount_1,
            Player::Two => self.config.discount_2,
        }
    }

    /// The current proposer offers to keep `share_to_proposer` of the surplus (the responder
    /// would get the rest).
    ///
    /// # Errors
    /// [`ConflictError::OutOfTurn`] after the end or when this round's offer was already made;
    /// [`ConflictError::InvalidParameter`] when the share is not in `[0, 1]`.
    pub fn propose(&mut self, share_to_proposer: f64) -> Result<(), ConflictError> {
        if self.outcome.is_some() {
            return Err(ConflictError::OutOfTurn {
                step: "propose",
                expected: "no further step: the negotiation has ended",
            });
        }
        if self.pending.is_some() {
            return Err(ConflictError::OutOfTurn {
                step: "propose",
                expected: "respond to this round's offer",
            });
        }
        if !(0.0..=1.0).contains(&share_to_proposer) {
            return Err(ConflictError::InvalidParameter {
                name: "share_to_proposer",
                value: share_to_proposer,
                expected: "a share in [0, 1]",
            });
        }
        self.pending = Some(share_to_proposer);
        Ok(())
    }

    /// The current responder accepts or rejects this round's offer.
    ///
    /// # Errors
    /// [`ConflictError::OutOfTurn`] after the end or before this round's offer.
    pub fn respond(&mut self, accept: bool) -> Result<Step, ConflictError> {
        if self.outcome.is_some() {
            return Err(ConflictError::OutOfTurn {
                step: "respond",
                expected: "no further step: the negotiation has ended",
            });
        }
        let Some(share) = self.pending.take() else {
            return Err(ConflictError::OutOfTurn {
                step: "respond",
                expected: "propose first",
            });
        };
        let outcome = if accept {
            let proposer = self.proposer();
            let mut shares = [0.0; 2];
            shares[proposer.index()] = share;
            shares[proposer.other().index()] = 1.0 - share;
            let elapsed = i32::try_from(self.round - 1).unwrap_or(i32::MAX);
            let utilities = [
                self.config.discount_1.powi(elapsed) * shares[0],
                self.config.discount_2.powi(elapsed) * shares[1],
            ];
            BargainOutcome {
                agreed: true,
                rounds: self.round,
                shares,
                utilities,
            }
        } else if self.round >= self.config.max_rounds {
            BargainOutcome {
                agreed: false,
                rounds: self.round,
                shares: [0.0; 2],
                utilities: [0.0; 2],
            }
        } else {
            self.round += 1;
            return Ok(Step::Continue {
                round: self.round,
                proposer: self.proposer(),
            });
        };
        self.outcome = Some(outcome);
        Ok(Step::Done(outcome))
    }

    /// The share the current proposer keeps under `equilibrium`, in undiscounted terms of the
    /// current round.
    #[must_use]
    pub fn equilibrium_offer(&self, equilibrium: Equilibrium) -> f64 {
        let proposer = self.proposer();
        let responder = proposer.other();
        match equilibrium {
            Equilibrium::Stationary => {
                let dr = self.discount_of(responder);
                (1.0 - dr) / (1.0 - self.discount_of(proposer) * dr)
            }
            Equilibrium::BackwardInduction => {
                let rounds_left = self.config.max_rounds.saturating_sub(self.round) + 1;
                backward_induction_share(
                    [self.config.discount_1, self.config.discount_2],
                    proposer,
                    rounds_left,
                )
            }
        }
    }

    /// Whether the current responder, following `equilibrium`, accepts the pending offer: when
    /// what it is offered now is worth at least the discounted value of proposing next round
    /// (0 in the last round, where rejection means conflict). `false` without a pending offer.
    #[must_use]
    pub fn equilibrium_accepts(&self, equilibrium: Equilibrium) -> bool {
        let Some(share) = self.pending else {
            return false;
        };
        let responder = self.proposer().other();
        let dr = self.discount_of(responder);
        let continuation = match equilibrium {
            Equilibrium::Stationary => {
                let dp = self.discount_of(responder.other());
                dr * (1.0 - dp) / (1.0 - dr * dp)
            }
            Equilibrium::BackwardInduction => {
                let rounds_left = self.config.max_rounds.saturating_sub(self.round);
                dr * backward_induction_share(
                    [self.config.discount_1, self.config.discount_2],
                    responder,
                    rounds_left,
                )
            }
        };
        1.0 - share >= continuation - ACCEPT_TOLERANCE
    }

    /// Plays the rest of the game with both players following `equilibrium` and returns the
    /// outcome (agreement in the current round, by construction).
    pub fn play_equilibrium(&mut self, equilibrium: Equilibrium) -> BargainOutcome {
        loop {
            if let Some(outcome) = self.outcome {
                return outcome;
            }
            if self.pending.is_none() {
                let offer = self.equilibrium_offer(equilibrium).clamp(0.0, 1.0);
                // The state was just checked: no outcome yet and no pending offer.
                let _ = self.propose(offer);
            }
            let accept = self.equilibrium_accepts(equilibrium);
            if let Ok(Step::Done(outcome)) = self.respond(accept) {
                return outcome;
            }
        }
    }
}

/// Subgame-perfect share kept by `proposer` when `rounds_left` rounds remain including the
/// current one, and disagreement after the last is worth 0 (backward induction). 0 when no
/// round is left.
///
/// With `s_1 = 1` for the last round, `s_k = 1 - d_r s_(k-1)` where `d_r` is the discount of
/// the responder of that round (who proposes in the next). The sequence converges to
/// [`rubinstein_share`] with error at most `(d1 d2)^floor((rounds_left - 1) / 2)`.
///
/// ```
/// # use agora_agents::conflicts::procedures::{backward_induction_share, Player};
/// // Three rounds left: 1 - d2 (1 - d1).
/// let s = backward_induction_share([0.5, 0.6], Player::One, 3);
/// assert!((s - (1.0 - 0.6 * 0.5)).abs() < 1e-15);
/// ```
#[must_use]
pub fn backward_induction_share(discounts: [f64; 2], proposer: Player, rounds_left: u32) -> f64 {
    if rounds_left == 0 {
        return 0.0;
    }
    // The proposer of the last round is `proposer` when rounds_left is odd.
    let mut last_proposer = if rounds_left % 2 == 1 {
        proposer
    } else {
        proposer.other()
    };
    let mut share = 1.0;
    let mut two_steps_back = f64::NAN;
    for step in 1..rounds_left {
        // Step one round earlier: that round's responder is this round's proposer.
        share = 1.0 - discounts[last_proposer.index()] * share;
        last_proposer = last_proposer.other();
        // The recurrence settles on a two-cycle (the two players' stationary shares) long
        // before a horizon of billions of rounds; stop there rather than iterate on. The
        // cycle's phase is the parity of the steps still to go.
        if step % 2 == 0 {
            if share == two_steps_back {
                if (rounds_left - 1 - step) % 2 == 1 {
                    share = 1.0 - discounts[last_proposer.index()] * share;
                }
                break;
            }
            two_steps_back = share;
        }
    }
    share
}

/// Result of [`monotonic_concession`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ConcessionOutcome {
    /// Index of the agreed deal; `None` for the conflict deal.
    pub agreement: Option<usize>,
    /// Rounds played: 1 when the opening proposals already agree; `max_rounds` on a round-limit
    /// conflict; 0 when no deal is individually rational.
    pub rounds: u32,
    /// Utility of each agent for the outcome (0 each for the conflict deal).
    pub utilities: [f64; 2],
    /// Number of rounds in which each agent conceded.
    pub concessions: [u32; 2],
}

/// Zeuthen risk of an agent holding a proposal worth `own` to itself while the opponent's is
/// worth `offered` to it: the fraction of its utility it would lose by accepting. 1 when its
/// own proposal is worth 0 (it has nothing to lose by insisting).
fn zeuthen_risk(own: f64, offered: f64) -> f64 {
    if own <= 0.0 {
        1.0
    } else {
        (own - offered) / own
    }
}

/// The monotonic concession protocol with the Zeuthen strategy (Rosenschein & Zlotkin, *Rules
/// of Encounter*, 1994) for two agents over a finite deal set. `deals[d] = [u1(d), u2(d)]`;
/// the conflict deal is worth 0 to both.
///
/// Only individually rational deals (both utilities `>= 0`) are ever proposed. Each round:
/// 1. Both agents propose. Each opens with its best deal (ties: the better one for the
///    opponent, then the lowest index).
/// 2. Agreement when one proposal is worth at least as much to the other agent as that agent's
///    own proposal. When both are, the deal with the larger product `u1 u2` is chosen, then the
///    lower index; this replaces the textbook coin flip, so the outcome is deterministic and
///    still a product maximiser.
/// 3. Otherwise the agent with the smaller Zeuthen risk concedes; on equal risks both concede
///    (the textbook alternative is a coin flip; conceding together keeps the protocol
///    deterministic and symmetric). A concession is minimal and sufficient: among deals
///    strictly better for the opponent than the conceder's current proposal, and either
///    acceptable to the opponent or giving the conceder a strictly larger risk than the
///    opponent next round, it picks the one best for the conceder (ties: better for the
///    opponent, then lowest index).
/// 4. After `max_rounds` rounds without agreement the result is the conflict deal.
///
/// Concessions strictly raise the opponent's utility of each proposal, so without the round
/// limit the protocol ends within `deals.len()` rounds. When the deal set is Pareto-optimal
/// the agreement maximises the Nash product `u1 u2` (Harsanyi's equivalence of Zeuthen's rule
/// and the Nash solution). The tests check this by brute force over seeded random deal sets,
/// Pareto-optimal ones and arbitrary ones with dominated and irrational deals; no
/// counterexample turned up in 300,000 arbitrary sets either.
///
/// ```
/// # use agora_agents::conflicts::procedures::monotonic_concession;
/// let deals = [[10.0, 0.0], [8.0, 4.0], [5.0, 6.0], [1.0, 9.0]];
/// let outcome = monotonic_concession(&deals, 100).unwrap();
/// assert_eq!(outcome.agreement, Some(1)); // products 0, 32, 30, 9
/// ```
///
/// # Errors
/// [`ConflictError::InvalidUtility`] when a utility is NaN or infinite.
pub fn monotonic_concession(
    deals: &[[f64; 2]],
    max_rounds: u32,
) -> Result<ConcessionOutcome, ConflictError> {
    for (deal, utilities) in deals.iter().enumerate() {
        for (agent, &value) in (1u8..).zip(utilities) {
            if !value.is_finite() {
                return Err(ConflictError::InvalidUtility { deal, agent, value });
            }
        }
    }
    let conflict = |rounds, concessions| ConcessionOutcome {
        agreement: None,
        rounds,
        utilities: [0.0; 2],
        concessions,
    };
    let rational = |d: &usize| deals[*d][0] >= 0.0 && deals[*d][1] >= 0.0;
    // Best deal for agent `me` among `candidates`: highest own utility, then highest for the
    // opponent, then lowest index.
    let best_for = |me: usize, candidates: &mut dyn Iterator<Item = usize>| {
        candidates.min_by(|&a, &b| {
            deals[b][me]
                .total_cmp(&deals[a][me])
                .then(deals[b][1 - me].total_cmp(&deals[a][1 - me]))
                .then(a.cmp(&b))
        })
    };
    let opening = [
        best_for(0, &mut (0..deals.len()).filter(rational)),
        best_for(1, &mut (0..deals.len()).filter(rational)),
    ];
    let [Some(first), Some(second)] = opening else {
        return Ok(conflict(0, [0, 0]));
    };
    let mut proposals = [first, second];
    let mut concessions = [0u32; 2];
    let product = |d: usize| deals[d][0] * deals[d][1];
    for round in 1..=max_rounds {
        let [p1, p2] = proposals;
        let one_accepts = deals[p2][0] >= deals[p1][0];
        let two_accepts = deals[p1][1] >= deals[p2][1];
        let agreed = match (one_accepts, two_accepts) {
            (true, true) => Some(
                if product(p2) > product(p1) || (product(p2) == product(p1) && p2 < p1) {
                    p2
                } else {
                    p1
                },
            ),
            (true, false) => Some(p2),
            (false, true) => Some(p1),
            (false, false) => None,
        };
        if let Some(deal) = agreed {
            return Ok(ConcessionOutcome {
                agreement: Some(deal),
                rounds: round,
                utilities: deals[deal],
                concessions,
            });
        }
        if round == max_rounds {
            break;
        }
        let risks = [
            zeuthen_risk(deals[p1][0], deals[p2][0]),
            zeuthen_risk(deals[p2][1], deals[p1][1]),
        ];
        let mut next = proposals;
        for me in 0..2 {
            let other = 1 - me;
            if risks[me] > risks[other] {
                continue;
            }
            let (mine, theirs) = (proposals[me], proposals[other]);
            let sufficient = |d: &usize| {
                let d = *d;
                let concedes = deals[d][other] > deals[mine][other];
                let acceptable = deals[d][other] >= deals[theirs][other];
                let my_risk = zeuthen_risk(deals[d][me], deals[theirs][me]);
                let their_risk = zeuthen_risk(deals[theirs][other], deals[d][other]);
                concedes && (acceptable || my_risk > their_risk)
            };
            // The opponent's own proposal always qualifies (no agreement means it is strictly
            // better for the opponent than mine), so a concession always exists.
            if let Some(d) = best_for(
                me,
                &mut (0..deals.len()).filter(rational).filter(sufficient),
            ) {
                next[me] = d;
                concessions[me] += 1;
            }
        }
        proposals = next;
    }
    Ok(conflict(max_rounds, concessions))
}

#[cfg(test)]
mod tests {
    use rand::{Rng, RngExt, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    use super::*;

    const DISCOUNT_PAIRS: [(f64, f64); 6] = [
        (0.9, 0.9),
        (0.9, 0.5),
        (0.5, 0.9),
        (0.99, 0.95),
        (0.2, 0.3),
        (0.6, 0.99),
    ];

    fn config(d1: f64, d2: f64, first: Player, max_rounds: u32) -> AlternatingOffersConfig {
        AlternatingOffersConfig {
            discount_1: d1,
            discount_2: d2,
            first_proposer: first,
            max_rounds,
        }
    }

    #[test]
    fn stationary_equilibrium_agrees_at_once_on_the_rubinstein_share() {
        for (d1, d2) in DISCOUNT_PAIRS {
            let x_star = (1.0 - d2) / (1.0 - d1 * d2);
            let mut game = AlternatingOffers::new(config(d1, d2, Player::One, 50)).unwrap();
            let outcome = game.play_equilibrium(Equilibrium::Stationary);
            assert!(outcome.agreed);
            assert_eq!(outcome.rounds, 1);
            assert!(
                (outcome.shares[0] - x_star).abs() < 1e-12,
                "d1 {d1} d2 {d2}"
            );
            assert!((outcome.shares[0] + outcome.shares[1] - 1.0).abs() < 1e-15);
            assert_eq!(outcome.utilities, outcome.shares);
            // Player two proposing first gets its own Rubinstein share.
            let mut game = AlternatingOffers::new(config(d1, d2, Player::Two, 50)).unwrap();
            let outcome = game.play_equilibrium(Equilibrium::Stationary);
            let y_star = rubinstein_share(d2, d1).unwrap();
            assert!((outcome.shares[1] - y_star).abs() < 1e-12);
        }
    }

    #[test]
    fn stationary_responder_rejects_greedier_offers_and_the_proposer_then_regrets() {
        let (d1, d2) = (0.9, 0.8);
        let mut game = AlternatingOffers::new(config(d1, d2, Player::One, 10)).unwrap();
        let x_star = rubinstein_share(d1, d2).unwrap();
        game.propose(x_star + 0.01).unwrap();
        assert!(!game.equilibrium_accepts(Equilibrium::Stationary));
        let step = game.respond(false).unwrap();
        assert_eq!(
            step,
            Step::Continue {
                round: 2,
                proposer: Player::Two
            }
        );
        let outcome = game.play_equilibrium(Equilibrium::Stationary);
        // Player two now keeps its own share, and player one's utility is discounted once.
        let y_star = rubinstein_share(d2, d1).unwrap();
        assert_eq!(outcome.rounds, 2);
        assert!((outcome.shares[1] - y_star).abs() < 1e-12);
        assert!((outcome.utilities[0] - d1 * (1.0 - y_star)).abs() < 1e-12);
        assert!((outcome.utilities[1] - d2 * y_star).abs() < 1e-12);
        assert!(outcome.utilities[0] < x_star, "deviating cost player one");
    }

    #[test]
    fn backward_induction_hand_computed_small_horizons() {
        let (d1, d2) = (0.5, 0.6);
        let d = [d1, d2];
        assert_eq!(backward_induction_share(d, Player::One, 0), 0.0);
        assert_eq!(backward_induction_share(d, Player::One, 1), 1.0);
        assert!((backward_induction_share(d, Player::One, 2) - (1.0 - d2)).abs() < 1e-15);
        let three = 1.0 - d2 * (1.0 - d1);
        assert!((backward_induction_share(d, Player::One, 3) - three).abs() < 1e-15);
        let four = 1.0 - d2 * (1.0 - d1 * (1.0 - d2));
        assert!((backward_induction_share(d, Player::One, 4) - four).abs() < 1e-15);
        assert!((backward_induction_share(d, Player::Two, 2) - (1.0 - d1)).abs() < 1e-15);
    }

    #[test]
    fn finite_horizon_converges_to_the_rubinstein_share() {
        for (d1, d2) in DISCOUNT_PAIRS {
            let x_star = rubinstein_share(d1, d2).unwrap();
            let mut previous_error = f64::INFINITY;
            for horizon in (1..=401).step_by(2) {
                let mut game =
                    AlternatingOffers::new(config(d1, d2, Player::One, horizon)).unwrap();
                let outcome = game.play_equilibrium(Equilibrium::BackwardInduction);
                assert!(outcome.agreed && outcome.rounds == 1);
                let error = (outcome.shares[0] - x_star).abs();
                let bound = (d1 * d2).powi(((horizon - 1) / 2) as i32);
                assert!(
                    error <= bound + 1e-15,
                    "d {d1},{d2} T {horizon}: {error} > {bound}"
                );
                assert!(
                    error <= previous_error + 1e-15,
                    "not converging at T {horizon}"
                );
                previous_error = error;
            }
            assert!(previous_error < 1e-3, "d {d1},{d2}: error {previous_error}");
            // Even horizons approach from the other side, with the same bound.
            let even = backward_induction_share([d1, d2], Player::One, 400);
            assert!((even - x_star).abs() <= (d1 * d2).powi(199) + 1e-15);
        }
    }

    #[test]
    fn backward_induction_on_huge_horizons_stops_at_the_fixed_point() {
        for (d1, d2) in DISCOUNT_PAIRS {
            let x_star = rubinstein_share(d1, d2).unwrap();
            let y_star = rubinstein_share(d2, d1).unwrap();
            for rounds in [u32::MAX, u32::MAX - 1, 1_000_001, 1_000_000] {
                let s1 = backward_induction_share([d1, d2], Player::One, rounds);
                let s2 = backward_induction_share([d1, d2], Player::Two, rounds);
                assert!((s1 - x_star).abs() < 1e-12, "d {d1},{d2} T {rounds}: {s1}");
                assert!((s2 - y_star).abs() < 1e-12, "d {d1},{d2} T {rounds}: {s2}");
            }
            // Stopping early gives the same value as iterating all the way, for either parity.
            for (rounds, proposer) in [
                (10_001, Player::Two),
                (10_000, Player::Two),
                (9_999, Player::One),
            ] {
                let mut full = 1.0;
                let mut last = if rounds % 2 == 1 {
                    proposer
                } else {
                    proposer.other()
                };
                for _ in 1..rounds {
                    full = 1.0 - [d1, d2][last.index()] * full;
                    last = last.other();
                }
                assert_eq!(backward_induction_share([d1, d2], proposer, rounds), full);
            }
        }
    }

    #[test]
    fn round_limit_ends_in_the_conflict_outcome() {
        let mut game = AlternatingOffers::new(config(0.9, 0.9, Player::One, 3)).unwrap();
        for round in 1..=3 {
            assert_eq!(game.round(), round);
            game.propose(0.6).unwrap();
            let step = game.respond(false).unwrap();
            if round < 3 {
                assert!(matches!(step, Step::Continue { .. }));
            } else {
                let Step::Done(outcome) = step else {
                    panic!("expected the end at round 3, got {step:?}");
                };
                assert!(!outcome.agreed);
                assert_eq!((outcome.rounds, outcome.shares), (3, [0.0, 0.0]));
            }
        }
        assert!(game.propose(0.5).is_err());
        assert!(game.respond(true).is_err());
    }

    #[test]
    fn protocol_misuse_is_an_error() {
        let mut game = AlternatingOffers::new(AlternatingOffersConfig::default()).unwrap();
        assert!(matches!(
            game.respond(true),
            Err(ConflictError::OutOfTurn { .. })
        ));
        assert!(game.propose(1.5).is_err());
        game.propose(0.5).unwrap();
        assert!(matches!(
            game.propose(0.5),
            Err(ConflictError::OutOfTurn { .. })
        ));
        for bad in [0.0, 1.0, -0.1, f64::NAN] {
            let c = AlternatingOffersConfig {
                discount_2: bad,
                ..AlternatingOffersConfig::default()
            };
            assert!(AlternatingOffers::new(c).is_err());
        }
        let c = AlternatingOffersConfig {
            max_rounds: 0,
            ..AlternatingOffersConfig::default()
        };
        assert!(AlternatingOffers::new(c).is_err());
        assert!(rubinstein_share(1.0, 0.5).is_err());
    }

    #[test]
    fn config_deserializes_with_defaults() {
        let c: AlternatingOffersConfig =
            ron::from_str("(discount_2: 0.5, first_proposer: Two)").unwrap();
        assert_eq!(
            (c.discount_1, c.discount_2, c.first_proposer, c.max_rounds),
            (0.9, 0.5, Player::Two, 100)
        );
        assert!(ron::from_str::<AlternatingOffersConfig>("(discount: 0.5)").is_err());
    }

    fn max_product(deals: &[[f64; 2]]) -> Option<f64> {
        deals
            .iter()
            .filter(|d| d[0] >= 0.0 && d[1] >= 0.0)
            .map(|d| d[0] * d[1])
            .max_by(f64::total_cmp)
    }

    /// A Pareto frontier: `u1` strictly decreasing while `u2` strictly increases, shuffled.
    fn pareto_deals(rng: &mut impl Rng, n: usize, integer: bool) -> Vec<[f64; 2]> {
        let draw = |rng: &mut dyn FnMut() -> f64| {
            let mut v: Vec<f64> = (0..n).map(|_| rng()).collect();
            v.sort_by(f64::total_cmp);
            v.dedup();
            v
        };
        let mut source = || {
            if integer {
                f64::from(rng.random_range(0..30u32))
            } else {
                rng.random_range(0.0..10.0)
            }
        };
        let u1 = draw(&mut source);
        let u2 = draw(&mut source);
        let len = u1.len().min(u2.len());
        let mut deals: Vec<[f64; 2]> = (0..len).map(|i| [u1[len - 1 - i], u2[i]]).collect();
        for i in (1..deals.len()).rev() {
            let j = rng.random_range(0..=i);
            deals.swap(i, j);
        }
        deals
    }

    #[test]
    fn zeuthen_agreement_maximises_the_nash_product_on_pareto_sets() {
        let mut rng = ChaCha8Rng::seed_from_u64(42);
        for case in 0..3000 {
            let n = rng.random_range(1..12usize);
            let deals = pareto_deals(&mut rng, n, case % 2 == 0);
            let outcome = monotonic_concession(&deals, 1000).unwrap();
            let deal = outcome
                .agreement
                .expect("a Pareto set with a rational deal agrees");
            let best = max_product(&deals).unwrap();
            let got = deals[deal][0] * deals[deal][1];
            assert!(
                got >= best - 1e-12 * best.abs(),
                "case {case}: {deals:?} -> {deal}"
            );
            assert!(outcome.rounds as usize <= deals.len());
            assert_eq!(outcome.utilities, deals[deal]);
        }
    }

    #[test]
    fn zeuthen_agreement_maximises_the_nash_product_on_arbitrary_sets() {
        let mut rng = ChaCha8Rng::seed_from_u64(43);
        let mut conflicts = 0;
        for case in 0..3000 {
            let n = rng.random_range(1..12usize);
            let integer = case % 2 == 0;
            let deals: Vec<[f64; 2]> = (0..n)
                .map(|_| {
                    if integer {
                        [
                            f64::from(rng.random_range(-3..20i32)),
                            f64::from(rng.random_range(-3..20i32)),
                        ]
                    } else {
                        [rng.random_range(-1.0..10.0), rng.random_range(-1.0..10.0)]
                    }
                })
                .collect();
            let outcome = monotonic_concession(&deals, 1000).unwrap();
            match (outcome.agreement, max_product(&deals)) {
                (Some(deal), Some(best)) => {
                    let got = deals[deal][0] * deals[deal][1];
                    assert!(
                        got >= best - 1e-12 * best.abs(),
                        "case {case}: {deals:?} -> {deal}"
                    );
                }
                (None, None) => conflicts += 1,
                other => panic!("case {case}: {deals:?} gave {other:?}"),
            }
        }
        assert!(conflicts > 0, "some sets had no individually rational deal");
    }

    #[test]
    fn zeuthen_hand_traced_rounds() {
        // Products 0, 32, 30, 9. Openings: deal 0 and deal 3, risks 9/10 < 9/9, so agent 1
        // concedes, to deal 1 (its best deal that leaves it the larger risk: 7/8 > 5/9).
        // Round 2: risks 7/8 > 5/9, agent 2 concedes; deal 2 would not suffice (risk
        // 2/6 < 3/8), so it moves to deal 1, and round 3 agrees on it.
        let deals = [[10.0, 0.0], [8.0, 4.0], [5.0, 6.0], [1.0, 9.0]];
        let outcome = monotonic_concession(&deals, 100).unwrap();
        assert_eq!(outcome.agreement, Some(1));
        assert_eq!(outcome.utilities, [8.0, 4.0]);
        assert_eq!((outcome.rounds, outcome.concessions), (3, [1, 1]));
        // A round limit of 1 leaves only the opening proposals, which disagree.
        let cut = monotonic_concession(&deals, 1).unwrap();
        assert_eq!(
            (cut.agreement, cut.rounds, cut.utilities),
            (None, 1, [0.0, 0.0])
        );
        // Identical openings agree in round 1.
        let same = monotonic_concession(&[[1.0, 1.0], [0.5, 0.5]], 10).unwrap();
        assert_eq!((same.agreement, same.rounds), (Some(0), 1));
        // Nothing individually rational: conflict without a round.
        let none = monotonic_concession(&[[-1.0, 5.0], [3.0, -2.0]], 10).unwrap();
        assert_eq!((none.agreement, none.rounds), (None, 0));
        assert!(matches!(
            monotonic_concession(&[[1.0, f64::NAN]], 10),
            Err(ConflictError::InvalidUtility {
                deal: 0,
                agent: 2,
                ..
            })
        ));
    }
}
