//! Deterministic sharding of a sweep across processes or machines.
//!
//! Shard `i` of `n` holds the runs whose plan index satisfies `index % n == i`. Round-robin
//! rather than contiguous blocks so that every shard gets a similar mix of cells (run cost
//! usually varies with the parameters, and neighbouring indices share parameters).
//!
//! `--shard auto` reads the shard from the launcher's environment, in this order:
//! 1. job-array index: `SLURM_ARRAY_TASK_ID` (Slurm) or `JOB_COMPLETION_INDEX` (Kubernetes
//!    indexed Job); the count must be given explicitly (`--shards N` or `AGORA_SHARDS`),
//!    because Slurm's `SLURM_ARRAY_TASK_COUNT` is 1 when a single failed task is resubmitted;
//! 2. MPI-style rank and size: `OMPI_COMM_WORLD_RANK/SIZE` (Open MPI), `PMI_RANK/SIZE`
//!    (MPICH/Hydra, srun with PMI), `SLURM_PROCID/SLURM_NTASKS` (srun); when several are set
//!    they must agree, and an explicit count must equal the size.

use std::fmt;
use std::str::FromStr;

/// Environment variable giving the shard count for job arrays.
pub const SHARDS_ENV: &str = "AGORA_SHARDS";

/// A shard: `index` of `count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// 0-based shard index, `< count`.
    pub index: usize,
    /// Number of shards, `>= 1`.
    pub count: usize,
}

impl Shard {
    /// Builds a shard, checking `index < count`.
    pub fn new(index: usize, count: usize) -> Result<Shard, ShardError> {
        if count == 0 {
            return Err(ShardError::Invalid(
                "shard count is 0; expected at least 1".into(),
            ));
        }
        if index >= count {
            return Err(ShardError::Invalid(format!(
                "shard index {index} is not below the shard count {count}"
            )));
        }
        Ok(Shard { index, count })
    }

    /// Whether the run at plan index `run_index` belongs to this shard.
    pub fn contains(&self, run_index: usize) -> bool {
        run_index % self.count == self.index
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// Where an automatically resolved shard came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ShardSource {
    /// Given on the command line.
    Explicit,
    /// `SLURM_ARRAY_TASK_ID`.
    SlurmArray,
    /// `JOB_COMPLETION_INDEX`.
    KubernetesIndex,
    /// An MPI launcher or srun (rank and size variables).
    Launcher,
}

impl ShardSource {
    /// Short name for manifests.
    pub fn as_str(self) -> &'static str {
        match self {
            ShardSource::Explicit => "explicit",
            ShardSource::SlurmArray => "slurm-array",
            ShardSource::KubernetesIndex => "kubernetes-index",
            ShardSource::Launcher => "launcher",
        }
    }
}

/// The `--shard` argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShardArg {
    /// `--shard i/n`.
    Fixed(Shard),
    /// `--shard auto`.
    Auto,
}

impl FromStr for ShardArg {
    type Err = ShardError;
    fn from_str(s: &str) -> Result<ShardArg, ShardError> {
        let s = s.trim();
        if s.eq_ignore_ascii_case("auto") {
            return Ok(ShardArg::Auto);
        }
        let bad = || {
            ShardError::Invalid(format!(
                "`{s}` is not a shard; expected i/n (e.g. 0/4) or auto"
            ))
        };
        let (i, n) = s.split_once('/').ok_or_else(bad)?;
        let i: usize = i.trim().parse().map_err(|_| bad())?;
        let n: usize = n.trim().parse().map_err(|_| bad())?;
        Ok(ShardArg::Fixed(Shard::new(i, n)?))
    }
}

/// Why a shard could not be determined.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ShardError {
    /// Malformed or out-of-range shard.
    #[error("{0}")]
    Invalid(String),
    /// `--shard auto` found no launcher variables.
    #[error(
        "--shard auto found no launcher environment; expected SLURM_ARRAY_TASK_ID or \
         JOB_COMPLETION_INDEX (with --shards N or AGORA_SHARDS), OMPI_COMM_WORLD_RANK/SIZE, \
         PMI_RANK/SIZE or SLURM_PROCID/SLURM_NTASKS"
    )]
    NoEnvironment,
    /// A job-array index without a count.
    #[error(
        "{var}={index} is set but the shard count is not; pass --shards N or export AGORA_SHARDS \
         (the array's own task count is wrong when single tasks are resubmitted)"
    )]
    MissingCount {
        /// The index variable.
        var: &'static str,
        /// Its value.
        index: usize,
    },
    /// A variable that is not a number.
    #[error("{var}={value:?} is not a non-negative integer")]
    NotANumber {
        /// The variable.
        var: &'static str,
        /// Its value.
        value: String,
    },
    /// Variables that disagree.
    #[error("inconsistent shard environment: {0}")]
    Inconsistent(String),
}

/// Resolves a `--shard` argument; `shards` is `--shards N` if given; `env` looks up an
/// environment variable (pass [`process_env`] outside tests).
pub fn resolve(
    arg: ShardArg,
    shards: Option<usize>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<(Shard, ShardSource), ShardError> {
    match arg {
        ShardArg::Fixed(s) => match shards {
            Some(n) if n != s.count => Err(ShardError::Inconsistent(format!(
                "--shard {s} disagrees with --shards {n}"
            ))),
            _ => Ok((s, ShardSource::Explicit)),
        },
        ShardArg::Auto => resolve_auto(shards, env),
    }
}

/// Reads the real process environment.
pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

fn read(
    env: &dyn Fn(&str) -> Option<String>,
    var: &'static str,
) -> Result<Option<usize>, ShardError> {
    match env(var) {
        None => Ok(None),
        Some(v) if v.trim().is_empty() => Ok(None),
        Some(v) => v
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| ShardError::NotANumber { var, value: v }),
    }
}

fn resolve_auto(
    shards: Option<usize>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<(Shard, ShardSource), ShardError> {
    let env_count = read(env, SHARDS_ENV)?;
    let count = match (shards, env_count) {
        (Some(a), Some(b)) if a != b => {
            return Err(ShardError::Inconsistent(format!(
                "--shards {a} disagrees with {SHARDS_ENV}={b}"
            )));
        }
        (a, b) => a.or(b),
    };
    let slurm = read(env, "SLURM_ARRAY_TASK_ID")?;
    let k8s = read(env, "JOB_COMPLETION_INDEX")?;
    let array = match (slurm, k8s) {
        (Some(_), Some(_)) => {
            return Err(ShardError::Inconsistent(
                "both SLURM_ARRAY_TASK_ID and JOB_COMPLETION_INDEX are set".into(),
            ));
        }
        (Some(i), None) => Some((i, "SLURM_ARRAY_TASK_ID", ShardSource::SlurmArray)),
        (None, Some(i)) => Some((i, "JOB_COMPLETION_INDEX", ShardSource::KubernetesIndex)),
        (None, None) => None,
    };
    if let Some((index, var, source)) = array {
        let count = count.ok_or(ShardError::MissingCount { var, index })?;
        let shard = Shard::new(index, count).map_err(|_| {
            ShardError::Inconsistent(format!(
                "{var}={index} is not below the shard count {count}"
            ))
        })?;
        return Ok((shard, source));
    }
    let pairs: [(&'static str, &'static str); 3] = [
        ("OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE"),
        ("PMI_RANK", "PMI_SIZE"),
        ("SLURM_PROCID", "SLURM_NTASKS"),
    ];
    let mut found: Option<(usize, usize, &'static str)> = None;
    for (rank_var, size_var) in pairs {
        let (rank, size) = (read(env, rank_var)?, read(env, size_var)?);
        let (rank, size) = match (rank, size) {
            (Some(r), Some(s)) => (r, s),
            (None, None) => continue,
            (Some(_), None) => {
                return Err(ShardError::Inconsistent(format!(
                    "{rank_var} is set but {size_var} is not"
                )));
            }
            (None, Some(_)) => {
                return Err(ShardError::Inconsistent(format!(
                    "{size_var} is set but {rank_var} is not"
                )));
            }
        };
        if let Some((r0, s0, v0)) = found {
            if (r0, s0) != (rank, size) {
                return Err(ShardError::Inconsistent(format!(
                    "{v0} says rank {r0} of {s0} but {rank_var} says rank {rank} of {size}"
                )));
            }
        } else {
            found = Some((rank, size, rank_var));
        }
    }
    let (rank, size, var) = found.ok_or(ShardError::NoEnvironment)?;
    if let Some(n) = count
        && n != size
    {
        return Err(ShardError::Inconsistent(format!(
            "the shard count {n} differs from the launcher's size {size} ({var})"
        )));
    }
    let shard = Shard::new(rank, size).map_err(|_| {
        ShardError::Inconsistent(format!("{var}={rank} is not below the size {size}"))
    })?;
    Ok((shard, ShardSource::Launcher))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_of(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |name| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
    }

    fn auto(
        vars: &[(&str, &str)],
        shards: Option<usize>,
    ) -> Result<(Shard, ShardSource), ShardError> {
        resolve(ShardArg::Auto, shards, &env_of(vars))
    }

    #[test]
    fn shards_partition_the_runs() {
        for n in 1..6 {
            let mut owners = [0; 23];
            for i in 0..n {
                let s = Shard::new(i, n).unwrap();
                for (r, o) in owners.iter_mut().enumerate() {
                    if s.contains(r) {
                        *o += 1;
                    }
                }
            }
            assert!(owners.iter().all(|&o| o == 1));
        }
    }

    #[test]
    fn parses_fixed_and_auto() {
        assert_eq!(
            "2/5".parse::<ShardArg>().unwrap(),
            ShardArg::Fixed(Shard { index: 2, count: 5 })
        );
        assert_eq!("auto".parse::<ShardArg>().unwrap(), ShardArg::Auto);
        for bad in ["5/5", "1/0", "x/2", "3", "-1/2"] {
            assert!(bad.parse::<ShardArg>().is_err(), "{bad}");
        }
        let fixed = ShardArg::Fixed(Shard::new(1, 4).unwrap());
        assert!(resolve(fixed, Some(3), &env_of(&[])).is_err());
        assert_eq!(
            resolve(fixed, Some(4), &env_of(&[])).unwrap().0,
            Shard::new(1, 4).unwrap()
        );
    }

    #[test]
    fn slurm_array_needs_an_explicit_count() {
        let vars = [
            ("SLURM_ARRAY_TASK_ID", "5"),
            ("SLURM_ARRAY_TASK_COUNT", "1"),
        ];
        assert!(matches!(
            auto(&vars, None),
            Err(ShardError::MissingCount { index: 5, .. })
        ));
        assert_eq!(
            auto(&vars, Some(8)).unwrap(),
            (Shard::new(5, 8).unwrap(), ShardSource::SlurmArray)
        );
        let with_env = [("SLURM_ARRAY_TASK_ID", "5"), ("AGORA_SHARDS", "8")];
        assert_eq!(auto(&with_env, None).unwrap().0, Shard::new(5, 8).unwrap());
        assert!(matches!(
            auto(&with_env, Some(7)),
            Err(ShardError::Inconsistent(_))
        ));
        // Array tasks run with SLURM_PROCID=0 / SLURM_NTASKS=1: the array index wins.
        let in_batch = [
            ("SLURM_ARRAY_TASK_ID", "3"),
            ("AGORA_SHARDS", "4"),
            ("SLURM_PROCID", "0"),
            ("SLURM_NTASKS", "1"),
        ];
        assert_eq!(auto(&in_batch, None).unwrap().0, Shard::new(3, 4).unwrap());
        assert!(matches!(
            auto(&[("SLURM_ARRAY_TASK_ID", "8"), ("AGORA_SHARDS", "8")], None),
            Err(ShardError::Inconsistent(_))
        ));
    }

    #[test]
    fn kubernetes_and_mpi_launchers() {
        let k = [("JOB_COMPLETION_INDEX", "2"), ("AGORA_SHARDS", "3")];
        assert_eq!(
            auto(&k, None).unwrap(),
            (Shard::new(2, 3).unwrap(), ShardSource::KubernetesIndex)
        );
        let both = [
            ("JOB_COMPLETION_INDEX", "2"),
            ("SLURM_ARRAY_TASK_ID", "2"),
            ("AGORA_SHARDS", "3"),
        ];
        assert!(matches!(
            auto(&both, None),
            Err(ShardError::Inconsistent(_))
        ));
        let ompi = [("OMPI_COMM_WORLD_RANK", "1"), ("OMPI_COMM_WORLD_SIZE", "4")];
        assert_eq!(
            auto(&ompi, None).unwrap(),
            (Shard::new(1, 4).unwrap(), ShardSource::Launcher)
        );
        assert!(matches!(
            auto(&ompi, Some(3)),
            Err(ShardError::Inconsistent(_))
        ));
        let pmi = [("PMI_RANK", "3"), ("PMI_SIZE", "4")];
        assert_eq!(auto(&pmi, None).unwrap().0, Shard::new(3, 4).unwrap());
        let clash = [
            ("OMPI_COMM_WORLD_RANK", "1"),
            ("OMPI_COMM_WORLD_SIZE", "4"),
            ("PMI_RANK", "2"),
            ("PMI_SIZE", "4"),
        ];
        assert!(matches!(
            auto(&clash, None),
            Err(ShardError::Inconsistent(_))
        ));
        assert!(matches!(
            auto(&[("PMI_RANK", "0")], None),
            Err(ShardError::Inconsistent(_))
        ));
        assert!(matches!(
            auto(&[("PMI_RANK", "x"), ("PMI_SIZE", "2")], None),
            Err(ShardError::NotANumber { .. })
        ));
        assert_eq!(auto(&[], None), Err(ShardError::NoEnvironment));
    }
}
