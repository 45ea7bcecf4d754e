//! Pure decision procedures the negotiation, voting and auction policies call: bilateral
//! negotiation (Rubinstein's alternating offers, the monotonic concession protocol with the
//! Zeuthen strategy), voting rules, sealed-bid auctions.
//!
//! Nothing here reads simulation state; ties are broken by a fixed rule (lowest id) unless a
//! function takes a caller-provided random number generator (policies pass a stream of the
//! run's `SimRng`).

mod auction;
mod error;
mod negotiation;
mod voting;

pub use auction::{AuctionOutcome, Bid, PriceRule, first_price, sealed_bid, second_price};
pub use error::ConflictError;
pub use negotiation::{
    AlternatingOffers, AlternatingOffersConfig, BargainOutcome, ConcessionOutcome, Equilibrium,
    Player, Step, backward_induction_share, monotonic_concession, rubinstein_share,
};
pub use voting::{PairwiseMatrix, Tally, approval, borda, condorcet_winner, plurality};
