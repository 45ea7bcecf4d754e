//! Turning the `tasks` section into task arrivals: listed and CSV tasks with fixed ids, and
//! generated ones (Poisson, bursts) drawn tick by tick from the run's task streams.

use super::spec::{Arrival, FloatDist, IntDist, SkillDraw, TaskDef, TaskSpec, TaskTemplate};
use super::{SkillSet, Task, TaskId};
use crate::rng::{AgentRng, Purpose, SimRng};
use crate::scenario::Placement;
use crate::space::Space;
use bevy_ecs::prelude::Resource;
use glam::DVec2;
use std::path::Path;

/// Added to a source's index to key the stream its task attributes are drawn from.
const ATTRIBUTE_CHANNELS: u32 = 1 << 16;

/// A task that will arrive, with its predecessors.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct NewTask {
    pub(crate) task: Task,
    pub(crate) after: Vec<u32>,
}

#[derive(Debug, Clone)]
enum Source {
    Poisson {
        rate: f64,
        start: u64,
        end: Option<u64>,
        template: TaskTemplate,
    },
    Bursts {
        count: u32,
        at: Vec<u64>,
        every: Option<u64>,
        start: u64,
        end: Option<u64>,
        template: TaskTemplate,
    },
}

/// Every future arrival: listed tasks sorted by release, and the generators.
#[derive(Resource, Debug, Clone)]
pub(crate) struct Arrivals {
    listed: Vec<NewTask>,
    cursor: usize,
    /// `(source index, generator)`; the index keys the source's random stream.
    sources: Vec<(u32, Source)>,
    next_id: u32,
    skills: u32,
}

fn task_from_def(id: u32, d: &TaskDef, after: Vec<u32>) -> NewTask {
    let skills = SkillSet::from_skills(d.skills.iter().copied());
    NewTask {
        task: Task {
            id: TaskId(id),
            location: DVec2::new(d.at.0, d.at.1),
            skills,
            workload: d.workload,
            agents: d.agents,
            release: d.release,
            deadline: d.deadline,
            reward: d.reward,
            kind: skills.lowest().unwrap_or(0),
        },
        after,
    }
}

/// A CSV problem: 1-based line and message.
pub(crate) struct CsvError {
    pub(crate) line: usize,
    pub(crate) message: String,
}

fn parse_list(field: &str, what: &str) -> Result<Vec<u32>, String> {
    field
        .split(';')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<u32>()
                .map_err(|_| format!("`{what}`: `{s}` is not a non-negative integer"))
        })
        .collect()
}

/// Reads tasks from CSV text; `first` is the id of the first row. Rows are checked like
/// listed tasks.
pub(crate) fn parse_csv(
    text: &str,
    first: u32,
    skills: u32,
    width: f64,
    height: f64,
) -> Result<Vec<NewTask>, CsvError> {
    const COLUMNS: [&str; 9] = [
        "x", "y", "skills", "workload", "agents", "release", "deadline", "reward", "after",
    ];
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .flexible(false)
        .from_reader(text.as_bytes());
    let headers = reader
        .headers()
        .map_err(|e| CsvError {
            line: 1,
            message: e.to_string(),
        })?
        .clone();
    let mut index = [None; 9];
    for (i, h) in headers.iter().enumerate() {
        match COLUMNS.iter().position(|c| *c == h) {
            Some(k) => index[k] = Some(i),
            None => {
                return Err(CsvError {
                    line: 1,
                    message: crate::plugin::unknown_name_message("column", h, &COLUMNS),
                });
            }
        }
    }
    if index[0].is_none() || index[1].is_none() {
        return Err(CsvError {
            line: 1,
            message: "the header needs columns `x` and `y`".into(),
        });
    }
    let mut rows = Vec::new();
    for (row, record) in reader.records().enumerate() {
        let line = row + 2;
        let record = record.map_err(|e| CsvError {
            line,
            message: e.to_string(),
        })?;
        let err = |message: String| CsvError { line, message };
        let get = |k: usize| index[k].and_then(|i| record.get(i)).unwrap_or("");
        let num = |k: usize| -> Result<Option<f64>, CsvError> {
            let s = get(k);
            if s.is_empty() {
                return Ok(None);
            }
            s.parse::<f64>()
                .map(Some)
                .map_err(|_| err(format!("`{}`: `{s}` is not a number", COLUMNS[k])))
        };
        let int = |k: usize| -> Result<Option<u64>, CsvError> {
            let s = get(k);
            if s.is_empty() {
                return Ok(None);
            }
            s.parse::<u64>().map(Some).map_err(|_| {
                err(format!(
                    "`{}`: `{s}` is not a non-negative integer",
                    COLUMNS[k]
                ))
            })
        };
        let defaults = TaskDef::default();
        let x = num(0)?.unwrap_or(f64::NAN);
        let y = num(1)?.unwrap_or(f64::NAN);
        let def = TaskDef {
            at: (x, y),
            skills: parse_list(get(2), "skills").map_err(err)?,
            workload: int(3)?.unwrap_or(defaults.workload),
            agents: match int(4)? {
                Some(a) => u32::try_from(a).map_err(|_| err("`agents`: too large".into()))?,
                None => defaults.agents,
            },
            release: int(5)?.unwrap_or(defaults.release),
            deadline: int(6)?,
            reward: num(7)?.unwrap_or(defaults.reward),
            after: parse_list(get(8), "after")
                .map_err(err)?
                .into_iter()
                .map(|r| first.saturating_add(r))
                .collect(),
        };
        rows.push(def);
    }
    let end = u64::from(first) + rows.len() as u64;
    let inside = |x: f64, y: f64| {
        x.is_finite() && y.is_finite() && (0.0..=width).contains(&x) && (0.0..=height).contains(&y)
    };
    let skill_ok = |s: u32| s < skills;
    let mut out = Vec::with_capacity(rows.len());
    for (row, def) in rows.iter().enumerate() {
        super::spec::check_def(def, u64::from(first), end, &skill_ok, &inside).map_err(
            |(field, m)| CsvError {
                line: row + 2,
                message: format!("`{field}`: {m}"),
            },
        )?;
        out.push(task_from_def(first + row as u32, def, def.after.clone()));
    }
    Ok(out)
}

/// A problem building the arrivals: the field path (relative to `tasks`), and for CSV files
/// the file and line.
pub(crate) struct BuildError {
    pub(crate) field: String,
    pub(crate) file: Option<(String, usize)>,
    pub(crate) message: String,
}

impl Arrivals {
    /// Reads CSV files (relative to `dir`), assigns ids to listed tasks and checks the
    /// precedence graph for cycles.
    pub(crate) fn build(
        spec: &TaskSpec,
        dir: Option<&Path>,
        width: f64,
        height: f64,
    ) -> Result<Arrivals, BuildError> {
        let mut listed = Vec::new();
        let mut sources = Vec::new();
        for (i, a) in spec.arrivals.iter().enumerate() {
            let first = listed.len() as u32;
            match a {
                Arrival::List(defs) => {
                    for (k, d) in defs.iter().enumerate() {
                        listed.push(task_from_def(first + k as u32, d, d.after.clone()));
                    }
                }
                Arrival::Csv(file) => {
                    let path = dir.map_or_else(|| Path::new(file).to_path_buf(), |d| d.join(file));
                    let text = std::fs::read_to_string(&path).map_err(|e| BuildError {
                        field: format!("arrivals[{i}]"),
                        file: None,
                        message: format!("cannot read `{}`: {e}", path.display()),
                    })?;
                    let rows =
                        parse_csv(&text, first, spec.skills, width, height).map_err(|e| {
                            BuildError {
                                field: format!("arrivals[{i}]"),
                                file: Some((path.display().to_string(), e.line)),
                                message: e.message,
                            }
                        })?;
                    listed.extend(rows);
                }
                Arrival::Poisson {
                    rate,
                    start,
                    end,
                    template,
                } => sources.push((
                    i as u32,
                    Source::Poisson {
                        rate: *rate,
                        start: *start,
                        end: *end,
                        template: template.clone(),
                    },
                )),
                Arrival::Bursts {
                    count,
                    at,
                    every,
                    start,
                    end,
                    template,
                } => {
                    let mut at = at.clone();
                    at.sort_unstable();
                    sources.push((
                        i as u32,
                        Source::Bursts {
                            count: *count,
                            at,
                            every: *every,
                            start: *start,
                            end: *end,
                            template: template.clone(),
                        },
                    ));
                }
            }
        }
        if let Some(cycle) = find_cycle(&listed) {
            return Err(BuildError {
                field: "arrivals".into(),
                file: None,
                message: format!(
                    "the precedence constraints (`after`) have a cycle through task {cycle}"
                ),
            });
        }
        let next_id = listed.len() as u32;
        // Stable: listed tasks with equal release keep their id order.
        listed.sort_by_key(|t| t.task.release);
        Ok(Arrivals {
            listed,
            cursor: 0,
            sources,
            next_id,
            skills: spec.skills,
        })
    }

    /// Every precedence edge among listed tasks, `(before, after)`.
    pub(crate) fn edges(&self) -> Vec<(u32, u32)> {
        let mut e: Vec<(u32, u32)> = self
            .listed
            .iter()
            .flat_map(|t| t.after.iter().map(move |&p| (p, t.task.id.0)))
            .collect();
        e.sort_unstable();
        e
    }

    /// Number of listed tasks (ids `0..listed`).
    pub(crate) fn listed_count(&self) -> u32 {
        self.listed.len() as u32
    }

    /// The tasks released at `tick`: listed ones first (by id), then each generator in
    /// scenario order.
    pub(crate) fn due(&mut self, tick: u64, rng: &SimRng, space: &Space, out: &mut Vec<NewTask>) {
        while let Some(t) = self.listed.get(self.cursor) {
            if t.task.release > tick {
                break;
            }
            // Listed releases before `tick` cannot be pending: arrivals are polled every tick
            // from 0.
            out.push(t.clone());
            self.cursor += 1;
        }
        for (index, source) in &self.sources {
            let (n, template) = match source {
                Source::Poisson {
                    rate,
                    start,
                    end,
                    template,
                } => {
                    if tick < *start || end.is_some_and(|e| tick >= e) {
                        continue;
                    }
                    let mut r = rng.global(*index, tick, Purpose::TASKS);
                    (poisson(&mut r, *rate), template)
                }
                Source::Bursts {
                    count,
                    at,
                    every,
                    start,
                    end,
                    template,
                } => {
                    let listed = at.iter().filter(|&&a| a == tick).count() as u64;
                    let periodic = every.is_some_and(|p| {
                        tick >= *start
                            && (tick - start).is_multiple_of(p)
                            && end.is_none_or(|e| tick < e)
                    });
                    let bursts = listed + u64::from(periodic);
                    if bursts == 0 {
                        continue;
                    }
                    (bursts * u64::from(*count), template)
                }
            };
            if n == 0 {
                continue;
            }
            // Task attributes come from a stream of their own per (source, tick), so the
            // count draws above never shift them.
            let mut r = rng.global(*index | ATTRIBUTE_CHANNELS, tick, Purpose::TASKS);
            for _ in 0..n {
                let id = self.next_id;
                self.next_id += 1;
                out.push(NewTask {
                    task: draw(id, tick, template, self.skills, space, &mut r),
                    after: Vec::new(),
                });
            }
        }
    }
}

/// A task id on a precedence cycle among listed tasks, if any.
fn find_cycle(listed: &[NewTask]) -> Option<u32> {
    let mut g = petgraph::graphmap::DiGraphMap::<u32, ()>::new();
    for t in listed {
        g.add_node(t.task.id.0);
        for &p in &t.after {
            g.add_edge(p, t.task.id.0, ());
        }
    }
    petgraph::algo::toposort(&g, None)
        .err()
        .map(|c| c.node_id())
}

/// A Poisson-distributed count. Large means are split into chunks of at most 16 (a sum of
/// independent Poisson variables is Poisson with the summed mean), so Knuth's product method
/// never underflows.
fn poisson(r: &mut AgentRng, mean: f64) -> u64 {
    let mut left = mean;
    let mut n = 0;
    while left > 0.0 {
        let m = left.min(16.0);
        left -= m;
        let limit = (-m).exp();
        let mut p = r.unit_f64();
        while p > limit {
            n += 1;
            p *= r.unit_f64();
        }
    }
    n
}

fn int(r: &mut AgentRng, d: IntDist) -> u64 {
    match d {
        IntDist::Fixed(v) => v,
        IntDist::Uniform(lo, hi) => lo + r.below(hi - lo + 1),
    }
}

fn float(r: &mut AgentRng, d: FloatDist) -> f64 {
    match d {
        FloatDist::Fixed(v) => v,
        FloatDist::Uniform(lo, hi) => lo + r.unit_f64() * (hi - lo),
    }
}

fn draw(
    id: u32,
    tick: u64,
    t: &TaskTemplate,
    skills: u32,
    space: &Space,
    r: &mut AgentRng,
) -> Task {
    let location = match &t.location {
        Placement::Uniform => DVec2::new(r.unit_f64() * space.width, r.unit_f64() * space.height),
        Placement::Point(x, y) => DVec2::new(*x, *y),
        Placement::Rect(x0, y0, x1, y1) => {
            DVec2::new(x0 + r.unit_f64() * (x1 - x0), y0 + r.unit_f64() * (y1 - y0))
        }
        Placement::Disc(x, y, rad) => {
            let (a, b) = (r.unit_f64(), r.unit_f64());
            let d = rad * a.sqrt();
            let ang = std::f64::consts::TAU * b;
            DVec2::new(x + d * ang.cos(), y + d * ang.sin())
        }
        Placement::Positions(pts) => {
            let (x, y) = pts[r.below(pts.len() as u64) as usize];
            DVec2::new(x, y)
        }
    };
    let location = space.wrap(location);
    let set = match &t.skills {
        SkillDraw::None => SkillSet::NONE,
        SkillDraw::Fixed(list) => SkillSet::from_skills(list.iter().copied()),
        SkillDraw::Random(k) => {
            // Partial Fisher-Yates over the skill numbers.
            let mut all: Vec<u32> = (0..skills).collect();
            for i in 0..*k as usize {
                let j = i + r.below((all.len() - i) as u64) as usize;
                all.swap(i, j);
            }
            SkillSet::from_skills(all[..*k as usize].iter().copied())
        }
    };
    let workload = int(r, t.workload);
    let agents = int(r, t.agents) as u32;
    let deadline = t.deadline.map(|d| tick + int(r, d));
    let reward = float(r, t.reward);
    Task {
        id: TaskId(id),
        location,
        skills: set,
        workload,
        agents,
        release: tick,
        deadline,
        reward,
        kind: set.lowest().unwrap_or(0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::space::{Boundary, Neighborhood, SpaceKind};

    fn space() -> Space {
        Space {
            kind: SpaceKind::Continuous,
            width: 100.0,
            height: 100.0,
            boundary: Boundary::Walls,
            neighborhood: Neighborhood::Moore,
        }
    }

    #[test]
    fn poisson_counts_have_the_right_mean_and_variance() {
        let rng = SimRng::new(4);
        for mean in [0.3, 2.5, 40.0] {
            let n = 20_000;
            let xs: Vec<f64> = (0..n)
                .map(|t| poisson(&mut rng.global(0, t, Purpose::TASKS), mean) as f64)
                .collect();
            let m = xs.iter().sum::<f64>() / n as f64;
            let v = xs.iter().map(|x| (x - m).powi(2)).sum::<f64>() / n as f64;
            let se = (mean / n as f64).sqrt();
            assert!((m - mean).abs() < 5.0 * se, "mean {m} vs {mean}");
            assert!((v / mean - 1.0).abs() < 0.1, "variance {v} vs {mean}");
        }
    }

    #[test]
    fn csv_rows_become_tasks_with_ids_and_checked_fields() {
        let text = "x,y,skills,workload,agents,release,deadline,reward,after\n\
                    1,2,0;2,5,1,0,,3.5,\n\
                    3,4,,2,2,7,20,1,0\n";
        let tasks =
            parse_csv(text, 10, 3, 100.0, 100.0).unwrap_or_else(|e| panic!("{}", e.message));
        assert_eq!(tasks.len(), 2);
        assert_eq!(tasks[0].task.id, TaskId(10));
        assert_eq!(tasks[0].task.skills, SkillSet(0b101));
        assert_eq!(tasks[0].task.reward, 3.5);
        assert_eq!(tasks[1].task.agents, 2);
        assert_eq!(tasks[1].task.deadline, Some(20));
        assert_eq!(tasks[1].after, vec![10]);
        let bad = parse_csv("x,y,skils\n1,1,0\n", 0, 3, 10.0, 10.0)
            .err()
            .unwrap();
        assert!(
            bad.message.contains("did you mean `skills`"),
            "{}",
            bad.message
        );
        let bad = parse_csv("x,y,skills\n1,1,0\n1,1,5\n", 0, 3, 10.0, 10.0)
            .err()
            .unwrap();
        assert_eq!(bad.line, 3);
        assert!(bad.message.contains("skill 5"), "{}", bad.message);
        let bad = parse_csv("x,y\n1,abc\n", 0, 3, 10.0, 10.0).err().unwrap();
        assert_eq!(bad.line, 2);
    }

    #[test]
    fn generated_tasks_are_a_function_of_seed_and_tick() {
        let spec = TaskSpec {
            skills: 3,
            arrivals: vec![
                Arrival::Poisson {
                    rate: 2.0,
                    start: 0,
                    end: None,
                    template: TaskTemplate {
                        skills: SkillDraw::Random(2),
                        workload: IntDist::Uniform(3, 9),
                        ..TaskTemplate::default()
                    },
                },
                Arrival::Bursts {
                    count: 3,
                    at: vec![5],
                    every: Some(10),
                    start: 0,
                    end: None,
                    template: TaskTemplate::default(),
                },
            ],
            expire: false,
        };
        let run = || {
            let mut a = Arrivals::build(&spec, None, 100.0, 100.0).ok().unwrap();
            let mut out = Vec::new();
            for t in 0..30 {
                a.due(t, &SimRng::new(9), &space(), &mut out);
            }
            out
        };
        let a = run();
        assert_eq!(a, run());
        let bursts = a.iter().filter(|t| t.task.workload == 10).count();
        assert_eq!(bursts, 3 * 4, "bursts at 0, 5, 10, 20");
        for (i, t) in a.iter().enumerate() {
            assert_eq!(t.task.id, TaskId(i as u32));
            if t.task.workload != 10 {
                assert_eq!(t.task.skills.0.count_ones(), 2);
                assert!((3..=9).contains(&t.task.workload));
            }
        }
    }

    #[test]
    fn precedence_cycles_are_found() {
        let def = |after: Vec<u32>| TaskDef {
            after,
            ..TaskDef::default()
        };
        let spec = TaskSpec {
            arrivals: vec![Arrival::List(vec![
                def(vec![2]),
                def(vec![0]),
                def(vec![1]),
            ])],
            ..TaskSpec::default()
        };
        let e = Arrivals::build(&spec, None, 10.0, 10.0).err().unwrap();
        assert!(e.message.contains("cycle"), "{}", e.message);
    }
}
