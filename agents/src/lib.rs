#![doc = include_str!("../README.md")]
#![warn(missing_docs)]

pub mod allocation;
pub mod behaviors;
pub mod conflicts;
pub mod metrics;
pub mod quantities;

use agora_engine::Registry;

/// Every built-in behavior, protocol, metric and per-agent quantity: the one explicit list
/// scenarios are resolved against. Add yours here, one line each.
pub fn register_all(registry: &mut Registry) {
    registry
        .behavior::<behaviors::RandomWalk>()
        .behavior::<behaviors::Flocking>()
        .behavior::<behaviors::Schelling>()
        .behavior::<behaviors::Commuter>()
        .behavior::<behaviors::Stream>()
        .behavior::<behaviors::Charger>()
        .behavior::<behaviors::Wayfarer>()
        .behavior::<behaviors::Claimer>()
        .behavior::<behaviors::Vicsek>()
        .behavior::<behaviors::Worker>()
        .behavior::<behaviors::Forager>()
        .behavior::<behaviors::Gossip>();
    registry
        .mechanism::<allocation::Optimal>()
        .mechanism::<allocation::Greedy>()
        .mechanism::<allocation::RandomAssignment>()
        .mechanism::<allocation::ResponseThreshold>()
        .mechanism::<allocation::ContractNet>()
        .mechanism::<allocation::SsiAuction>()
        .mechanism::<allocation::Cbba>();
    registry
        .metric::<metrics::AgentCount>()
        .metric::<metrics::Polarization>()
        .metric::<metrics::MeanNnDistance>()
        .metric::<metrics::FractionHappy>()
        .metric::<metrics::MeanSimilarFraction>()
        .metric::<metrics::ConflictCounts>()
        .metric::<metrics::Waits>()
        .metric::<metrics::Deadlocks>()
        .metric::<metrics::ConflictFairness>()
        .metric::<metrics::ResolutionMessages>()
        .metric::<metrics::TripsMetric>()
        .metric::<metrics::Charging>()
        .metric::<metrics::Mapf>()
        .metric::<metrics::TaskClaimsMetric>()
        .metric::<metrics::NegotiationMetric>()
        .metric::<metrics::MinNnDistance>()
        .metric::<metrics::Milling>()
        .metric::<metrics::Clusters>()
        .metric::<metrics::SpatialEntropy>()
        .metric::<metrics::Gini>()
        .metric::<metrics::Jain>()
        .metric::<metrics::OpinionVariance>()
        .metric::<metrics::OpinionClusters>()
        .metric::<metrics::DivisionOfLabor>()
        .metric::<metrics::Messages>()
        .metric::<metrics::CommGraph>()
        .metric::<metrics::TopologyShape>()
        .metric::<metrics::MemoryUse>()
        .metric::<metrics::OpinionSpread>()
        .metric::<metrics::ConsensusTick>()
        .metric::<metrics::Foraging>()
        .metric::<metrics::Pheromone>()
        .metric::<allocation::TaskAllocation>();
    registry
        .mechanism::<conflicts::Priority>()
        .mechanism::<conflicts::RandomWinner>()
        .mechanism::<conflicts::FirstCome>()
        .mechanism::<conflicts::Backoff>()
        .mechanism::<conflicts::Voting>()
        .mechanism::<conflicts::Auction>()
        .mechanism::<conflicts::Token>()
        .mechanism::<conflicts::Negotiation>();
    registry
        .quantity::<quantities::Speed>()
        .quantity::<quantities::Neighbors>()
        .quantity::<quantities::State>()
        .quantity::<quantities::OpinionValue>()
        .quantity::<quantities::Work>();
}

/// A registry holding [`register_all`]'s plug-ins.
pub fn registry() -> Registry {
    let mut r = Registry::new();
    register_all(&mut r);
    r
}

#[cfg(test)]
mod tests {
    #[test]
    fn registry_names_are_unique_snake_case_with_summaries() {
        if let Err(problems) = super::registry().check() {
            panic!("registry problems:\n{}", problems.join("\n"));
        }
    }
}
