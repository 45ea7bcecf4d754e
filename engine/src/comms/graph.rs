//! Summaries of undirected graphs (the topology, or who actually talked): degrees,
//! connected components and diameter.

use petgraph::graph::{NodeIndex, UnGraph};
use petgraph::unionfind::UnionFind;
use std::collections::VecDeque;

/// Components up to this many nodes get an exact diameter (a breadth-first search from every
/// node), as long as that costs at most [`EXACT_DIAMETER_WORK`] steps; others get a lower
/// bound from four double sweeps, which is exact on trees and usually on real networks.
pub const EXACT_DIAMETER_LIMIT: usize = 2000;

/// Most node-visits plus edge-visits (`nodes * (nodes + 2 * edges)`) an exact diameter may
/// cost; metrics computed every few ticks must stay cheap.
pub const EXACT_DIAMETER_WORK: usize = 2_000_000;

/// Shape of an undirected graph.
#[derive(Debug, Clone, PartialEq)]
pub struct GraphSummary {
    /// Nodes.
    pub nodes: usize,
    /// Undirected edges.
    pub edges: usize,
    /// Mean degree (NaN without nodes).
    pub mean_degree: f64,
    /// Largest degree.
    pub max_degree: usize,
    /// Connected components (an isolated node is one).
    pub components: usize,
    /// Nodes in the largest component.
    pub largest_component: usize,
    /// Longest shortest path in the largest component, in hops: exact up to
    /// [`EXACT_DIAMETER_LIMIT`] nodes and [`EXACT_DIAMETER_WORK`], a lower bound (four
    /// double sweeps) above.
    pub diameter: usize,
    /// Whether `diameter` is exact.
    pub diameter_exact: bool,
    /// `degree_counts[d]` is the number of nodes of degree `d`.
    pub degree_counts: Vec<usize>,
}

/// An undirected graph over `nodes` (any ids; duplicates ignored) with `edges` between them
/// (either direction, duplicates and self-loops ignored), built with petgraph.
pub fn undirected(nodes: &[u32], edges: &[(u32, u32)]) -> UnGraph<u32, ()> {
    let mut ids: Vec<u32> = nodes
        .iter()
        .copied()
        .chain(edges.iter().flat_map(|&(a, b)| [a, b]))
        .collect();
    ids.sort_unstable();
    ids.dedup();
    let mut pairs: Vec<(u32, u32)> = edges
        .iter()
        .filter(|(a, b)| a != b)
        .map(|&(a, b)| (a.min(b), a.max(b)))
        .collect();
    pairs.sort_unstable();
    pairs.dedup();
    let mut g = UnGraph::with_capacity(ids.len(), pairs.len());
    for &id in &ids {
        g.add_node(id);
    }
    let at = |id: u32| NodeIndex::new(ids.binary_search(&id).unwrap_or(0));
    for (a, b) in pairs {
        g.add_edge(at(a), at(b), ());
    }
    g
}

/// Summarises `g`.
pub fn summarize(g: &UnGraph<u32, ()>) -> GraphSummary {
    let n = g.node_count();
    let adj: Vec<Vec<u32>> = g
        .node_indices()
        .map(|v| {
            let mut nb: Vec<u32> = g.neighbors(v).map(|u| u.index() as u32).collect();
            nb.sort_unstable();
            nb.dedup();
            nb
        })
        .collect();
    let mut degree_counts = Vec::new();
    for nb in &adj {
        if degree_counts.len() <= nb.len() {
            degree_counts.resize(nb.len() + 1, 0);
        }
        degree_counts[nb.len()] += 1;
    }
    let mut uf = UnionFind::<usize>::new(n);
    for e in g.edge_indices() {
        if let Some((a, b)) = g.edge_endpoints(e) {
            uf.union(a.index(), b.index());
        }
    }
    let labels = uf.into_labeling();
    let mut sizes = vec![0usize; n];
    for &l in &labels {
        sizes[l] += 1;
    }
    let components = sizes.iter().filter(|&&s| s > 0).count();
    // The largest component; ties go to the one holding the lowest node.
    let biggest = (0..n).max_by_key(|&l| (sizes[l], std::cmp::Reverse(l)));
    let largest_component = biggest.map_or(0, |l| sizes[l]);
    let (diameter, diameter_exact) = match biggest {
        None => (0, true),
        Some(l) => {
            let nodes: Vec<usize> = (0..n).filter(|&v| labels[v] == l).collect();
            diameter_of(&adj, &nodes)
        }
    };
    GraphSummary {
        nodes: n,
        edges: g.edge_count(),
        mean_degree: if n == 0 {
            f64::NAN
        } else {
            adj.iter().map(Vec::len).sum::<usize>() as f64 / n as f64
        },
        max_degree: adj.iter().map(Vec::len).max().unwrap_or(0),
        components,
        largest_component,
        diameter,
        diameter_exact,
        degree_counts,
    }
}

/// Eccentricity of `from` and the farthest node (lowest index among ties).
fn bfs(
    adj: &[Vec<u32>],
    from: usize,
    dist: &mut [u32],
    queue: &mut VecDeque<usize>,
) -> (u32, usize) {
    dist.fill(u32::MAX);
    dist[from] = 0;
    queue.clear();
    queue.push_back(from);
    let mut far = (0, from);
    while let Some(v) = queue.pop_front() {
        let d = dist[v];
        if d > far.0 || (d == far.0 && v < far.1) {
            far = (d, v);
        }
        for &u in &adj[v] {
            let u = u as usize;
            if dist[u] == u32::MAX {
                dist[u] = d + 1;
                queue.push_back(u);
            }
        }
    }
    far
}

fn diameter_of(adj: &[Vec<u32>], component: &[usize]) -> (usize, bool) {
    let mut dist = vec![u32::MAX; adj.len()];
    let mut queue = VecDeque::new();
    let arcs: usize = component.iter().map(|&v| adj[v].len()).sum();
    let work = component.len().saturating_mul(component.len() + arcs);
    if component.len() <= EXACT_DIAMETER_LIMIT && work <= EXACT_DIAMETER_WORK {
        let d = component
            .iter()
            .map(|&v| bfs(adj, v, &mut dist, &mut queue).0)
            .max()
            .unwrap_or(0);
        return (d as usize, true);
    }
    let mut best = 0;
    let mut start = component[0];
    for _ in 0..4 {
        let (_, far) = bfs(adj, start, &mut dist, &mut queue);
        let (ecc, next) = bfs(adj, far, &mut dist, &mut queue);
        best = best.max(ecc);
        start = next;
    }
    (best as usize, false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_ring_and_components() {
        let path: Vec<(u32, u32)> = (0..9).map(|i| (i, i + 1)).collect();
        let s = summarize(&undirected(&[], &path));
        assert_eq!((s.nodes, s.edges, s.diameter, s.components), (10, 9, 9, 1));
        assert_eq!(s.degree_counts, vec![0, 2, 8]);
        let mut ring = path.clone();
        ring.push((9, 0));
        let s = summarize(&undirected(&[], &ring));
        assert_eq!((s.diameter, s.max_degree), (5, 2));
        let s = summarize(&undirected(&[20, 21], &[(0, 1), (1, 0), (2, 3), (3, 3)]));
        assert_eq!(
            (s.nodes, s.edges, s.components, s.largest_component),
            (6, 2, 4, 2)
        );
        assert!(s.diameter_exact);
    }

    #[test]
    fn large_components_get_a_tight_lower_bound() {
        let path: Vec<(u32, u32)> = (0..2999).map(|i| (i, i + 1)).collect();
        let s = summarize(&undirected(&[], &path));
        assert_eq!(s.diameter, 2999, "double sweep is exact on trees");
        assert!(!s.diameter_exact);
    }
}
