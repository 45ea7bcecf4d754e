//! Path-cost helpers for routing auctions on the Euclidean plane: open-path cost, cheapest
//! insertion, MiniSum / MiniMax bids, and CBBA's time-discounted reward score.

use super::greedy::{Marginal, MarginalScore};
use thiserror::Error;

/// A point on the plane.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Point {
    /// Horizontal coordinate. Default 0.
    pub x: f64,
    /// Vertical coordinate. Default 0.
    pub y: f64,
}

impl Point {
    /// A point at `(x, y)`.
    pub const fn new(x: f64, y: f64) -> Self {
        Self { x, y }
    }

    /// Euclidean distance to `other`.
    pub fn dist(self, other: Point) -> f64 {
        (self.x - other.x).hypot(self.y - other.y)
    }

    /// Whether both coordinates are finite.
    pub fn is_finite(self) -> bool {
        self.x.is_finite() && self.y.is_finite()
    }
}

/// Length of the open path `start → path[0] → … → path[last]` (no return to start).
pub fn path_cost(start: Point, path: &[Point]) -> f64 {
    let mut cost = 0.0;
    let mut at = start;
    for &p in path {
        cost += at.dist(p);
        at = p;
    }
    cost
}

/// Where a new point goes in a path and what it adds to the path's length.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Insertion {
    /// Index in `0..=path.len()` at which the point is inserted.
    pub position: usize,
    /// Increase in open-path length.
    pub marginal_cost: f64,
}

/// Cheapest insertion of `new` into the open path from `start`; ties go to the lowest index.
pub fn best_insertion(start: Point, path: &[Point], new: Point) -> Insertion {
    let mut best = Insertion {
        position: path.len(),
        marginal_cost: path.last().copied().unwrap_or(start).dist(new),
    };
    let mut prev = start;
    for (n, &next) in path.iter().enumerate() {
        let cost = prev.dist(new) + new.dist(next) - prev.dist(next);
        // The running best starts at the end slot, so ties need the explicit index test.
        if cost < best.marginal_cost || (cost == best.marginal_cost && n < best.position) {
            best = Insertion {
                position: n,
                marginal_cost: cost,
            };
        }
        prev = next;
    }
    best
}

/// A routing-auction bid: the value submitted and where the task would be inserted.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RouteBid {
    /// The bid (lower wins).
    pub value: f64,
    /// Insertion index the bid assumes.
    pub position: usize,
}

/// MiniSum bid (BidSumPath): the marginal path cost of inserting `new`.
pub fn minisum_bid(start: Point, path: &[Point], new: Point) -> RouteBid {
    let ins = best_insertion(start, path, new);
    RouteBid {
        value: ins.marginal_cost,
        position: ins.position,
    }
}

/// MiniMax bid (BidMaxPath): the path cost after inserting `new` at its cheapest position.
pub fn minimax_bid(start: Point, path: &[Point], new: Point) -> RouteBid {
    let ins = best_insertion(start, path, new);
    RouteBid {
        value: path_cost(start, path) + ins.marginal_cost,
        position: ins.position,
    }
}

/// A task for the time-discounted reward score.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RewardTask {
    /// Where the task is.
    pub location: Point,
    /// Reward for doing it at time 0; must be finite and non-negative.
    pub reward: f64,
    /// Time spent working on it once there (delays later tasks); default 0 in [`RewardTask::at`].
    pub duration: f64,
}

impl RewardTask {
    /// A task at `location` with `reward` and no work duration.
    pub const fn at(location: Point, reward: f64) -> Self {
        Self {
            location,
            reward,
            duration: 0.0,
        }
    }
}

/// Where a new task may go in an agent's path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum InsertionPolicy {
    /// Anywhere (CBBA as published). Not diminishing-marginal-gain in general: a new task
    /// next to an off-route one can make that one cheap to insert.
    #[default]
    Best,
    /// Only at the end. Provably diminishing-marginal-gain (triangle inequality, λ ≤ 1,
    /// non-negative durations), so CBBA converges to the SGA solution.
    Append,
}

/// Errors from building a [`TimeDiscountedReward`].
#[derive(Debug, Clone, PartialEq, Error)]
#[non_exhaustive]
pub enum InsertionError {
    /// The discount factor is outside `(0, 1]`.
    #[error("discount factor {0} is outside (0, 1]")]
    BadDiscount(f64),
    /// The speed is not finite and positive.
    #[error("speed {0} is not a finite positive number")]
    BadSpeed(f64),
    /// An agent start has a non-finite coordinate.
    #[error("agent {0} start position is not finite")]
    BadStart(usize),
    /// A task has a non-finite location, or a negative or non-finite reward or duration.
    #[error(
        "task {0} is invalid, expected a finite location and finite non-negative reward and duration"
    )]
    BadTask(usize),
}

/// CBBA's time-discounted reward: a path scores `Σ_j R_j · λ^{t_j}`, where `t_j` is the
/// arrival time at task `j`: path distance so far / speed + durations of earlier tasks.
#[derive(Debug, Clone)]
pub struct TimeDiscountedReward {
    starts: Vec<Point>,
    tasks: Vec<RewardTask>,
    lambda: f64,
    speed: f64,
    policy: InsertionPolicy,
    arrival: Vec<f64>,
    suffix: Vec<f64>,
}

impl TimeDiscountedReward {
    /// A scorer for agents starting at `starts` (indexed by agent id) over `tasks`, with
    /// discount `lambda` in `(0, 1]` per time unit and travel `speed` > 0.
    pub fn new(
        starts: Vec<Point>,
        tasks: Vec<RewardTask>,
        lambda: f64,
        speed: f64,
        policy: InsertionPolicy,
    ) -> Result<Self, InsertionError> {
        if !(lambda > 0.0 && lambda <= 1.0) {
            return Err(InsertionError::BadDiscount(lambda));
        }
        if !(speed.is_finite() && speed > 0.0) {
            return Err(InsertionError::BadSpeed(speed));
        }
        if let Some(a) = starts.iter().position(|p| !p.is_finite()) {
            return Err(InsertionError::BadStart(a));
        }
        let ok = |t: &RewardTask| {
            t.location.is_finite()
                && t.reward.is_finite()
                && t.reward >= 0.0
                && t.duration.is_finite()
                && t.duration >= 0.0
        };
        if let Some(j) = tasks.iter().position(|t| !ok(t)) {
            return Err(InsertionError::BadTask(j));
        }
        Ok(Self {
            starts,
            tasks,
            lambda,
            speed,
            policy,
            arrival: Vec::new(),
            suffix: Vec::new(),
        })
    }

    /// Number of agents.
    pub fn num_agents(&self) -> usize {
        self.starts.len()
    }

    /// Number of tasks.
    pub fn num_tasks(&self) -> usize {
        self.tasks.len()
    }

    /// The score of `agent` executing `path` in order, or `None` if an index is out of range.
    pub fn path_score(&self, agent: usize, path: &[usize]) -> Option<f64> {
        let mut at = *self.starts.get(agent)?;
        let mut t = 0.0;
        let mut score = 0.0;
        for &j in path {
            let task = self.tasks.get(j)?;
            t += at.dist(task.location) / self.speed;
            score += task.reward * self.lambda.powf(t);
            t += task.duration;
            at = task.location;
        }
        Some(score)
    }

    /// Fills `arrival[k]` (arrival time at `path[k]`) and `suffix[k]` (discounted reward of
    /// `path[k..]`); `None` on a bad index.
    fn prepare(&mut self, agent: usize, path: &[usize]) -> Option<Point> {
        let start = *self.starts.get(agent)?;
        self.arrival.clear();
        self.suffix.clear();
        let mut at = start;
        let mut t = 0.0;
        for &j in path {
            let task = self.tasks.get(j)?;
            t += at.dist(task.location) / self.speed;
            self.arrival.push(t);
            t += task.duration;
            at = task.location;
        }
        self.suffix.resize(path.len() + 1, 0.0);
        for k in (0..path.len()).rev() {
            let task = &self.tasks[path[k]];
            self.suffix[k] = self.suffix[k + 1] + task.reward * self.lambda.powf(self.arrival[k]);
        }
        Some(start)
    }
}

impl MarginalScore for TimeDiscountedReward {
    /// Best insertion of `task` by score gain (ties: lowest index). Inserting at index `n`
    /// delays every later task by the same δ, so their loss is `suffix[n] · (1 − λ^δ)`.
    fn marginal(&mut self, agent: usize, path: &[usize], task: usize) -> Option<Marginal> {
        let new = *self.tasks.get(task)?;
        if path.contains(&task) {
            return None;
        }
        let start = self.prepare(agent, path)?;
        let len = path.len();
        let done = |k: usize| self.arrival[k] + self.tasks[path[k]].duration;
        let (prev_loc, prev_done) = match len {
            0 => (start, 0.0),
            _ => (self.tasks[path[len - 1]].location, done(len - 1)),
        };
        let reward_at = |t: f64| new.reward * self.lambda.powf(t);
        let mut best = Marginal {
            gain: reward_at(prev_done + prev_loc.dist(new.location) / self.speed),
            position: len,
        };
        if self.policy == InsertionPolicy::Append {
            return Some(best);
        }
        let mut prev_loc = start;
        let mut prev_done = 0.0;
        for (n, &next_id) in path.iter().enumerate() {
            let next = &self.tasks[next_id];
            let arrive = prev_done + prev_loc.dist(new.location) / self.speed;
            let next_arrive = arrive + new.duration + new.location.dist(next.location) / self.speed;
            let delay = (next_arrive - self.arrival[n]).max(0.0);
            let gain = reward_at(arrive) - self.suffix[n] * (1.0 - self.lambda.powf(delay));
            if gain > best.gain || (gain == best.gain && n < best.position) {
                best = Marginal { gain, position: n };
            }
            prev_loc = next.location;
            prev_done = done(n);
        }
        Some(best)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const O: Point = Point::new(0.0, 0.0);

    #[test]
    fn path_cost_and_insertion_hand_computed() {
        let path = [Point::new(3.0, 4.0), Point::new(3.0, 0.0)];
        assert_eq!(path_cost(O, &path), 9.0);
        assert_eq!(path_cost(O, &[]), 0.0);
        // (3,2) lies on the segment between the two path points: free to insert there.
        let ins = best_insertion(O, &path, Point::new(3.0, 2.0));
        assert_eq!(ins.position, 1);
        assert_eq!(ins.marginal_cost, 0.0);
        // Appending (6,0) costs 3; inserting first costs 6 + 5 - 5 = 6.
        let ins = best_insertion(O, &path, Point::new(6.0, 0.0));
        assert_eq!(
            ins,
            Insertion {
                position: 2,
                marginal_cost: 3.0
            }
        );
        let sum = minisum_bid(O, &path, Point::new(6.0, 0.0));
        assert_eq!(sum.value, 3.0);
        let max = minimax_bid(O, &path, Point::new(6.0, 0.0));
        assert_eq!(max.value, 12.0);
        assert_eq!(
            best_insertion(O, &[], Point::new(0.0, 2.0)).marginal_cost,
            2.0
        );
    }

    #[test]
    fn insertion_ties_take_the_lowest_index() {
        // Every slot costs 0 here; the first one must win.
        let path = [O, O];
        assert_eq!(best_insertion(O, &path, O).position, 0);
    }

    fn arb_point() -> impl Strategy<Value = Point> {
        (-10.0f64..10.0, -10.0f64..10.0).prop_map(|(x, y)| Point::new(x, y))
    }

    proptest! {
        #[test]
        fn best_insertion_matches_exhaustive(
            path in proptest::collection::vec(arb_point(), 0..6),
            new in arb_point(),
        ) {
            let ins = best_insertion(O, &path, new);
            let base = path_cost(O, &path);
            let mut best = f64::INFINITY;
            for n in 0..=path.len() {
                let mut p = path.clone();
                p.insert(n, new);
                best = best.min(path_cost(O, &p) - base);
            }
            prop_assert!((ins.marginal_cost - best).abs() < 1e-9);
            let mut p = path.clone();
            p.insert(ins.position, new);
            prop_assert!((path_cost(O, &p) - base - ins.marginal_cost).abs() < 1e-9);
        }

        #[test]
        fn reward_marginal_matches_exhaustive(
            locs in proptest::collection::vec((arb_point(), 0.5f64..5.0, 0.0f64..2.0), 1..6),
            lambda in 0.8f64..1.0,
            append in any::<bool>(),
        ) {
            let tasks: Vec<RewardTask> = locs.iter()
                .map(|&(location, reward, duration)| RewardTask { location, reward, duration })
                .collect();
            let policy = if append { InsertionPolicy::Append } else { InsertionPolicy::Best };
            let mut s = TimeDiscountedReward::new(vec![O], tasks, lambda, 1.5, policy).unwrap();
            let n = s.num_tasks();
            let path: Vec<usize> = (0..n - 1).collect();
            let new = n - 1;
            let m = s.marginal(0, &path, new).unwrap();
            let base = s.path_score(0, &path).unwrap();
            let positions: Vec<usize> = if append { vec![path.len()] } else { (0..=path.len()).collect() };
            let best = positions.iter().map(|&k| {
                let mut p = path.clone();
                p.insert(k, new);
                s.path_score(0, &p).unwrap() - base
            }).fold(f64::NEG_INFINITY, f64::max);
            prop_assert!((m.gain - best).abs() < 1e-9, "gain {} vs exhaustive {}", m.gain, best);
            let mut p = path.clone();
            p.insert(m.position, new);
            prop_assert!((s.path_score(0, &p).unwrap() - base - m.gain).abs() < 1e-9);
        }

        /// Append-only scores have diminishing marginal gains: adding any task to the path
        /// never raises another task's gain.
        #[test]
        fn append_policy_is_dmg(
            locs in proptest::collection::vec((arb_point(), 0.5f64..5.0, 0.0f64..2.0), 3..7),
            lambda in 0.5f64..1.0,
        ) {
            let tasks: Vec<RewardTask> = locs.iter()
                .map(|&(location, reward, duration)| RewardTask { location, reward, duration })
                .collect();
            let n = tasks.len();
            let mut s = TimeDiscountedReward::new(vec![O], tasks, lambda, 1.0, InsertionPolicy::Append).unwrap();
            let j = n - 1;
            let mut path = Vec::new();
            let mut prev = s.marginal(0, &path, j).unwrap().gain;
            for k in 0..n - 1 {
                path.push(k);
                let next = s.marginal(0, &path, j).unwrap().gain;
                prop_assert!(next <= prev + 1e-12);
                prev = next;
            }
        }
    }

    #[test]
    fn best_insertion_policy_is_not_dmg() {
        // Path [a, b] along the x-axis; task j sits far above a. Alone it is expensive to
        // fit in. Once task k (at j's location, inserted between a and b) is held, j rides
        // along for free, so j's marginal gain rises: the score is not DMG.
        let a = RewardTask::at(Point::new(1.0, 0.0), 1.0);
        let b = RewardTask::at(Point::new(2.0, 0.0), 10.0);
        let k = RewardTask::at(Point::new(1.0, 3.0), 100.0);
        let j = RewardTask::at(Point::new(1.0, 3.0), 1.0);
        let mut s =
            TimeDiscountedReward::new(vec![O], vec![a, b, k, j], 0.9, 1.0, InsertionPolicy::Best)
                .unwrap();
        let without = s.marginal(0, &[0, 1], 3).unwrap();
        let with_k = s.marginal(0, &[0, 2, 1], 3).unwrap();
        assert!(with_k.gain > without.gain, "{with_k:?} vs {without:?}");
        let mut append = TimeDiscountedReward {
            policy: InsertionPolicy::Append,
            ..s
        };
        let without = append.marginal(0, &[0, 1], 3).unwrap();
        let with_k = append.marginal(0, &[0, 1, 2], 3).unwrap();
        assert!(with_k.gain <= without.gain);
    }

    #[test]
    fn reward_hand_computed() {
        // One task 2 away at speed 1, λ = 0.5: 8 · 0.5² = 2.
        let t = RewardTask::at(Point::new(2.0, 0.0), 8.0);
        let mut s =
            TimeDiscountedReward::new(vec![O], vec![t], 0.5, 1.0, InsertionPolicy::Best).unwrap();
        assert_eq!(
            s.marginal(0, &[], 0),
            Some(Marginal {
                gain: 2.0,
                position: 0
            })
        );
        assert_eq!(s.marginal(0, &[0], 0), None);
        assert_eq!(s.marginal(1, &[], 0), None);
        assert_eq!(s.marginal(0, &[], 1), None);
        // Duration delays a second task: both at (2,0), durations 1: arrival 2 then 3.
        let t = RewardTask { duration: 1.0, ..t };
        let s = TimeDiscountedReward::new(vec![O], vec![t, t], 0.5, 1.0, InsertionPolicy::Best)
            .unwrap();
        assert_eq!(s.path_score(0, &[0, 1]), Some(2.0 + 1.0));
    }

    #[test]
    fn reward_rejects_bad_parameters() {
        let t = RewardTask::at(O, 1.0);
        let mk = |lambda, speed, starts: Vec<Point>, tasks: Vec<RewardTask>| {
            TimeDiscountedReward::new(starts, tasks, lambda, speed, InsertionPolicy::Best).err()
        };
        assert_eq!(
            mk(0.0, 1.0, vec![O], vec![t]),
            Some(InsertionError::BadDiscount(0.0))
        );
        assert_eq!(
            mk(1.5, 1.0, vec![O], vec![t]),
            Some(InsertionError::BadDiscount(1.5))
        );
        assert_eq!(
            mk(0.9, 0.0, vec![O], vec![t]),
            Some(InsertionError::BadSpeed(0.0))
        );
        assert_eq!(
            mk(0.9, 1.0, vec![Point::new(f64::NAN, 0.0)], vec![t]),
            Some(InsertionError::BadStart(0))
        );
        let neg = RewardTask::at(O, -1.0);
        assert_eq!(
            mk(0.9, 1.0, vec![O], vec![t, neg]),
            Some(InsertionError::BadTask(1))
        );
    }
}
