//! Pure statistics used by recorders and sweeps: summaries with confidence intervals,
//! fairness indices, streaming change detectors, spatial entropy and clustering.
//!
//! Everything here is a deterministic function of its input; nothing depends on any other part
//! of the crate.

mod change;
mod clusters;
mod distribution;
mod entropy;
mod error;
mod fairness;
mod summary;
#[cfg(test)]
mod test_support;

pub use change::{
    ChangeDetector, ChangeEvent, ChangeKind, Cusum, CusumConfig, Detector, DetectorConfig,
    Direction, PageHinkley, PageHinkleyConfig, Threshold, ThresholdConfig, Watch,
};
pub use clusters::{Clustering, Clusters, clusters};
pub use distribution::{ASYMPTOTIC_DF, normal_quantile, student_t_cdf, student_t_quantile};
pub use entropy::{BinnedEntropy, GridEntropy};
pub use error::StatsError;
pub use fairness::{coefficient_of_variation, gini, gini_in_place, jain_index, min_max_ratio};
pub use summary::{ConfidenceInterval, Summary, Welford, quantile_sorted};
