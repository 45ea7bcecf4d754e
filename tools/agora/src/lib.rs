//! The library half of the `agora` command: sweep reports (`summary.csv` with confidence
//! intervals, and charts of metrics against a swept parameter through `agora-plot`). The
//! binary (`src/main.rs`) parses arguments, prints and picks exit codes; this part never
//! prints, and the tests and benches use it directly.

#![warn(missing_docs)]

pub mod report;
