//! The library half of the `agora` command: charts (a run's metric time series, a sweep's
//! metrics against a swept parameter) and sweep reports (`summary.csv` with confidence
//! intervals). The binary (`src/main.rs`) parses arguments, prints and picks exit codes; this
//! part never prints, and the tests and benches use it directly.

#![warn(missing_docs)]

pub mod plot;
pub mod report;
pub mod stats;
