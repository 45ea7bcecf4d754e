//! Grid A* throughput against petgraph's generic `astar` on the same map.
//!
//! Map: 256x256, about 20% random obstacles (seeded), unit costs. Queries: seeded random pairs
//! of passable cells (some unreachable, which costs a full flood in both). The petgraph graph
//! is built once, one node per cell, so node indices equal cell indices and both searches use
//! the same heuristic. Criterion reports throughput in queries per second.

use std::f64::consts::SQRT_2;
use std::hint::black_box;

use agora_engine::planning::grid::{AstarScratch, Cell, Connectivity, GridMap, astar_into};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use petgraph::graph::{DiGraph, NodeIndex};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

const SIDE: u32 = 256;
const OBSTACLE_DENSITY: f64 = 0.2;
const QUERIES: usize = 100;

fn random_map(rng: &mut ChaCha8Rng) -> GridMap {
    let passable = (0..SIDE * SIDE)
        .map(|_| rng.random::<f64>() >= OBSTACLE_DENSITY)
        .collect();
    GridMap::from_passable(SIDE, SIDE, passable).expect("valid size")
}

fn random_pairs(map: &GridMap, rng: &mut ChaCha8Rng) -> Vec<(Cell, Cell)> {
    let mut cell = || loop {
        let c = (rng.random_range(0..SIDE), rng.random_range(0..SIDE));
        if map.is_passable(c) {
            return c;
        }
    };
    (0..QUERIES).map(|_| (cell(), cell())).collect()
}

/// One node per cell; an edge for every legal move, weighted as `GridMap::step_cost`.
fn petgraph_graph(map: &GridMap, connectivity: Connectivity) -> DiGraph<(), f64> {
    let n = map.cell_count();
    let mut graph = DiGraph::with_capacity(n, n * 8);
    for _ in 0..n {
        graph.add_node(());
    }
    let offsets: &[(i32, i32)] = match connectivity {
        Connectivity::Four => &[(0, -1), (1, 0), (0, 1), (-1, 0)],
        Connectivity::Eight => &[
            (0, -1),
            (1, 0),
            (0, 1),
            (-1, 0),
            (1, -1),
            (1, 1),
            (-1, 1),
            (-1, -1),
        ],
    };
    for i in 0..n {
        let from = map.cell_at(i).expect("in range");
        for &(dx, dy) in offsets {
            let to = match (from.0.checked_add_signed(dx), from.1.checked_add_signed(dy)) {
                (Some(x), Some(y)) => (x, y),
                _ => continue,
            };
            if let Some(cost) = map.step_cost(from, to, connectivity) {
                let j = map.index_of(to).expect("in range");
                graph.add_edge(NodeIndex::new(i), NodeIndex::new(j), cost);
            }
        }
    }
    graph
}

fn petgraph_query(
    graph: &DiGraph<(), f64>,
    start: Cell,
    goal: Cell,
    connectivity: Connectivity,
) -> Option<f64> {
    let side = SIDE as usize;
    let goal_index = NodeIndex::new(goal.1 as usize * side + goal.0 as usize);
    let heuristic = |n: NodeIndex| {
        let (x, y) = ((n.index() % side) as f64, (n.index() / side) as f64);
        let dx = (x - f64::from(goal.0)).abs();
        let dy = (y - f64::from(goal.1)).abs();
        match connectivity {
            Connectivity::Four => dx + dy,
            Connectivity::Eight => dx.max(dy) + (SQRT_2 - 1.0) * dx.min(dy),
        }
    };
    petgraph::algo::astar(
        graph,
        NodeIndex::new(start.1 as usize * side + start.0 as usize),
        |n| n == goal_index,
        |e| *e.weight(),
        heuristic,
    )
    .map(|(cost, _)| cost)
}

fn bench(c: &mut Criterion) {
    let mut rng = ChaCha8Rng::seed_from_u64(20_240_601);
    let map = random_map(&mut rng);
    let pairs = random_pairs(&map, &mut rng);
    let mut group = c.benchmark_group("astar_256x256_20pct");
    group.throughput(Throughput::Elements(QUERIES as u64));
    group.sample_size(10);
    for connectivity in [Connectivity::Four, Connectivity::Eight] {
        let graph = petgraph_graph(&map, connectivity);
        let mut scratch = AstarScratch::new();
        let mut out = Vec::new();
        // Both implementations must agree before their speed means anything.
        for &(s, g) in &pairs {
            let ours = astar_into(&map, s, g, connectivity, &mut scratch, &mut out);
            let theirs = petgraph_query(&graph, s, g, connectivity);
            match (ours, theirs) {
                (Some(a), Some(b)) => assert!((a - b).abs() < 1e-9, "{s:?}->{g:?}: {a} vs {b}"),
                (None, None) => {}
                other => panic!("{s:?}->{g:?}: disagreement {other:?}"),
            }
        }
        let label = format!("{connectivity:?}");
        group.bench_with_input(
            BenchmarkId::new("grid_astar", &label),
            &pairs,
            |b, pairs| {
                b.iter(|| {
                    for &(s, g) in pairs {
                        black_box(astar_into(&map, s, g, connectivity, &mut scratch, &mut out));
                    }
                });
            },
        );
        group.bench_with_input(
            BenchmarkId::new("petgraph_astar", &label),
            &pairs,
            |b, pairs| {
                b.iter(|| {
                    for &(s, g) in pairs {
                        black_box(petgraph_query(&graph, s, g, connectivity));
                    }
                });
            },
        );
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
