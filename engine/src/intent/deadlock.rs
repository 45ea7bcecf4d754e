//! The wait-for graph, its deadlocks (cycles of waiting agents) and their tracking over ticks.
//!
//! An edge `waiter -> holder` says that `waiter` waits for something `holder` has (a cell, a
//! resource unit, a task slot, the right of way). A deadlock is a strongly connected component
//! of two or more agents, or an agent waiting for itself.
//!
//! The graph is rebuilt every tick. Most waiting agents sit in queues that end at an agent
//! that is not waiting (trees feeding into a sink) or feed into a cycle from outside; neither
//! can be on a cycle, so they are trimmed first (repeatedly removing agents nobody waits for
//! and agents waiting for no one) and the strongly connected components are computed with
//! petgraph only on what remains, which is small. Kosaraju's algorithm is used because it is
//! iterative: petgraph's Tarjan recurses once per agent along a chain.

use petgraph::Graph;
use petgraph::algo::kosaraju_scc;
use serde::Serialize;
use std::collections::BTreeMap;

/// The members of one deadlock, in ascending id order (never empty).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct Deadlock {
    members: Vec<u32>,
}

impl Deadlock {
    /// A deadlock among `members` (sorted and deduplicated here); `None` when empty.
    pub fn new(mut members: Vec<u32>) -> Option<Deadlock> {
        if members.is_empty() {
            return None;
        }
        members.sort_unstable();
        members.dedup();
        Some(Deadlock { members })
    }

    /// Member ids, ascending.
    pub fn members(&self) -> &[u32] {
        &self.members
    }

    /// Number of members.
    pub fn size(&self) -> usize {
        self.members.len()
    }

    /// The youngest member: the highest id, since ids are assigned in spawn order.
    pub fn youngest(&self) -> u32 {
        self.members.last().copied().unwrap_or_default()
    }

    /// The member with the lowest `priority`, ties to the lowest id.
    pub fn lowest_priority(&self, mut priority: impl FnMut(u32) -> f64) -> u32 {
        let mut best: Option<(f64, u32)> = None;
        for &agent in &self.members {
            let p = priority(agent);
            // Ascending ids and a strict comparison keep the lowest id among equals.
            if best.is_none_or(|(bp, _)| p.total_cmp(&bp).is_lt()) {
                best = Some((p, agent));
            }
        }
        best.map_or_else(|| self.youngest(), |(_, a)| a)
    }
}

/// A wait-for graph, rebuilt each tick from `(waiter, holder)` pairs. Buffers keep their
/// capacity between rebuilds.
#[derive(Debug, Clone, Default)]
pub struct WaitForGraph {
    edges: Vec<(u32, u32)>,
    nodes: Vec<u32>,
    out_start: Vec<u32>,
    out: Vec<u32>,
    in_start: Vec<u32>,
    inc: Vec<u32>,
    out_deg: Vec<u32>,
    in_deg: Vec<u32>,
    removed: Vec<bool>,
    stack: Vec<u32>,
    core: Graph<u32, ()>,
    core_index: Vec<u32>,
}

impl WaitForGraph {
    /// An empty graph.
    pub fn new() -> WaitForGraph {
        WaitForGraph::default()
    }

    /// Removes every wait.
    pub fn clear(&mut self) {
        self.edges.clear();
    }

    /// Records that `waiter` waits for `holder` (repeated pairs count once).
    pub fn add_wait(&mut self, waiter: u32, holder: u32) {
        self.edges.push((waiter, holder));
    }

    /// Replaces the waits with `waits`, `(waiter, holder)` pairs.
    pub fn rebuild(&mut self, waits: impl IntoIterator<Item = (u32, u32)>) {
        self.clear();
        for (w, h) in waits {
            self.add_wait(w, h);
        }
    }

    /// Number of distinct waits (after [`WaitForGraph::deadlocks`] has deduplicated them).
    pub fn wait_count(&self) -> usize {
        self.edges.len()
    }

    /// Every deadlock, sorted by member list (so by lowest member, as deadlocks are
    /// disjoint); the result does not depend on the order the waits were added in.
    pub fn deadlocks(&mut self) -> Vec<Deadlock> {
        let mut out = Vec::new();
        self.deadlocks_into(&mut out);
        out
    }

    /// [`WaitForGraph::deadlocks`] into a caller's buffer (cleared first).
    pub fn deadlocks_into(&mut self, out: &mut Vec<Deadlock>) {
        out.clear();
        self.edges.sort_unstable();
        self.edges.dedup();
        if self.edges.is_empty() {
            return;
        }
        self.nodes.clear();
        self.nodes
            .extend(self.edges.iter().flat_map(|&(a, b)| [a, b]));
        self.nodes.sort_unstable();
        self.nodes.dedup();
        let n = self.nodes.len();
        let idx = |nodes: &[u32], a: u32| nodes.binary_search(&a).unwrap_or(0) as u32;

        // Forward and reverse adjacency in CSR form.
        self.out_deg.clear();
        self.out_deg.resize(n, 0);
        self.in_deg.clear();
        self.in_deg.resize(n, 0);
        for &(a, b) in &self.edges {
            self.out_deg[idx(&self.nodes, a) as usize] += 1;
            self.in_deg[idx(&self.nodes, b) as usize] += 1;
        }
        prefix(&self.out_deg, &mut self.out_start);
        prefix(&self.in_deg, &mut self.in_start);
        self.out.clear();
        self.out.resize(self.edges.len(), 0);
        self.inc.clear();
        self.inc.resize(self.edges.len(), 0);
        {
            let mut fill_out = self.out_start.clone();
            let mut fill_in = self.in_start.clone();
            for &(a, b) in &self.edges {
                let (ia, ib) = (idx(&self.nodes, a), idx(&self.nodes, b));
                self.out[fill_out[ia as usize] as usize] = ib;
                fill_out[ia as usize] += 1;
                self.inc[fill_in[ib as usize] as usize] = ia;
                fill_in[ib as usize] += 1;
            }
        }

        // Trim nodes that cannot be on a cycle.
        self.removed.clear();
        self.removed.resize(n, false);
        self.stack.clear();
        for i in 0..n {
            if self.in_deg[i] == 0 || self.out_deg[i] == 0 {
                self.removed[i] = true;
                self.stack.push(i as u32);
            }
        }
        while let Some(i) = self.stack.pop() {
            let i = i as usize;
            for k in self.out_start[i]..self.out_start[i + 1] {
                let j = self.out[k as usize] as usize;
                self.in_deg[j] -= 1;
                if !self.removed[j] && self.in_deg[j] == 0 {
                    self.removed[j] = true;
                    self.stack.push(j as u32);
                }
            }
            for k in self.in_start[i]..self.in_start[i + 1] {
                let j = self.inc[k as usize] as usize;
                self.out_deg[j] -= 1;
                if !self.removed[j] && self.out_deg[j] == 0 {
                    self.removed[j] = true;
                    self.stack.push(j as u32);
                }
            }
        }

        // Strongly connected components of the rest.
        self.core.clear();
        self.core_index.clear();
        self.core_index.resize(n, u32::MAX);
        for i in 0..n {
            if !self.removed[i] {
                self.core_index[i] = self.core.add_node(self.nodes[i]).index() as u32;
            }
        }
        if self.core.node_count() == 0 {
            return;
        }
        for i in 0..n {
            if self.removed[i] {
                continue;
            }
            for k in self.out_start[i]..self.out_start[i + 1] {
                let j = self.out[k as usize] as usize;
                if !self.removed[j] {
                    self.core.add_edge(
                        petgraph::graph::NodeIndex::new(self.core_index[i] as usize),
                        petgraph::graph::NodeIndex::new(self.core_index[j] as usize),
                        (),
                    );
                }
            }
        }
        for scc in kosaraju_scc(&self.core) {
            let cyclic =
                scc.len() >= 2 || scc.first().is_some_and(|&v| self.core.contains_edge(v, v));
            if cyclic {
                let members: Vec<u32> = scc.iter().map(|&v| self.core[v]).collect();
                if let Some(d) = Deadlock::new(members) {
                    out.push(d);
                }
            }
        }
        out.sort_unstable();
    }
}

fn prefix(counts: &[u32], starts: &mut Vec<u32>) {
    starts.clear();
    starts.reserve(counts.len() + 1);
    let mut acc = 0;
    starts.push(0);
    for &c in counts {
        acc += c;
        starts.push(acc);
    }
}

/// A deadlock that is no longer observed, or was still open when tracking finished.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EndedDeadlock {
    /// Member ids, ascending.
    pub members: Vec<u32>,
    /// First tick it was observed.
    pub first_seen: u64,
    /// Last tick it was observed.
    pub last_seen: u64,
    /// First tick it was not observed (or the tick passed to [`DeadlockTracker::finish`]).
    pub ended: u64,
    /// `false` when it was still observed at the end of tracking.
    pub resolved: bool,
}

impl EndedDeadlock {
    /// Ticks it lasted, `ended - first_seen`.
    pub fn duration(&self) -> u64 {
        self.ended.saturating_sub(self.first_seen)
    }

    /// Number of members.
    pub fn size(&self) -> usize {
        self.members.len()
    }
}

/// Changes reported by one [`DeadlockTracker::update`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrackerReport {
    /// Deadlocks observed for the first time, sorted by member list.
    pub started: Vec<Deadlock>,
    /// Deadlocks no longer observed, sorted by member list.
    pub ended: Vec<EndedDeadlock>,
}

/// Follows deadlocks across ticks: the same member set on consecutive checks is the same
/// deadlock; a deadlock that gains or loses a member ends, and the new set starts.
#[derive(Debug, Clone, Default)]
pub struct DeadlockTracker {
    active: BTreeMap<Vec<u32>, (u64, u64)>,
}

impl DeadlockTracker {
    /// A tracker with nothing open.
    pub fn new() -> DeadlockTracker {
        DeadlockTracker::default()
    }

    /// Open deadlocks with the tick each was first observed, sorted by member list.
    pub fn active(&self) -> impl Iterator<Item = (&[u32], u64)> {
        self.active
            .iter()
            .map(|(members, &(first, _))| (members.as_slice(), first))
    }

    /// The tick the open deadlock with exactly these members was first observed.
    pub fn first_seen(&self, members: &[u32]) -> Option<u64> {
        self.active.get(members).map(|&(first, _)| first)
    }

    /// Compares the deadlocks observed at `tick` with those open before.
    pub fn update(&mut self, tick: u64, current: &[Deadlock]) -> TrackerReport {
        let mut report = TrackerReport::default();
        let mut closed = Vec::new();
        for (members, &(first_seen, last_seen)) in &self.active {
            if current
                .binary_search_by(|d| d.members.as_slice().cmp(members.as_slice()))
                .is_err()
            {
                closed.push(members.clone());
                report.ended.push(EndedDeadlock {
                    members: members.clone(),
                    first_seen,
                    last_seen,
                    ended: tick,
                    resolved: true,
                });
            }
        }
        for members in closed {
            self.active.remove(&members);
        }
        for deadlock in current {
            match self.active.get_mut(&deadlock.members) {
                Some((_, last_seen)) => *last_seen = tick,
                None => {
                    self.active.insert(deadlock.members.clone(), (tick, tick));
                    report.started.push(deadlock.clone());
                }
            }
        }
        report.started.sort_unstable();
        report
    }

    /// Closes every open deadlock at `tick` and returns them, marked unresolved, sorted by
    /// member list.
    pub fn finish(&mut self, tick: u64) -> Vec<EndedDeadlock> {
        std::mem::take(&mut self.active)
            .into_iter()
            .map(|(members, (first_seen, last_seen))| EndedDeadlock {
                members,
                first_seen,
                last_seen,
                ended: tick,
                resolved: false,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn members(found: &[Deadlock]) -> Vec<Vec<u32>> {
        found.iter().map(|d| d.members().to_vec()).collect()
    }

    /// Brute force: agents on a cycle are those that can reach themselves; members of one
    /// deadlock reach each other.
    fn brute_force(edges: &[(u32, u32)]) -> Vec<Vec<u32>> {
        let nodes: std::collections::BTreeSet<u32> =
            edges.iter().flat_map(|&(a, b)| [a, b]).collect();
        let reach = |from: u32| {
            let mut seen = std::collections::BTreeSet::new();
            let mut stack = vec![from];
            while let Some(x) = stack.pop() {
                for &(a, b) in edges {
                    if a == x && seen.insert(b) {
                        stack.push(b);
                    }
                }
            }
            seen
        };
        let reaches: BTreeMap<u32, _> = nodes.iter().map(|&n| (n, reach(n))).collect();
        let mut groups: Vec<Vec<u32>> = Vec::new();
        for &n in &nodes {
            if !reaches[&n].contains(&n) || groups.iter().any(|g| g.contains(&n)) {
                continue;
            }
            let g: Vec<u32> = nodes
                .iter()
                .copied()
                .filter(|&m| reaches[&n].contains(&m) && reaches[&m].contains(&n))
                .collect();
            groups.push(g);
        }
        groups.sort();
        groups
    }

    #[test]
    fn cycle_with_a_tail() {
        let mut g = WaitForGraph::new();
        g.rebuild([(1, 2), (2, 3), (3, 1), (4, 1), (5, 4)]);
        assert_eq!(members(&g.deadlocks()), vec![vec![1, 2, 3]]);
    }

    #[test]
    fn chains_and_trees_have_no_deadlock() {
        let mut g = WaitForGraph::new();
        g.rebuild([(1, 2), (2, 3), (3, 4), (5, 3), (6, 4), (1, 4)]);
        assert!(g.deadlocks().is_empty());
        g.rebuild((0..100_000).map(|i| (i, i + 1)));
        assert!(g.deadlocks().is_empty());
    }

    #[test]
    fn disjoint_cycles_self_waits_and_shared_agents() {
        let mut g = WaitForGraph::new();
        let waits = [(9, 9), (6, 5), (5, 6), (3, 1), (1, 2), (2, 3), (7, 8)];
        g.rebuild(waits);
        let expected = vec![vec![1, 2, 3], vec![5, 6], vec![9]];
        assert_eq!(members(&g.deadlocks()), expected);
        g.rebuild(waits.iter().rev().copied());
        assert_eq!(members(&g.deadlocks()), expected);
        g.rebuild([(1, 2), (2, 1), (2, 3), (3, 2), (4, 5)]);
        assert_eq!(members(&g.deadlocks()), vec![vec![1, 2, 3]]);
        g.rebuild((0..50_000).map(|i| (i, (i + 1) % 50_000)));
        let found = g.deadlocks();
        assert_eq!((found.len(), found[0].size()), (1, 50_000));
    }

    #[test]
    fn agrees_with_brute_force_on_random_graphs() {
        let rng = crate::SimRng::new(7);
        for case in 0..400u64 {
            let mut r = rng.agent(0, case, crate::Purpose(0));
            let n = 2 + r.below(12) as u32;
            let m = r.below(u64::from(n) * 2) as usize;
            let edges: Vec<(u32, u32)> = (0..m)
                .map(|_| (r.below(u64::from(n)) as u32, r.below(u64::from(n)) as u32))
                .collect();
            let mut g = WaitForGraph::new();
            g.rebuild(edges.iter().copied());
            assert_eq!(members(&g.deadlocks()), brute_force(&edges), "{edges:?}");
        }
    }

    #[test]
    fn victims() {
        let d = Deadlock::new(vec![7, 3, 12, 5]).unwrap();
        assert_eq!(d.members(), &[3, 5, 7, 12]);
        assert_eq!(d.youngest(), 12);
        let prio = |a: u32| match a {
            3 => 2.0,
            5 | 7 => 1.0,
            _ => 4.0,
        };
        assert_eq!(d.lowest_priority(prio), 5);
        assert!(Deadlock::new(Vec::new()).is_none());
    }

    #[test]
    fn tracker_reports_durations_and_sizes() {
        let d = |m: &[u32]| Deadlock::new(m.to_vec()).unwrap();
        let mut tracker = DeadlockTracker::new();
        let r0 = tracker.update(10, &[d(&[1, 2])]);
        assert_eq!(r0.started, vec![d(&[1, 2])]);
        let r1 = tracker.update(11, &[d(&[1, 2]), d(&[3, 4])]);
        assert_eq!((r1.started, r1.ended), (vec![d(&[3, 4])], vec![]));
        assert_eq!(tracker.first_seen(&[1, 2]), Some(10));
        let r2 = tracker.update(12, &[d(&[3, 4])]);
        assert_eq!(
            r2.ended,
            vec![EndedDeadlock {
                members: vec![1, 2],
                first_seen: 10,
                last_seen: 11,
                ended: 12,
                resolved: true,
            }]
        );
        assert_eq!((r2.ended[0].duration(), r2.ended[0].size()), (2, 2));
        let r3 = tracker.update(13, &[d(&[3, 4, 5])]);
        assert_eq!(r3.started, vec![d(&[3, 4, 5])]);
        assert_eq!(r3.ended[0].duration(), 2);
        let open = tracker.finish(15);
        assert_eq!(
            (open.len(), open[0].duration(), open[0].resolved),
            (1, 2, false)
        );
        assert_eq!(tracker.active().count(), 0);
    }
}
