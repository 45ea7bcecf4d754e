//! The scenario's `tasks` section: where tasks come from and what they require.

use crate::scenario::Placement;
use serde::{Deserialize, Serialize};

/// The most skills a scenario may use: a task's and a worker's skills are a 32-bit set.
pub const MAX_SKILLS: u32 = 32;

/// The `tasks` section.
///
/// ```ron
/// tasks: (
///     skills: 3,
///     arrivals: [
///         Poisson(rate: 0.5, template: (skills: Random(1), workload: Uniform(5, 15))),
///         Bursts(count: 20, at: [100, 200]),
///         List([(at: (10.0, 20.0), skills: [0], workload: 5, after: [])]),
///         Csv("tasks.csv"),
///     ],
/// )
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskSpec {
    /// Number of distinct skills; skills are numbered `0..skills` (default 1, at most 32).
    #[serde(default = "one_u32")]
    pub skills: u32,
    /// Where tasks come from, in this order (default none).
    #[serde(default)]
    pub arrivals: Vec<Arrival>,
    /// Withdraw a task that is not done by its deadline (default `false`: it stays workable and
    /// counts as a deadline miss when it completes late or never).
    #[serde(default)]
    pub expire: bool,
}

impl Default for TaskSpec {
    fn default() -> Self {
        TaskSpec {
            skills: 1,
            arrivals: Vec::new(),
            expire: false,
        }
    }
}

fn one_u32() -> u32 {
    1
}

/// One source of tasks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum Arrival {
    /// Tasks written out in the scenario. Their ids are their positions in the list (after
    /// the tasks of earlier `List`/`Csv` sources), which `after` refers to.
    List(Vec<TaskDef>),
    /// Tasks read from a CSV file (path relative to the scenario file) with the header
    /// `x,y,skills,workload,agents,release,deadline,reward,after`; `skills` and `after` are
    /// `;`-separated lists (`0;2`), `deadline` may be empty, `after` names rows (0-based) of
    /// the same file. Only `x` and `y` are required; other columns take `TaskDef`'s defaults.
    Csv(String),
    /// A Poisson process: each tick from `start` to `end` (exclusive) brings a
    /// Poisson(`rate`)-distributed number of tasks drawn from `template`.
    Poisson {
        /// Mean arrivals per tick (must be finite and non-negative).
        rate: f64,
        /// First tick with arrivals (default 0).
        #[serde(default)]
        start: u64,
        /// Tick at which arrivals stop (default `None`: never).
        #[serde(default)]
        end: Option<u64>,
        /// What each task looks like (default: `TaskTemplate`'s defaults).
        #[serde(default)]
        template: TaskTemplate,
    },
    /// `count` tasks at once, at each tick of `at`, and every `every` ticks from `start`
    /// until `end` (exclusive) when `every` is given.
    Bursts {
        /// Tasks per burst.
        count: u32,
        /// Ticks of bursts (default none).
        #[serde(default)]
        at: Vec<u64>,
        /// Period of repeated bursts (default `None`: only `at`).
        #[serde(default)]
        every: Option<u64>,
        /// First periodic burst (default 0).
        #[serde(default)]
        start: u64,
        /// End of periodic bursts, exclusive (default `None`: the end of the run).
        #[serde(default)]
        end: Option<u64>,
        /// What each task looks like.
        #[serde(default)]
        template: TaskTemplate,
    },
}

/// One task written out in a `List` source.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskDef {
    /// Location `(x, y)`.
    pub at: (f64, f64),
    /// Skills a worker needs, all of them (default none).
    #[serde(default)]
    pub skills: Vec<u32>,
    /// Ticks of work to complete it (default 1).
    #[serde(default = "one_u64")]
    pub workload: u64,
    /// Workers needed at once: 1, or a coalition (default 1).
    #[serde(default = "one_u32")]
    pub agents: u32,
    /// Tick at which it appears (default 0).
    #[serde(default)]
    pub release: u64,
    /// Tick by which it should be done (default `None`).
    #[serde(default)]
    pub deadline: Option<u64>,
    /// Value of completing it (default 1).
    #[serde(default = "one_f64")]
    pub reward: f64,
    /// Ids of tasks that must be done before it can be claimed (default none).
    #[serde(default)]
    pub after: Vec<u32>,
}

fn one_u64() -> u64 {
    1
}

fn one_f64() -> f64 {
    1.0
}

impl Default for TaskDef {
    fn default() -> Self {
        TaskDef {
            at: (0.0, 0.0),
            skills: Vec::new(),
            workload: 1,
            agents: 1,
            release: 0,
            deadline: None,
            reward: 1.0,
            after: Vec::new(),
        }
    }
}

/// How generated tasks (Poisson, bursts) are drawn.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TaskTemplate {
    /// Where tasks appear (default `Uniform` over the world).
    pub location: Placement,
    /// Skills required (default `None`).
    pub skills: SkillDraw,
    /// Ticks of work (default `Fixed(10)`).
    pub workload: IntDist,
    /// Workers needed at once (default `Fixed(1)`).
    pub agents: IntDist,
    /// Deadline, in ticks after release (default `None`: no deadline).
    pub deadline: Option<IntDist>,
    /// Reward (default `Fixed(1.0)`).
    pub reward: FloatDist,
}

impl Default for TaskTemplate {
    fn default() -> Self {
        TaskTemplate {
            location: Placement::Uniform,
            skills: SkillDraw::None,
            workload: IntDist::Fixed(10),
            agents: IntDist::Fixed(1),
            deadline: None,
            reward: FloatDist::Fixed(1.0),
        }
    }
}

/// The skills a generated task requires.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub enum SkillDraw {
    /// No skill needed.
    #[default]
    None,
    /// Exactly these skills.
    Fixed(Vec<u32>),
    /// This many distinct skills drawn uniformly from `0..skills`.
    Random(u32),
}

/// An integer drawn per task.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum IntDist {
    /// Always this value.
    Fixed(u64),
    /// Uniform over `lo..=hi`.
    Uniform(u64, u64),
}

/// A number drawn per task.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum FloatDist {
    /// Always this value.
    Fixed(f64),
    /// Uniform over `[lo, hi)`.
    Uniform(f64, f64),
}

impl IntDist {
    fn check(&self) -> Result<(), String> {
        match *self {
            IntDist::Uniform(lo, hi) if lo > hi => {
                Err(format!("`Uniform({lo}, {hi})` needs lo <= hi"))
            }
            _ => Ok(()),
        }
    }

    fn min(&self) -> u64 {
        match *self {
            IntDist::Fixed(v) | IntDist::Uniform(v, _) => v,
        }
    }

    fn max(&self) -> u64 {
        match *self {
            IntDist::Fixed(v) | IntDist::Uniform(_, v) => v,
        }
    }
}

impl FloatDist {
    fn check(&self) -> Result<(), String> {
        let ok = |v: f64| v.is_finite() && v >= 0.0;
        match *self {
            FloatDist::Fixed(v) if !ok(v) => Err(format!("must be finite and >= 0, got {v}")),
            FloatDist::Uniform(lo, hi) if !(ok(lo) && ok(hi) && lo <= hi) => {
                Err(format!("`Uniform({lo}, {hi})` needs finite 0 <= lo <= hi"))
            }
            _ => Ok(()),
        }
    }
}

/// Checks the section against the world; returns the offending field path (relative to
/// `tasks`) and what is wrong.
pub(crate) fn check(
    spec: &TaskSpec,
    width: f64,
    height: f64,
    continuous: bool,
) -> Result<(), (String, String)> {
    let err = |path: String, m: String| Err((path, m));
    if !continuous {
        return err(
            String::new(),
            "tasks need a continuous world (`kind: Continuous`)".into(),
        );
    }
    if spec.skills == 0 || spec.skills > MAX_SKILLS {
        return err(
            "skills".into(),
            format!("must be between 1 and {MAX_SKILLS}, got {}", spec.skills),
        );
    }
    let skill_ok = |s: u32| s < spec.skills;
    let inside = |x: f64, y: f64| {
        x.is_finite() && y.is_finite() && (0.0..=width).contains(&x) && (0.0..=height).contains(&y)
    };
    let mut listed: u64 = 0;
    for (i, a) in spec.arrivals.iter().enumerate() {
        let at = |f: &str| {
            if f.is_empty() {
                format!("arrivals[{i}]")
            } else {
                format!("arrivals[{i}].{f}")
            }
        };
        match a {
            Arrival::List(defs) => {
                let first = listed;
                listed += defs.len() as u64;
                for (k, d) in defs.iter().enumerate() {
                    let f = |name: &str| format!("arrivals[{i}][0][{k}].{name}");
                    check_def(d, first, listed, &skill_ok, &inside)
                        .or_else(|(name, m)| err(f(&name), m))?;
                }
            }
            Arrival::Csv(path) => {
                if path.trim().is_empty() {
                    return err(at(""), "`Csv` needs a file path".into());
                }
            }
            Arrival::Poisson {
                rate,
                start,
                end,
                template,
            } => {
                if !(rate.is_finite() && *rate >= 0.0) {
                    return err(
                        at("rate"),
                        format!("must be a finite number >= 0, got {rate}"),
                    );
                }
                if end.is_some_and(|e| e < *start) {
                    return err(at("end"), "must not be before `start`".into());
                }
                check_template(template, spec.skills, width, height)
                    .or_else(|(name, m)| err(at(&format!("template.{name}")), m))?;
            }
            Arrival::Bursts {
                count,
                every,
                start,
                end,
                template,
                ..
            } => {
                if *count == 0 {
                    return err(at("count"), "must be at least 1".into());
                }
                if *every == Some(0) {
                    return err(at("every"), "must be at least 1 tick".into());
                }
                if end.is_some_and(|e| e < *start) {
                    return err(at("end"), "must not be before `start`".into());
                }
                check_template(template, spec.skills, width, height)
                    .or_else(|(name, m)| err(at(&format!("template.{name}")), m))?;
            }
        }
    }
    // Listed tasks' precedence must be acyclic (CSV files are checked when they are read).
    let mut g = petgraph::graphmap::DiGraphMap::<u64, ()>::new();
    let mut id = 0u64;
    for a in &spec.arrivals {
        if let Arrival::List(defs) = a {
            for d in defs {
                g.add_node(id);
                for &p in &d.after {
                    g.add_edge(u64::from(p), id, ());
                }
                id += 1;
            }
        }
    }
    if let Err(c) = petgraph::algo::toposort(&g, None) {
        return err(
            "arrivals".into(),
            format!(
                "the precedence constraints (`after`) have a cycle through task {}",
                c.node_id()
            ),
        );
    }
    Ok(())
}

/// Checks one listed task; `first..end` are the ids of its list. Errors name the field.
pub(crate) fn check_def(
    d: &TaskDef,
    first: u64,
    end: u64,
    skill_ok: &dyn Fn(u32) -> bool,
    inside: &dyn Fn(f64, f64) -> bool,
) -> Result<(), (String, String)> {
    let e = |f: &str, m: String| Err((f.to_owned(), m));
    if !inside(d.at.0, d.at.1) {
        return e(
            "at",
            format!("({}, {}) is outside the world", d.at.0, d.at.1),
        );
    }
    if let Some(&s) = d.skills.iter().find(|&&s| !skill_ok(s)) {
        return e("skills", format!("skill {s} is not below `tasks.skills`"));
    }
    if d.workload == 0 {
        return e("workload", "must be at least 1 tick".into());
    }
    if d.agents == 0 {
        return e("agents", "must be at least 1".into());
    }
    if !(d.reward.is_finite() && d.reward >= 0.0) {
        return e(
            "reward",
            format!("must be finite and >= 0, got {}", d.reward),
        );
    }
    if d.deadline.is_some_and(|dl| dl < d.release) {
        return e("deadline", "must not be before `release`".into());
    }
    for &p in &d.after {
        let p = u64::from(p);
        if p < first || p >= end {
            return e(
                "after",
                format!("task {p} is not in this list (ids {first} to {})", end - 1),
            );
        }
    }
    Ok(())
}

fn check_template(
    t: &TaskTemplate,
    skills: u32,
    width: f64,
    height: f64,
) -> Result<(), (String, String)> {
    let e = |f: &str, m: String| Err((f.to_owned(), m));
    match &t.skills {
        SkillDraw::None => {}
        SkillDraw::Fixed(list) => {
            if let Some(&s) = list.iter().find(|&&s| s >= skills) {
                return e(
                    "skills",
                    format!("skill {s} is not below `tasks.skills` ({skills})"),
                );
            }
        }
        SkillDraw::Random(k) => {
            if *k > skills {
                return e(
                    "skills",
                    format!("cannot draw {k} distinct skills out of {skills}"),
                );
            }
        }
    }
    t.workload.check().or_else(|m| e("workload", m))?;
    if t.workload.min() == 0 {
        return e("workload", "must be at least 1 tick".into());
    }
    t.agents.check().or_else(|m| e("agents", m))?;
    if t.agents.min() == 0 || t.agents.max() > u64::from(u32::MAX) {
        return e("agents", "must be between 1 and 2^32 - 1".into());
    }
    if let Some(d) = &t.deadline {
        d.check().or_else(|m| e("deadline", m))?;
    }
    t.reward.check().or_else(|m| e("reward", m))?;
    let inside = |x: f64, y: f64| {
        x.is_finite() && y.is_finite() && (0.0..=width).contains(&x) && (0.0..=height).contains(&y)
    };
    match t.location {
        Placement::Uniform => Ok(()),
        Placement::Point(x, y) if !inside(x, y) => {
            e("location", format!("point ({x}, {y}) is outside the world"))
        }
        Placement::Rect(x0, y0, x1, y1)
            if !(inside(x0, y0) && inside(x1, y1) && x0 < x1 && y0 < y1) =>
        {
            e(
                "location",
                format!(
                    "rect ({x0}, {y0}, {x1}, {y1}) must satisfy x0 < x1, y0 < y1 and lie inside the world"
                ),
            )
        }
        Placement::Disc(x, y, r) if !(inside(x, y) && r.is_finite() && r > 0.0) => e(
            "location",
            format!("disc centre ({x}, {y}) must be inside the world and its radius {r} positive"),
        ),
        Placement::Positions(ref pts) => {
            if pts.is_empty() {
                return e("location", "`Positions` needs at least one position".into());
            }
            match pts.iter().position(|&(x, y)| !inside(x, y)) {
                Some(i) => e("location", format!("position {i} is outside the world")),
                None => Ok(()),
            }
        }
        _ => Ok(()),
    }
}
