//! Sealed-bid auctions for one contested resource: first-price and second-price (Vickrey).

use serde::{Deserialize, Serialize};

use super::ConflictError;

/// One sealed bid.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Bid {
    /// The bidding agent.
    pub bidder: u32,
    /// The amount offered, finite and not negative.
    pub amount: f64,
}

/// How the winner's payment is set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum PriceRule {
    /// The winner pays its own bid.
    FirstPrice,
    /// The winner pays the highest losing bid (0 when it bid alone); bidding one's true value
    /// is then a dominant strategy (Vickrey 1961). The default.
    #[default]
    SecondPrice,
}

/// Winner and payment of an auction.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct AuctionOutcome {
    /// The winning bidder: the highest bid, ties to the lowest bidder id.
    pub winner: u32,
    /// The winner's bid.
    pub winning_bid: f64,
    /// What the winner pays under the price rule.
    pub payment: f64,
}

/// Runs a sealed-bid auction; `None` without bids.
///
/// The highest amount wins, ties to the lowest bidder id. Under the second-price rule the
/// payment is the highest bid among the others, so on a tie the winner pays its own bid.
///
/// ```
/// # use agora_agents::conflicts::procedures::{sealed_bid, Bid, PriceRule};
/// let bids = [Bid { bidder: 4, amount: 7.0 }, Bid { bidder: 2, amount: 9.0 }];
/// let outcome = sealed_bid(PriceRule::SecondPrice, &bids).unwrap().unwrap();
/// assert_eq!((outcome.winner, outcome.payment), (2, 7.0));
/// ```
///
/// # Errors
/// [`ConflictError::InvalidBid`] for a negative or non-finite amount;
/// [`ConflictError::DuplicateBidder`] when one bidder bids twice.
pub fn sealed_bid(rule: PriceRule, bids: &[Bid]) -> Result<Option<AuctionOutcome>, ConflictError> {
    let mut best: Option<Bid> = None;
    let mut runner_up = 0.0_f64;
    for (i, bid) in bids.iter().enumerate() {
        if !(bid.amount.is_finite() && bid.amount >= 0.0) {
            return Err(ConflictError::InvalidBid {
                bidder: bid.bidder,
                amount: bid.amount,
            });
        }
        // Quadratic, but allocation-free: bids for one resource come from a few contenders.
        if bids[..i].iter().any(|b| b.bidder == bid.bidder) {
            return Err(ConflictError::DuplicateBidder { bidder: bid.bidder });
        }
        match best {
            Some(b)
                if bid.amount < b.amount || (bid.amount == b.amount && bid.bidder > b.bidder) =>
            {
                runner_up = runner_up.max(bid.amount);
            }
            Some(b) => {
                runner_up = runner_up.max(b.amount);
                best = Some(*bid);
            }
            None => best = Some(*bid),
        }
    }
    Ok(best.map(|b| AuctionOutcome {
        winner: b.bidder,
        winning_bid: b.amount,
        payment: match rule {
            PriceRule::FirstPrice => b.amount,
            PriceRule::SecondPrice => runner_up,
        },
    }))
}

/// [`sealed_bid`] with [`PriceRule::FirstPrice`].
///
/// # Errors
/// As [`sealed_bid`].
pub fn first_price(bids: &[Bid]) -> Result<Option<AuctionOutcome>, ConflictError> {
    sealed_bid(PriceRule::FirstPrice, bids)
}

/// [`sealed_bid`] with [`PriceRule::SecondPrice`].
///
/// # Errors
/// As [`sealed_bid`].
pub fn second_price(bids: &[Bid]) -> Result<Option<AuctionOutcome>, ConflictError> {
    sealed_bid(PriceRule::SecondPrice, bids)
}

#[cfg(test)]
mod tests {
    use rand::{RngExt, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    use super::*;

    fn bids(list: &[(u32, f64)]) -> Vec<Bid> {
        list.iter()
            .map(|&(bidder, amount)| Bid { bidder, amount })
            .collect()
    }

    #[test]
    fn hand_computed_auctions() {
        let b = bids(&[(3, 5.0), (1, 8.0), (7, 6.5), (2, 1.0)]);
        let first = first_price(&b).unwrap().unwrap();
        assert_eq!(
            (first.winner, first.winning_bid, first.payment),
            (1, 8.0, 8.0)
        );
        let second = second_price(&b).unwrap().unwrap();
        assert_eq!(
            (second.winner, second.winning_bid, second.payment),
            (1, 8.0, 6.5)
        );
        let alone = second_price(&bids(&[(4, 3.0)])).unwrap().unwrap();
        assert_eq!((alone.winner, alone.payment), (4, 0.0));
        assert_eq!(first_price(&[]).unwrap(), None);
    }

    #[test]
    fn ties_go_to_the_lowest_id_and_second_price_equals_the_tied_bid() {
        let b = bids(&[(9, 4.0), (5, 4.0), (6, 2.0), (8, 4.0)]);
        let second = second_price(&b).unwrap().unwrap();
        assert_eq!((second.winner, second.payment), (5, 4.0));
        let first = first_price(&b).unwrap().unwrap();
        assert_eq!((first.winner, first.payment), (5, 4.0));
        let zeros = second_price(&bids(&[(2, 0.0), (1, 0.0)])).unwrap().unwrap();
        assert_eq!((zeros.winner, zeros.payment), (1, 0.0));
    }

    #[test]
    fn matches_sorting_on_random_bids() {
        let mut rng = ChaCha8Rng::seed_from_u64(8);
        for _ in 0..500 {
            let n = rng.random_range(1..12u32);
            let b: Vec<Bid> = (0..n)
                .map(|i| Bid {
                    bidder: i * 3 % 17,
                    amount: f64::from(rng.random_range(0..6u32)),
                })
                .collect();
            let mut sorted = b.clone();
            sorted.sort_by(|x, y| y.amount.total_cmp(&x.amount).then(x.bidder.cmp(&y.bidder)));
            let outcome = second_price(&b).unwrap().unwrap();
            assert_eq!(outcome.winner, sorted[0].bidder);
            assert_eq!(outcome.payment, sorted.get(1).map_or(0.0, |s| s.amount));
        }
    }

    #[test]
    fn bad_bids_are_errors() {
        assert_eq!(
            first_price(&bids(&[(1, 2.0), (3, -1.0)])),
            Err(ConflictError::InvalidBid {
                bidder: 3,
                amount: -1.0
            })
        );
        assert!(second_price(&bids(&[(1, f64::NAN)])).is_err());
        assert_eq!(
            second_price(&bids(&[(1, 2.0), (2, 3.0), (1, 4.0)])),
            Err(ConflictError::DuplicateBidder { bidder: 1 })
        );
    }
}
