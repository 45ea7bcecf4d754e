#![doc = include_str!("../README.md")]
#![warn(missing_docs)]

pub mod allocation;
pub mod behaviors;
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
