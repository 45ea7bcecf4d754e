//! Communication topologies: who may send to whom. Generators for the classic network models,
//! all deterministic functions of (members, positions, seed, tick), stored as a compressed
//! adjacency list keyed by agent id so that a membership test is a binary search.

use super::spec::TopologySpec;
use crate::rng::{AgentRng, Purpose, SimRng};
use crate::space::{GridItem, Space, UniformGrid};
use glam::DVec2;
use petgraph::graph::{NodeIndex, UnGraph};
use std::collections::BTreeSet;

/// Global stream channel for topology draws (distinct from every other engine channel).
const TOPOLOGY_CHANNEL: u32 = 0xC0_7000;

/// An undirected communication graph over agent ids, or the implicit complete graph.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Topology {
    complete: bool,
    /// `adj[offsets[a]..offsets[a + 1]]` are agent `a`'s neighbours, ascending.
    offsets: Vec<u32>,
    adj: Vec<u32>,
}

impl Topology {
    /// Everyone is everyone else's neighbour; nothing is stored.
    pub fn complete() -> Topology {
        Topology {
            complete: true,
            offsets: Vec::new(),
            adj: Vec::new(),
        }
    }

    /// A graph from undirected edges between agent ids (self-loops and duplicates ignored).
    pub fn from_edges(edges: impl IntoIterator<Item = (u32, u32)>) -> Topology {
        let mut both: Vec<(u32, u32)> = Vec::new();
        for (a, b) in edges {
            if a != b {
                both.push((a, b));
                both.push((b, a));
            }
        }
        both.sort_unstable();
        both.dedup();
        let ids = both.last().map_or(0, |&(a, _)| a as usize + 1);
        let mut offsets = vec![0u32; ids + 1];
        for &(a, _) in &both {
            offsets[a as usize + 1] += 1;
        }
        for i in 0..ids {
            offsets[i + 1] += offsets[i];
        }
        Topology {
            complete: false,
            offsets,
            adj: both.into_iter().map(|(_, b)| b).collect(),
        }
    }

    /// Whether this is the implicit complete graph.
    pub fn is_complete(&self) -> bool {
        self.complete
    }

    /// Agent `a`'s neighbours in ascending id order (empty for the complete graph: every
    /// other member is a neighbour there).
    #[inline]
    pub fn neighbors(&self, a: u32) -> &[u32] {
        let a = a as usize;
        if a + 1 >= self.offsets.len() {
            return &[];
        }
        &self.adj[self.offsets[a] as usize..self.offsets[a + 1] as usize]
    }

    /// Whether `a` may send to `b`.
    #[inline]
    pub fn connected(&self, a: u32, b: u32) -> bool {
        if self.complete {
            a != b
        } else {
            self.neighbors(a).binary_search(&b).is_ok()
        }
    }

    /// Number of undirected edges (0 for the implicit complete graph).
    pub fn edge_count(&self) -> usize {
        self.adj.len() / 2
    }

    /// Edges `(a, b)` with `a < b`, ascending.
    pub fn edges(&self) -> impl Iterator<Item = (u32, u32)> + '_ {
        (0..self.offsets.len().saturating_sub(1) as u32).flat_map(move |a| {
            self.neighbors(a)
                .iter()
                .filter(move |&&b| b > a)
                .map(move |&b| (a, b))
        })
    }

    /// The graph as a petgraph graph over `members` (node weights are agent ids; node `i` is
    /// `members[i]`). For the complete graph every pair is an edge, so mind the size.
    pub fn to_petgraph(&self, members: &[u32]) -> UnGraph<u32, ()> {
        let mut g = UnGraph::with_capacity(members.len(), self.edge_count());
        for &m in members {
            g.add_node(m);
        }
        let index = |id: u32| members.binary_search(&id).ok().map(NodeIndex::new);
        if self.complete {
            for i in 0..members.len() {
                for j in i + 1..members.len() {
                    g.add_edge(NodeIndex::new(i), NodeIndex::new(j), ());
                }
            }
        } else {
            for (a, b) in self.edges() {
                if let (Some(x), Some(y)) = (index(a), index(b)) {
                    g.add_edge(x, y, ());
                }
            }
        }
        g
    }
}

/// What a topology is built from.
#[derive(Debug, Clone, Copy)]
pub struct BuildInput<'a> {
    /// Member agent ids, ascending.
    pub members: &'a [u32],
    /// Their positions (same order), used by the spatial topologies.
    pub positions: &'a [DVec2],
    /// The world, for distances.
    pub space: &'a Space,
    /// The run's randomness.
    pub rng: &'a SimRng,
    /// The tick being built at (keys the random draws, so rebuilds differ).
    pub tick: u64,
    /// Edges read from an edge-list file (for `EdgeList`).
    pub edge_list: &'a [(u32, u32)],
    /// Which bus this is for (keys the random draws, so two buses draw independently).
    pub channel: u32,
}

/// Builds the topology `spec` over the members.
pub fn build(spec: &TopologySpec, input: &BuildInput<'_>) -> Topology {
    let n = input.members.len();
    let mut rng = input.rng.global(
        TOPOLOGY_CHANNEL.wrapping_add(input.channel),
        input.tick,
        Purpose::CHANNEL,
    );
    let by_index: Vec<(u32, u32)> = match *spec {
        TopologySpec::Complete => return Topology::complete(),
        TopologySpec::EdgeList(_) => {
            let present: BTreeSet<u32> = input.members.iter().copied().collect();
            return Topology::from_edges(
                input
                    .edge_list
                    .iter()
                    .copied()
                    .filter(|(a, b)| present.contains(a) && present.contains(b)),
            );
        }
        TopologySpec::Ring => ring(n),
        TopologySpec::Grid => lattice(n),
        TopologySpec::KNearest(k) => k_nearest(input, k as usize),
        TopologySpec::RandomGeometric(r) => geometric(input, r),
        TopologySpec::ErdosRenyi(p) => erdos_renyi(n, p, &mut rng),
        TopologySpec::WattsStrogatz(k, beta) => watts_strogatz(n, k as usize, beta, &mut rng),
        TopologySpec::BarabasiAlbert(m) => barabasi_albert(n, m as usize, &mut rng),
    };
    Topology::from_edges(
        by_index
            .into_iter()
            .map(|(i, j)| (input.members[i as usize], input.members[j as usize])),
    )
}

fn ring(n: usize) -> Vec<(u32, u32)> {
    match n {
        0 | 1 => Vec::new(),
        2 => vec![(0, 1)],
        _ => (0..n as u32).map(|i| (i, (i + 1) % n as u32)).collect(),
    }
}

fn lattice(n: usize) -> Vec<(u32, u32)> {
    let cols = (n as f64).sqrt().ceil().max(1.0) as usize;
    let mut edges = Vec::with_capacity(2 * n);
    for k in 0..n {
        let (x, y) = (k % cols, k / cols);
        if x + 1 < cols && k + 1 < n {
            edges.push((k as u32, k as u32 + 1));
        }
        let below = (y + 1) * cols + x;
        if below < n {
            edges.push((k as u32, below as u32));
        }
    }
    edges
}

fn index_of(input: &BuildInput<'_>, radius: f64) -> UniformGrid<u32> {
    let mut grid = UniformGrid::new();
    grid.rebuild(
        input.space,
        radius,
        input
            .members
            .iter()
            .zip(input.positions)
            .enumerate()
            .map(|(i, (&id, &pos))| GridItem {
                pos,
                id,
                data: i as u32,
            }),
    );
    grid
}

fn geometric(input: &BuildInput<'_>, r: f64) -> Vec<(u32, u32)> {
    let grid = index_of(input, r);
    let mut edges = Vec::new();
    for (i, &pos) in input.positions.iter().enumerate() {
        grid.for_each_within(pos, r, |it, _, _| {
            if it.data as usize > i {
                edges.push((i as u32, it.data));
            }
        });
    }
    edges
}

fn k_nearest(input: &BuildInput<'_>, k: usize) -> Vec<(u32, u32)> {
    let n = input.members.len();
    if n < 2 {
        return Vec::new();
    }
    let k = k.min(n - 1);
    // A radius that holds about k agents at uniform density; doubled until it holds k.
    let density = n as f64 / input.space.area();
    let r0 = (k as f64 / (std::f64::consts::PI * density)).sqrt() * 1.2 + 1e-9;
    let grid = index_of(input, r0);
    let diag = input.space.width.hypot(input.space.height);
    let mut found: Vec<(f64, u32, u32)> = Vec::new();
    let mut edges = Vec::with_capacity(n * k);
    for (i, &pos) in input.positions.iter().enumerate() {
        let mut r = r0;
        loop {
            found.clear();
            grid.for_each_within(pos, r, |it, _, d2| {
                if it.data as usize != i {
                    found.push((d2, it.id, it.data));
                }
            });
            if found.len() >= k || r > diag {
                break;
            }
            r *= 2.0;
        }
        found.sort_unstable_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        for &(_, _, j) in found.iter().take(k) {
            edges.push((i as u32, j));
        }
    }
    edges
}

/// Uniform in `(0, 1]`.
fn open_unit(rng: &mut AgentRng) -> f64 {
    1.0 - rng.unit_f64()
}

/// G(n, p) by geometric skipping over the pairs (Batagelj and Brandes 2005): O(n + edges)
/// draws instead of one per pair.
fn erdos_renyi(n: usize, p: f64, rng: &mut AgentRng) -> Vec<(u32, u32)> {
    let mut edges = Vec::new();
    if n < 2 || p <= 0.0 {
        return edges;
    }
    if p >= 1.0 {
        for v in 1..n as u32 {
            for w in 0..v {
                edges.push((v, w));
            }
        }
        return edges;
    }
    let lp = (1.0 - p).ln();
    let (mut v, mut w) = (1i64, -1i64);
    let n = n as i64;
    while v < n {
        let skip = (open_unit(rng).ln() / lp).floor();
        w += 1 + if skip.is_finite() { skip as i64 } else { n * n };
        while w >= v && v < n {
            w -= v;
            v += 1;
        }
        if v < n {
            edges.push((v as u32, w as u32));
        }
    }
    edges
}

fn watts_strogatz(n: usize, k: usize, beta: f64, rng: &mut AgentRng) -> Vec<(u32, u32)> {
    if n < 2 {
        return Vec::new();
    }
    let half = (k / 2).min((n - 1) / 2).max(1);
    let mut adj: Vec<BTreeSet<u32>> = vec![BTreeSet::new(); n];
    let link = |adj: &mut Vec<BTreeSet<u32>>, a: usize, b: usize| {
        adj[a].insert(b as u32);
        adj[b].insert(a as u32);
    };
    for i in 0..n {
        for j in 1..=half {
            let t = (i + j) % n;
            if t != i {
                link(&mut adj, i, t);
            }
        }
    }
    // Rewire each lattice link (i, i + j) with probability beta to a uniformly chosen node
    // that is neither i nor already i's neighbour, as in the original construction.
    for j in 1..=half {
        for i in 0..n {
            let t = (i + j) % n;
            if !adj[i].contains(&(t as u32)) || rng.unit_f64() >= beta {
                continue;
            }
            if adj[i].len() >= n - 1 {
                continue;
            }
            let w = loop {
                let w = rng.below(n as u64) as usize;
                if w != i && !adj[i].contains(&(w as u32)) {
                    break w;
                }
            };
            adj[i].remove(&(t as u32));
            adj[t].remove(&(i as u32));
            link(&mut adj, i, w);
        }
    }
    let mut edges = Vec::new();
    for (a, set) in adj.iter().enumerate() {
        for &b in set.range(a as u32 + 1..) {
            edges.push((a as u32, b));
        }
    }
    edges
}

fn barabasi_albert(n: usize, m: usize, rng: &mut AgentRng) -> Vec<(u32, u32)> {
    let mut edges = Vec::new();
    let seed = (m + 1).min(n);
    // Each node appears once per link it has: sampling this list is sampling by degree.
    let mut repeated: Vec<u32> = Vec::new();
    for a in 0..seed {
        for b in a + 1..seed {
            edges.push((a as u32, b as u32));
            repeated.push(a as u32);
            repeated.push(b as u32);
        }
    }
    let mut chosen: Vec<u32> = Vec::with_capacity(m);
    for v in seed..n {
        chosen.clear();
        while chosen.len() < m.min(v) {
            let t = repeated[rng.below(repeated.len() as u64) as usize];
            if !chosen.contains(&t) {
                chosen.push(t);
            }
        }
        for &t in &chosen {
            edges.push((v as u32, t));
            repeated.push(v as u32);
            repeated.push(t);
        }
    }
    edges
}

/// One line of an edge-list file that names an agent that does not exist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EdgeListError {
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// What is wrong.
    pub message: String,
}

/// Parses an edge list: one `a b` (or `a,b`) pair of agent ids per line; blank lines and text
/// after `#` are ignored. Ids must be below `agents` (the number of agents the scenario ever
/// has).
pub fn parse_edge_list(text: &str, agents: u64) -> Result<Vec<(u32, u32)>, EdgeListError> {
    let mut edges = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.split('#').next().unwrap_or("");
        let mut fields = Vec::new();
        let mut start = None;
        for (col, ch) in line
            .char_indices()
            .chain(std::iter::once((line.len(), ' ')))
        {
            let sep = ch.is_whitespace() || ch == ',';
            match (sep, start) {
                (false, None) => start = Some(col),
                (true, Some(s)) => {
                    fields.push((s, &line[s..col]));
                    start = None;
                }
                _ => {}
            }
        }
        if fields.is_empty() {
            continue;
        }
        let err = |col: usize, message: String| EdgeListError {
            line: i + 1,
            column: line[..col].chars().count() + 1,
            message,
        };
        if fields.len() != 2 {
            return Err(err(
                fields[0].0,
                format!(
                    "expected two agent ids (`a b`), found {} fields",
                    fields.len()
                ),
            ));
        }
        let mut ids = [0u32; 2];
        for (slot, &(col, word)) in ids.iter_mut().zip(&fields) {
            let id: u64 = word
                .parse()
                .map_err(|_| err(col, format!("`{word}` is not an agent id (a whole number)")))?;
            if id >= agents {
                return Err(err(
                    col,
                    format!(
                        "agent {id} does not exist: the scenario has agents 0 to {}",
                        agents.saturating_sub(1)
                    ),
                ));
            }
            *slot = id as u32;
        }
        edges.push((ids[0], ids[1]));
    }
    Ok(edges)
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
            boundary: Boundary::Torus,
            neighborhood: Neighborhood::Moore,
        }
    }

    fn make(spec: TopologySpec, n: u32, tick: u64) -> Topology {
        let members: Vec<u32> = (0..n).map(|i| i * 2).collect();
        let rng = SimRng::new(3);
        let positions: Vec<DVec2> = (0..n)
            .map(|i| {
                let mut r = rng.agent(i, 0, Purpose::PLACEMENT);
                DVec2::new(r.unit_f64() * 100.0, r.unit_f64() * 100.0)
            })
            .collect();
        let s = space();
        build(
            &spec,
            &BuildInput {
                members: &members,
                positions: &positions,
                space: &s,
                rng: &rng,
                tick,
                edge_list: &[],
                channel: 0,
            },
        )
    }

    fn degrees(t: &Topology, n: u32) -> Vec<usize> {
        (0..n).map(|i| t.neighbors(i * 2).len()).collect()
    }

    #[test]
    fn ring_grid_and_complete_have_their_textbook_shapes() {
        let ring = make(TopologySpec::Ring, 10, 0);
        assert_eq!(ring.edge_count(), 10);
        assert!(degrees(&ring, 10).iter().all(|&d| d == 2));
        assert!(ring.connected(0, 18) && ring.connected(18, 0) && !ring.connected(0, 4));
        let grid = make(TopologySpec::Grid, 9, 0);
        assert_eq!(grid.edge_count(), 12);
        assert_eq!(degrees(&grid, 9), vec![2, 3, 2, 3, 4, 3, 2, 3, 2]);
        let all = make(TopologySpec::Complete, 5, 0);
        assert!(all.is_complete() && all.connected(2, 8) && !all.connected(2, 2));
    }

    #[test]
    fn random_models_have_the_expected_sizes_and_are_reproducible() {
        let n = 400;
        let er = make(TopologySpec::ErdosRenyi(0.05), n, 0);
        let expected = 0.05 * f64::from(n * (n - 1) / 2);
        let got = er.edge_count() as f64;
        assert!(
            (got - expected).abs() < 4.0 * expected.sqrt(),
            "{got} vs {expected}"
        );
        assert_eq!(er, make(TopologySpec::ErdosRenyi(0.05), n, 0));
        assert_ne!(er, make(TopologySpec::ErdosRenyi(0.05), n, 1));

        let ws = make(TopologySpec::WattsStrogatz(6, 0.1), n, 0);
        assert_eq!(
            ws.edge_count(),
            (n * 3) as usize,
            "rewiring keeps the edge count"
        );
        let lattice = make(TopologySpec::WattsStrogatz(6, 0.0), n, 0);
        assert!(degrees(&lattice, n).iter().all(|&d| d == 6));

        let ba = make(TopologySpec::BarabasiAlbert(3), n, 0);
        assert_eq!(ba.edge_count(), 6 + (n as usize - 4) * 3);
        let d = degrees(&ba, n);
        assert!(d.iter().all(|&x| x >= 3));
        assert!(
            *d.iter().max().unwrap() > 20,
            "preferential attachment makes hubs"
        );
    }

    #[test]
    fn spatial_models_match_brute_force() {
        let n = 300;
        let members: Vec<u32> = (0..n).map(|i| i * 2).collect();
        let rng = SimRng::new(3);
        let positions: Vec<DVec2> = (0..n)
            .map(|i| {
                let mut r = rng.agent(i, 0, Purpose::PLACEMENT);
                DVec2::new(r.unit_f64() * 100.0, r.unit_f64() * 100.0)
            })
            .collect();
        let s = space();
        let d2 = |i: usize, j: usize| s.distance_squared(positions[i], positions[j]);
        let geo = make(TopologySpec::RandomGeometric(8.0), n, 0);
        for i in 0..n as usize {
            for j in 0..n as usize {
                let near = i != j && d2(i, j) <= 64.0;
                assert_eq!(geo.connected(members[i], members[j]), near);
            }
        }
        let knn = make(TopologySpec::KNearest(4), n, 0);
        for i in 0..n as usize {
            let mut others: Vec<(f64, u32)> = (0..n as usize)
                .filter(|&j| j != i)
                .map(|j| (d2(i, j), members[j]))
                .collect();
            others.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            for &(_, m) in others.iter().take(4) {
                assert!(knn.connected(members[i], m));
            }
            assert!(knn.neighbors(members[i]).len() >= 4);
        }
    }

    #[test]
    fn edge_lists_parse_and_point_at_bad_ids() {
        let edges = parse_edge_list("# a comment\n0 1\n\n1,2  # trailing\n", 3).unwrap();
        assert_eq!(edges, vec![(0, 1), (1, 2)]);
        let err = parse_edge_list("0 1\n2   17\n", 5).unwrap_err();
        assert_eq!((err.line, err.column), (2, 5));
        assert!(
            err.message.contains("agent 17 does not exist"),
            "{}",
            err.message
        );
        let err = parse_edge_list("0 1 2\n", 5).unwrap_err();
        assert!(err.message.contains("two agent ids"));
        let err = parse_edge_list("0 x\n", 5).unwrap_err();
        assert_eq!(err.column, 3);
    }

    #[test]
    fn petgraph_export_keeps_members_and_edges() {
        let ring = make(TopologySpec::Ring, 6, 0);
        let members: Vec<u32> = (0..6).map(|i| i * 2).collect();
        let g = ring.to_petgraph(&members);
        assert_eq!((g.node_count(), g.edge_count()), (6, 6));
        assert_eq!(petgraph::algo::connected_components(&g), 1);
    }
}
