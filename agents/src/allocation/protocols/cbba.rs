//! `cbba`: the consensus-based bundle algorithm (Choi, Brunet & How 2009) over the message
//! bus, one consensus round per tick.
//!
//! Allocation runs in *epochs*: when none is running and there are open tasks, the workers
//! with room in their queues form the team and the open tasks (up to `max_tasks`, lowest ids)
//! the task list; every team member starts a [`CbbaAgent`]. Each tick every member applies
//! the consensus messages it received (Table 1 of the paper, with timestamps), rebuilds its
//! bundle, and broadcasts its winning bids, winners and timestamps to its neighbours on the
//! `comms` topology (`inform`). A member whose bids and winners have not changed for
//! `settle` rounds claims the tasks of its path, in path order. The epoch ends when every
//! member has claimed or after `max_rounds`; new tasks wait for the next epoch.
//!
//! Scores are time-discounted rewards, `reward * lambda^t` with `t` the arrival time along
//! the path at the team's slowest speed plus the workloads before it; with `Append`
//! insertion they have diminishing marginal gains, and the synchronous protocol then agrees
//! with sequential greedy in at most `min(N_t, L_t N_u) * D` rounds. `Synchronous` mode
//! applies only the messages of the previous round (the paper's synchronous rounds);
//! `Tolerant` applies every message whenever it arrives, relying on the timestamps, so
//! delayed, reordered or lost messages are absorbed by later broadcasts.

use super::messages::{AllocMsg, BidderQuery as Agents, ProtocolStats, point, sorted_ids};
use crate::allocation::cbba::{CbbaAgent, CbbaMessage, agents_agree};
use crate::allocation::common::{DEFAULT_DISTANCE_COST, Scoring, Valuation, install_monitor};
use crate::allocation::greedy::MarginalScore;
use crate::allocation::insertion::{InsertionPolicy, Point, RewardTask, TimeDiscountedReward};
use agora_engine::comms::{Header, Performative, Recipients};
use agora_engine::prelude::*;
use agora_engine::task::{SkillSet, TaskId, TaskStatus, Tasks};
use serde::{Deserialize, Serialize};

/// How consensus messages are applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum CbbaMode {
    /// Synchronous rounds: a round applies exactly the messages sent in the previous round;
    /// anything older is discarded (meant for `latency: Fixed(1)`).
    #[default]
    Synchronous,
    /// Delay- and loss-tolerant: every message is applied when it arrives; timestamps
    /// order the information.
    Tolerant,
}

/// Where a new task may go in a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum Insertion {
    /// At the end (diminishing marginal gains: CBBA's guarantees hold).
    #[default]
    Append,
    /// At the best position (as published; not diminishing in general).
    Best,
}

/// Scenario: `allocation: (protocol: "cbba", params: (bundle: 2, mode: Synchronous))`.
#[derive(Resource, Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Cbba {
    /// Bundle limit `L_t`: most tasks a worker bids for in an epoch, capped by the room in
    /// its queue (default 1).
    pub bundle: u32,
    /// Discount per tick of the time-discounted reward, in `(0, 1]` (default 0.95).
    pub lambda: f64,
    /// Where tasks are inserted into paths (default `Append`).
    pub insertion: Insertion,
    /// How messages are applied (default `Synchronous`).
    pub mode: CbbaMode,
    /// Rounds without change after which a worker claims its path (default 2).
    pub settle: u32,
    /// Rounds after which an epoch ends even without agreement (default 200).
    pub max_rounds: u32,
    /// Most tasks in one epoch, lowest ids first (default 100).
    pub max_tasks: u32,
    /// The objective the optimality gap is measured in (default `Distance`).
    pub scoring: Scoring,
    /// Reward lost per unit of distance under `Profit` scoring (default 0.01).
    pub distance_cost: f64,
}

impl Default for Cbba {
    fn default() -> Self {
        Cbba {
            bundle: 1,
            lambda: 0.95,
            insertion: Insertion::Append,
            mode: CbbaMode::Synchronous,
            settle: 2,
            max_rounds: 200,
            max_tasks: 100,
            scoring: Scoring::Distance,
            distance_cost: DEFAULT_DISTANCE_COST,
        }
    }
}

/// One finished (or running) epoch, for analysis and tests: the instance and its outcome.
#[derive(Debug, Clone, PartialEq)]
pub struct CbbaEpoch {
    /// Team members' agent ids, ascending (team index = position).
    pub team: Vec<u32>,
    /// Task ids, ascending (task index = position).
    pub tasks: Vec<u32>,
    /// Each member's start (position, or the end of its queue).
    pub starts: Vec<Point>,
    /// Each member's skills.
    pub skills: Vec<SkillSet>,
    /// Each member's bundle limit.
    pub limits: Vec<usize>,
    /// The scored tasks.
    pub reward_tasks: Vec<RewardTask>,
    /// Skills each task needs.
    pub task_skills: Vec<SkillSet>,
    /// Travel speed the scores assume.
    pub speed: f64,
    /// Consensus rounds until every member held the same winners and bids and no bundle
    /// could grow (`None`: not reached).
    pub rounds: Option<u32>,
    /// Per task, the team index of the agreed winner at that point.
    pub winners: Vec<Option<usize>>,
    /// Whether, at agreement, no task was in two bundles.
    pub conflict_free: bool,
}

/// Every epoch of the run, in order.
#[derive(Resource, Debug, Default, Clone)]
pub struct CbbaLog {
    /// The epochs.
    pub epochs: Vec<CbbaEpoch>,
}

struct Running {
    id: u32,
    round: u32,
    scorer: TimeDiscountedReward,
    agents: Vec<CbbaAgent>,
    stable: Vec<u32>,
    claimed: Vec<bool>,
    msg: CbbaMessage,
}

#[derive(Resource, Default)]
struct State {
    epochs: u32,
    running: Option<Running>,
    ids: Vec<(u32, Entity)>,
}

impl Mechanism for Cbba {
    const SECTION: Section = Section::Allocation;
    const NAME: &'static str = "cbba";
    const SUMMARY: &'static str =
        "Consensus-based bundle algorithm: bundles, then consensus over the comms topology.";

    fn build(sim: &mut SimBuilder) {
        let p = sim.world().resource::<Cbba>();
        let valuation = Valuation::new(p.scoring, p.distance_cost);
        sim.messaging::<AllocMsg>("worker");
        sim.init_resource::<State>();
        sim.init_resource::<CbbaLog>();
        sim.init_resource::<ProtocolStats>();
        sim.add_systems(Phase::Decide, decide);
        install_monitor(sim, valuation);
    }

    fn validate(&self, _: &ValidateCtx) -> Result<(), String> {
        if self.bundle == 0 || self.max_tasks == 0 || self.max_rounds == 0 {
            return Err("`bundle`, `max_tasks` and `max_rounds` must be at least 1".into());
        }
        if !(self.lambda > 0.0 && self.lambda <= 1.0) {
            return Err(format!("`lambda` must be in (0, 1], got {}", self.lambda));
        }
        Valuation::new(self.scoring, self.distance_cost).validate()
    }
}

/// The epoch's score: time-discounted reward, for workers that have the task's skills.
struct Scorer<'a> {
    inner: &'a mut TimeDiscountedReward,
    skills: &'a [SkillSet],
    needs: &'a [SkillSet],
}

impl MarginalScore for Scorer<'_> {
    fn marginal(
        &mut self,
        agent: usize,
        path: &[usize],
        task: usize,
    ) -> Option<crate::allocation::greedy::Marginal> {
        if !self.skills.get(agent)?.covers(*self.needs.get(task)?) {
            return None;
        }
        self.inner.marginal(agent, path, task)
    }
}

impl CbbaEpoch {
    /// The epoch's scoring function, as every member used it.
    pub fn scorer(&self, lambda: f64, insertion: Insertion) -> Option<impl MarginalScore + '_> {
        let policy = match insertion {
            Insertion::Append => InsertionPolicy::Append,
            Insertion::Best => InsertionPolicy::Best,
        };
        let tdr = TimeDiscountedReward::new(
            self.starts.clone(),
            self.reward_tasks.clone(),
            lambda,
            self.speed,
            policy,
        )
        .ok()?;
        Some(OwnedScorer {
            inner: tdr,
            skills: &self.skills,
            needs: &self.task_skills,
        })
    }
}

struct OwnedScorer<'a> {
    inner: TimeDiscountedReward,
    skills: &'a [SkillSet],
    needs: &'a [SkillSet],
}

impl MarginalScore for OwnedScorer<'_> {
    fn marginal(
        &mut self,
        agent: usize,
        path: &[usize],
        task: usize,
    ) -> Option<crate::allocation::greedy::Marginal> {
        Scorer {
            inner: &mut self.inner,
            skills: self.skills,
            needs: self.needs,
        }
        .marginal(agent, path, task)
    }
}

fn decide(
    params: Res<Cbba>,
    tick: Res<Tick>,
    tasks: Tasks,
    mut state: ResMut<State>,
    mut log: ResMut<CbbaLog>,
    mut stats: ResMut<ProtocolStats>,
    mut q: Agents,
) {
    let now = tick.0;
    let p = &*params;
    let st = &mut *state;
    sorted_ids(q.iter().map(|(e, id, ..)| (e, id)), &mut st.ids);
    if st.running.is_none() {
        start_epoch(p, &tasks, st, &mut log, &q);
    }
    let Some(run) = st.running.as_mut() else {
        return;
    };
    let epoch = log.epochs.last_mut().expect("an epoch is running");
    run.round += 1;
    let Running {
        id,
        round,
        scorer,
        agents,
        stable,
        claimed,
        msg,
    } = run;
    let mut score = Scorer {
        inner: scorer,
        skills: &epoch.skills,
        needs: &epoch.task_skills,
    };
    for (i, &agent) in epoch.team.iter().enumerate() {
        let Ok(k) = st.ids.binary_search_by_key(&agent, |x| x.0) else {
            continue;
        };
        let Ok((_, _, _, _, mut intents, mut inbox, mut outbox)) = q.get_mut(st.ids[k].1) else {
            continue;
        };
        let mut changed = false;
        for env in inbox.drain() {
            let AllocMsg::Consensus {
                epoch: e,
                sent_at,
                y,
                z,
                s,
            } = env.payload
            else {
                continue;
            };
            if e != *id {
                continue;
            }
            if p.mode == CbbaMode::Synchronous && env.sent + 1 != now {
                continue;
            }
            let Ok(sender) = epoch.team.binary_search(&env.id.sender) else {
                continue;
            };
            msg.sender = sender;
            msg.sent_at = sent_at;
            msg.y = y;
            msg.z.clear();
            msg.z.extend(z.iter().map(|&w| usize::try_from(w).ok()));
            msg.s = s;
            if let Ok(crate::allocation::cbba::Received::Applied { changed: c }) =
                agents[i].receive(msg)
            {
                changed |= c;
            }
        }
        let before = agents[i].bundle().len();
        if agents[i].build_bundle(&mut score).unwrap_or(0) > 0 || agents[i].bundle().len() != before
        {
            changed = true;
        }
        stable[i] = if changed { 0 } else { stable[i] + 1 };
        agents[i].write_outgoing(now as f64, msg);
        outbox.send(
            Recipients::Broadcast,
            Header::new(Performative::Inform),
            AllocMsg::Consensus {
                epoch: *id,
                sent_at: msg.sent_at,
                y: msg.y.clone(),
                z: msg.z.iter().map(|w| w.map_or(-1, |w| w as i32)).collect(),
                s: msg.s.clone(),
            },
        );
        if !claimed[i] && (stable[i] >= p.settle || *round >= p.max_rounds) {
            claimed[i] = true;
            for &j in agents[i].path() {
                let task = TaskId(epoch.tasks[j]);
                if tasks
                    .get(task)
                    .is_some_and(|(_, s)| s.status == TaskStatus::Open)
                {
                    intents.claim(task);
                }
            }
        }
    }
    if epoch.rounds.is_none() && agents_agree(agents) && !can_grow(agents, &mut score) {
        epoch.rounds = Some(*round - 1);
        stats.rounds.push(u64::from(*round - 1));
        epoch.winners = agents[0].winners().to_vec();
        let mut seen = vec![false; epoch.tasks.len()];
        epoch.conflict_free = agents.iter().all(|a| {
            a.bundle()
                .iter()
                .all(|&j| !std::mem::replace(&mut seen[j], true))
        });
    }
    let all_claimed = epoch
        .team
        .iter()
        .zip(claimed.iter())
        .all(|(a, &c)| c || st.ids.binary_search_by_key(a, |x| x.0).is_err());
    if all_claimed || *round >= p.max_rounds {
        if epoch.rounds.is_none() {
            stats.unconverged += 1;
        }
        st.running = None;
    }
}

/// Whether some member could still add a task to its bundle.
fn can_grow(agents: &[CbbaAgent], score: &mut impl MarginalScore) -> bool {
    agents.iter().any(|a| {
        a.bundle().len() < a.max_bundle()
            && (0..a.num_tasks()).any(|j| {
                !a.bundle().contains(&j)
                    && score.marginal(a.id(), a.path(), j).is_some_and(|m| {
                        m.gain > 0.0
                            && match a.winners()[j] {
                                Some(w) => {
                                    m.gain > a.winning_bids()[j]
                                        || (m.gain == a.winning_bids()[j] && a.id() < w)
                                }
                                None => m.gain > a.winning_bids()[j],
                            }
                    })
            })
    })
}

fn start_epoch(p: &Cbba, tasks: &Tasks, st: &mut State, log: &mut CbbaLog, q: &Agents) {
    let open: Vec<(u32, Point, f64, f64, SkillSet)> = tasks
        .open()
        .filter(|(t, s)| s.free_places(t) > 0)
        .take(p.max_tasks as usize)
        .map(|(t, _)| {
            (
                t.id.0,
                point(t.location),
                t.reward,
                t.workload as f64,
                t.skills,
            )
        })
        .collect();
    if open.is_empty() {
        return;
    }
    let mut team = Vec::new();
    let mut starts = Vec::new();
    let mut skills = Vec::new();
    let mut limits = Vec::new();
    let mut speed = f64::INFINITY;
    for &(agent, e) in &st.ids {
        let Ok((_, _, w, pos, ..)) = q.get(e) else {
            continue;
        };
        let room = w.capacity.saturating_sub(w.queue().len() as u32);
        if room == 0 {
            continue;
        }
        let start = w
            .queue()
            .last()
            .and_then(|&t| tasks.get(t))
            .map_or(pos.0, |(t, _)| t.location);
        team.push(agent);
        starts.push(point(start));
        skills.push(w.skills);
        limits.push(room.min(p.bundle) as usize);
        speed = speed.min(w.speed);
    }
    if team.is_empty() {
        return;
    }
    let policy = match p.insertion {
        Insertion::Append => InsertionPolicy::Append,
        Insertion::Best => InsertionPolicy::Best,
    };
    let reward_tasks: Vec<RewardTask> = open
        .iter()
        .map(|&(_, at, reward, duration, _)| RewardTask {
            location: at,
            reward,
            duration,
        })
        .collect();
    let Ok(scorer) = TimeDiscountedReward::new(
        starts.clone(),
        reward_tasks.clone(),
        p.lambda,
        speed,
        policy,
    ) else {
        return;
    };
    let n = team.len();
    let agents: Vec<CbbaAgent> = limits
        .iter()
        .enumerate()
        .filter_map(|(i, &l)| CbbaAgent::new(i, n, open.len(), l).ok())
        .collect();
    st.epochs += 1;
    log.epochs.push(CbbaEpoch {
        team,
        tasks: open.iter().map(|o| o.0).collect(),
        starts,
        skills,
        limits,
        reward_tasks,
        task_skills: open.iter().map(|o| o.4).collect(),
        speed,
        rounds: None,
        winners: Vec::new(),
        conflict_free: false,
    });
    st.running = Some(Running {
        id: st.epochs,
        round: 0,
        scorer,
        agents,
        stable: vec![0; n],
        claimed: vec![false; n],
        msg: CbbaMessage::default(),
    });
}
