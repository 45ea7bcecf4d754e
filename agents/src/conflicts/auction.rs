//! `auction`: the parties bid for the contested thing with credits; first or second price.

use super::procedures::{Bid, PriceRule, sealed_bid};
use agora_engine::prelude::*;
use serde::{Deserialize, Serialize};

/// Scenario: `conflicts: (policy: "auction", params: (price: SecondPrice, budget: 10.0))`
///
/// A party values the contested thing at `1 + urgency + wait_value * losses` (urgency from
/// its own state, losses the conflicts it lost in a row) and bids that value under the second
/// price (truthful bidding is dominant), or `(n - 1) / n` of it under the first price (the
/// risk-neutral equilibrium shading with `n` bidders), never more than its credits. The
/// highest bids win (ties to the lowest id); winners pay their bid (first price) or the
/// highest losing bid (second price; with several units, the highest bid that did not win).
/// Every agent starts with `budget` credits and earns `income` per tick up to `budget`. Each
/// bid and the award count as messages.
#[derive(Resource, Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Auction {
    /// Payment rule (default `SecondPrice`).
    pub price: PriceRule,
    /// Starting and maximum credits per agent (default 10).
    pub budget: f64,
    /// Credits earned per tick (default 0.1).
    pub income: f64,
    /// Value added per conflict lost in a row (default 0.1).
    pub wait_value: f64,
}

impl Default for Auction {
    fn default() -> Self {
        Auction {
            price: PriceRule::SecondPrice,
            budget: 10.0,
            income: 0.1,
            wait_value: 0.1,
        }
    }
}

/// Agents' credits, by agent id: `(balance, tick of the balance)`.
#[derive(Resource, Debug, Default, Clone)]
pub struct Credits {
    balance: Vec<(f64, u64)>,
    /// Credits paid by winners so far.
    pub paid: f64,
}

impl Credits {
    /// Credits of `agent` at `tick` (income accrued lazily).
    pub fn balance(&self, agent: u32, tick: u64, params: &Auction) -> f64 {
        match self.balance.get(agent as usize) {
            Some(&(b, t)) if t != u64::MAX => {
                (b + params.income * tick.saturating_sub(t) as f64).min(params.budget)
            }
            _ => params.budget,
        }
    }

    fn set(&mut self, agent: u32, tick: u64, value: f64) {
        let i = agent as usize;
        if self.balance.len() <= i {
            self.balance.resize(i + 1, (0.0, u64::MAX));
        }
        self.balance[i] = (value, tick);
    }
}

impl Mechanism for Auction {
    const SECTION: Section = Section::Conflicts;
    const NAME: &'static str = "auction";
    const SUMMARY: &'static str =
        "Parties bid credits for the contested thing; first- or second-price sealed bids.";

    fn build(sim: &mut SimBuilder) {
        sim.use_intents();
        sim.init_resource::<Credits>();
        sim.add_systems(Phase::Resolve, auction);
    }

    fn validate(&self, _: &ValidateCtx) -> Result<(), String> {
        for (name, v) in [
            ("budget", self.budget),
            ("income", self.income),
            ("wait_value", self.wait_value),
        ] {
            if !(v.is_finite() && v >= 0.0) {
                return Err(format!("`{name}` must be a number, 0 or more, got {v}"));
            }
        }
        Ok(())
    }
}

fn auction(params: Res<Auction>, mut credits: ResMut<Credits>, mut conflicts: ResMut<Conflicts>) {
    let tick = conflicts.tick();
    let mut messages = 0;
    let mut bids: Vec<Bid> = Vec::new();
    for mut c in conflicts.iter_mut() {
        let n = c.parties().len();
        let shade = match params.price {
            PriceRule::FirstPrice => (n as f64 - 1.0) / n as f64,
            PriceRule::SecondPrice => 1.0,
        };
        bids.clear();
        bids.extend(c.parties().iter().map(|p| {
            let value = 1.0 + p.urgency.max(0.0) + params.wait_value * f64::from(p.losses);
            Bid {
                bidder: p.agent,
                amount: (value * shade).min(credits.balance(p.agent, tick, &params)),
            }
        }));
        messages += n as u64 + 1;
        // Highest bid first, ties to the lowest id: the procedure's order.
        bids.sort_by(|a, b| b.amount.total_cmp(&a.amount).then(a.bidder.cmp(&b.bidder)));
        let order: Vec<u32> = bids.iter().map(|b| b.bidder).collect();
        c.rank_by_key(|p| order.iter().position(|&a| a == p.agent));
        let w = c.winners() as usize;
        let payments: Vec<(u32, f64)> = if w == 1 {
            sealed_bid(params.price, &bids)
                .ok()
                .flatten()
                .map(|o| vec![(o.winner, o.payment)])
                .unwrap_or_default()
        } else {
            let clearing = bids.get(w).map_or(0.0, |b| b.amount);
            bids[..w.min(bids.len())]
                .iter()
                .map(|b| {
                    let pay = match params.price {
                        PriceRule::FirstPrice => b.amount,
                        PriceRule::SecondPrice => clearing,
                    };
                    (b.bidder, pay)
                })
                .collect()
        };
        for (agent, pay) in payments {
            let left = credits.balance(agent, tick, &params) - pay;
            credits.set(agent, tick, left.max(0.0));
            credits.paid += pay;
        }
    }
    conflicts.add_messages(messages);
}
