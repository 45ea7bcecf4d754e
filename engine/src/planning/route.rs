//! Visiting order for several targets from a fixed start: nearest-neighbour construction
//! improved by 2-opt, on an open path (the route ends at its last target, with no return).
//!
//! Points are indices: `0` is the start, `1..points` the targets. Distances come from a caller
//! closure and may be asymmetric; they are read once into a matrix so that the closure (which
//! may itself run a path search) is called exactly `points * (points - 1)` times.

use thiserror::Error;

/// Errors from route planning.
#[derive(Debug, Clone, PartialEq, Error)]
#[non_exhaustive]
pub enum RouteError {
    /// Zero points: there is not even a start.
    #[error("route has no points: expected at least the start point (index 0)")]
    NoStart,
    /// The distance closure returned a negative, infinite or NaN value.
    #[error("distance from point {from} to point {to} is {distance}: expected a finite value >= 0")]
    InvalidDistance {
        /// Index of the first point.
        from: usize,
        /// Index of the second point.
        to: usize,
        /// The rejected distance.
        distance: f64,
    },
}

/// A planned route.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Route {
    /// Target indices (each of `1..points` exactly once) in visiting order; the start, index 0,
    /// is implied before the first.
    pub order: Vec<usize>,
    /// Sum of distances along `0 -> order[0] -> order[1] -> ...`.
    pub cost: f64,
}

/// Tuning for [`RoutePlanner::plan`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouteOptions {
    /// Most 2-opt sweeps over all segment pairs; each sweep applies every improving reversal it
    /// meets. Improvement stops earlier when a sweep changes nothing. Default: 100 (small
    /// instances converge in a handful; the cap bounds pathological inputs).
    pub max_passes: usize,
}

impl Default for RouteOptions {
    fn default() -> Self {
        Self { max_passes: 100 }
    }
}

/// Reusable route planner: keeps its distance matrix and work arrays between calls.
#[derive(Debug, Clone, Default)]
pub struct RoutePlanner {
    matrix: Vec<f64>,
    points: usize,
    path: Vec<usize>,
    /// `forward[k]` is the cost of `path[0..=k]` walked forwards; `backward[k]` the same edges
    /// walked in reverse. Their differences give a reversal's exact delta in O(1) even for
    /// asymmetric distances, where the textbook four-edge delta is wrong.
    forward: Vec<f64>,
    backward: Vec<f64>,
}

impl RoutePlanner {
    /// Empty planner; storage grows on first use.
    pub fn new() -> Self {
        Self::default()
    }

    /// Nearest-neighbour route: from the current point, go to the closest unvisited target
    /// (ties: lowest index).
    pub fn nearest_neighbour(
        &mut self,
        points: usize,
        dist: impl FnMut(usize, usize) -> f64,
    ) -> Result<Route, RouteError> {
        self.load(points, dist)?;
        self.build_nearest_neighbour();
        Ok(self.route())
    }

    /// Nearest-neighbour route improved by 2-opt segment reversals until no reversal helps
    /// (or `options.max_passes` sweeps). Never costlier than [`RoutePlanner::nearest_neighbour`]:
    /// only strictly improving reversals are applied. Deterministic: sweeps scan segment starts
    /// then ends in increasing order and apply the first improvement found.
    pub fn plan(
        &mut self,
        points: usize,
        dist: impl FnMut(usize, usize) -> f64,
        options: &RouteOptions,
    ) -> Result<Route, RouteError> {
        self.load(points, dist)?;
        self.build_nearest_neighbour();
        self.two_opt(options.max_passes);
        Ok(self.route())
    }

    fn d(&self, a: usize, b: usize) -> f64 {
        self.matrix[a * self.points + b]
    }

    fn load(
        &mut self,
        points: usize,
        mut dist: impl FnMut(usize, usize) -> f64,
    ) -> Result<(), RouteError> {
        if points == 0 {
            return Err(RouteError::NoStart);
        }
        self.points = points;
        self.matrix.clear();
        self.matrix.resize(points * points, 0.0);
        for from in 0..points {
            for to in 0..points {
                if from == to {
                    continue;
                }
                let distance = dist(from, to);
                if !(distance.is_finite() && distance >= 0.0) {
                    return Err(RouteError::InvalidDistance { from, to, distance });
                }
                self.matrix[from * points + to] = distance;
            }
        }
        Ok(())
    }

    fn build_nearest_neighbour(&mut self) {
        self.path.clear();
        self.path.push(0);
        let mut remaining: Vec<usize> = (1..self.points).collect();
        while !remaining.is_empty() {
            let here = self.path[self.path.len() - 1];
            let mut best = 0;
            for k in 1..remaining.len() {
                if self.d(here, remaining[k]) < self.d(here, remaining[best]) {
                    best = k;
                }
            }
            // `remove` keeps `remaining` sorted, which is what makes ties go to the lowest index.
            self.path.push(remaining.remove(best));
        }
    }

    fn prefix_sums(&mut self) {
        self.forward.clear();
        self.backward.clear();
        self.forward.push(0.0);
        self.backward.push(0.0);
        for k in 1..self.path.len() {
            let (a, b) = (self.path[k - 1], self.path[k]);
            self.forward.push(self.forward[k - 1] + self.d(a, b));
            self.backward.push(self.backward[k - 1] + self.d(b, a));
        }
    }

    fn two_opt(&mut self, max_passes: usize) {
        let last = self.path.len() - 1;
        for _ in 0..max_passes {
            let mut improved = false;
            self.prefix_sums();
            for i in 1..last {
                for j in i + 1..=last {
                    let p = &self.path;
                    let head = self.d(p[i - 1], p[j]) - self.d(p[i - 1], p[i]);
                    let inner =
                        (self.backward[j] - self.backward[i]) - (self.forward[j] - self.forward[i]);
                    let tail = if j < last {
                        self.d(p[i], p[j + 1]) - self.d(p[j], p[j + 1])
                    } else {
                        0.0
                    };
                    let delta = head + inner + tail;
                    // Relative tolerance so rounding in the prefix sums can never accept a
                    // reversal that is not a real improvement.
                    if delta < -1e-12 * (1.0 + self.forward[last]) {
                        self.path[i..=j].reverse();
                        self.prefix_sums();
                        improved = true;
                    }
                }
            }
            if !improved {
                break;
            }
        }
    }

    fn route(&self) -> Route {
        let cost = self.path.windows(2).map(|w| self.d(w[0], w[1])).sum();
        Route {
            order: self.path[1..].to_vec(),
            cost,
        }
    }
}

/// [`RoutePlanner::plan`] with a fresh planner and default options.
pub fn plan_route(
    points: usize,
    dist: impl FnMut(usize, usize) -> f64,
) -> Result<Route, RouteError> {
    RoutePlanner::new().plan(points, dist, &RouteOptions::default())
}

/// Cost of visiting `order` from the start (index 0) with `dist`.
pub fn route_cost(order: &[usize], mut dist: impl FnMut(usize, usize) -> f64) -> f64 {
    let mut here = 0;
    let mut total = 0.0;
    for &next in order {
        total += dist(here, next);
        here = next;
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::RngExt;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    fn euclid(points: &[(f64, f64)]) -> impl Fn(usize, usize) -> f64 + '_ {
        |a, b| {
            let (dx, dy) = (points[a].0 - points[b].0, points[a].1 - points[b].1);
            (dx * dx + dy * dy).sqrt()
        }
    }

    /// Exact optimum by trying every order of the targets (Heap's algorithm).
    fn exhaustive(points: usize, dist: &dyn Fn(usize, usize) -> f64) -> f64 {
        let mut order: Vec<usize> = (1..points).collect();
        let mut best = route_cost(&order, dist);
        let mut c = vec![0; order.len()];
        let mut i = 0;
        while i < order.len() {
            if c[i] < i {
                let swap = if i % 2 == 0 { 0 } else { c[i] };
                order.swap(swap, i);
                best = best.min(route_cost(&order, dist));
                c[i] += 1;
                i = 0;
            } else {
                c[i] = 0;
                i += 1;
            }
        }
        best
    }

    fn is_permutation(order: &[usize], points: usize) -> bool {
        let mut sorted = order.to_vec();
        sorted.sort_unstable();
        sorted == (1..points).collect::<Vec<_>>()
    }

    #[test]
    fn trivial_sizes() {
        assert_eq!(plan_route(0, |_, _| 1.0), Err(RouteError::NoStart));
        assert_eq!(
            plan_route(1, |_, _| 1.0),
            Ok(Route {
                order: vec![],
                cost: 0.0
            })
        );
        assert_eq!(
            plan_route(2, |_, _| 4.0),
            Ok(Route {
                order: vec![1],
                cost: 4.0
            })
        );
    }

    #[test]
    fn invalid_distance_is_reported() {
        let err = plan_route(3, |a, b| if (a, b) == (2, 1) { f64::NAN } else { 1.0 });
        assert!(matches!(
            err,
            Err(RouteError::InvalidDistance { from: 2, to: 1, .. })
        ));
        let err = plan_route(3, |_, _| -1.0).unwrap_err();
        assert!(err.to_string().contains("expected a finite value >= 0"));
    }

    #[test]
    fn nearest_neighbour_ties_go_to_lowest_index() {
        let route = RoutePlanner::new()
            .nearest_neighbour(4, |_, _| 1.0)
            .unwrap();
        assert_eq!(route.order, vec![1, 2, 3]);
    }

    #[test]
    fn two_opt_fixes_nearest_neighbour_trap() {
        // NN grabs the nearby point left of the start, sweeps right, then must come all the way
        // back for the far left point. Going right first and then left is cheaper.
        let xs = [(0.0, 0.0), (-1.0, 0.0), (2.0, 0.0), (4.0, 0.0), (-6.0, 0.0)];
        let dist = euclid(&xs);
        let mut planner = RoutePlanner::new();
        let nn = planner.nearest_neighbour(xs.len(), &dist).unwrap();
        assert_eq!(nn.order, vec![1, 2, 3, 4]);
        assert_eq!(nn.cost, 16.0);
        let opt = planner
            .plan(xs.len(), &dist, &RouteOptions::default())
            .unwrap();
        assert_eq!(opt.order, vec![3, 2, 1, 4]);
        assert_eq!(opt.cost, 14.0);
        assert_eq!(exhaustive(xs.len(), &dist), 14.0);
    }

    #[test]
    fn collinear_from_an_end_is_optimal() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        for n in 2..=9 {
            // Targets at increasing distinct positions right of the start, indices shuffled.
            let mut xs: Vec<f64> = (0..n).map(|_| rng.random_range(0.5..100.0)).collect();
            xs.sort_by(f64::total_cmp);
            let mut labels: Vec<usize> = (1..=n).collect();
            for k in (1..labels.len()).rev() {
                labels.swap(k, rng.random_range(0..=k));
            }
            let mut pos = vec![(0.0, 0.0); n + 1];
            for (rank, &label) in labels.iter().enumerate() {
                pos[label] = (xs[rank], 0.0);
            }
            let route = plan_route(n + 1, euclid(&pos)).unwrap();
            assert_eq!(route.order, labels);
            assert!((route.cost - xs[n - 1]).abs() < 1e-9);
        }
    }

    #[test]
    fn two_opt_never_worse_than_nn_and_never_below_optimum() {
        // Measured over these 600 seeded instances (2-8 targets, uniform in a square): mean gap
        // to the exhaustive optimum 0.88% for nearest neighbour + 2-opt, 4.6% for nearest
        // neighbour alone; 2-opt found the optimum in 504 of 600 instances (84%). The asserts
        // below leave a little room so that a changed tie rule does not fail spuriously.
        let mut rng = ChaCha8Rng::seed_from_u64(42);
        let mut planner = RoutePlanner::new();
        let (mut gap_opt, mut gap_nn, mut exact, mut count) = (0.0, 0.0, 0, 0);
        for round in 0..600 {
            let targets = 2 + round % 7;
            let pos: Vec<(f64, f64)> = (0..=targets)
                .map(|_| (rng.random_range(0.0..100.0), rng.random_range(0.0..100.0)))
                .collect();
            let dist = euclid(&pos);
            let nn = planner.nearest_neighbour(pos.len(), &dist).unwrap();
            let route = planner
                .plan(pos.len(), &dist, &RouteOptions::default())
                .unwrap();
            let optimum = exhaustive(pos.len(), &dist);
            assert!(is_permutation(&route.order, pos.len()));
            assert!((route_cost(&route.order, &dist) - route.cost).abs() < 1e-9);
            assert!(
                route.cost <= nn.cost + 1e-9,
                "2-opt {} worse than nn {}",
                route.cost,
                nn.cost
            );
            assert!(
                route.cost >= optimum - 1e-9,
                "{} below optimum {optimum}",
                route.cost
            );
            gap_opt += route.cost / optimum - 1.0;
            gap_nn += nn.cost / optimum - 1.0;
            exact += usize::from(route.cost <= optimum + 1e-9);
            count += 1;
        }
        let (gap_opt, gap_nn) = (gap_opt / count as f64, gap_nn / count as f64);
        assert!(
            gap_opt < 0.02 && gap_opt <= gap_nn,
            "gap {gap_opt} vs nn {gap_nn}"
        );
        assert!(
            exact * 10 >= count * 8,
            "optimal in only {exact} of {count}"
        );
    }

    #[test]
    fn asymmetric_distances_are_handled_exactly() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let mut planner = RoutePlanner::new();
        for _ in 0..200 {
            let n = rng.random_range(2..=8);
            let table: Vec<f64> = (0..n * n).map(|_| rng.random_range(0.0..10.0)).collect();
            let dist = |a: usize, b: usize| table[a * n + b];
            let nn = planner.nearest_neighbour(n, dist).unwrap();
            let route = planner.plan(n, dist, &RouteOptions::default()).unwrap();
            assert!((route_cost(&route.order, dist) - route.cost).abs() < 1e-9);
            assert!(route.cost <= nn.cost + 1e-9);
            assert!(route.cost >= exhaustive(n, &dist) - 1e-9);
        }
    }

    #[test]
    fn deterministic_and_pass_limit_respected() {
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        let pos: Vec<(f64, f64)> = (0..40)
            .map(|_| (rng.random_range(0.0..1.0), rng.random_range(0.0..1.0)))
            .collect();
        let a = plan_route(pos.len(), euclid(&pos)).unwrap();
        let b = RoutePlanner::new().plan(pos.len(), euclid(&pos), &RouteOptions::default());
        assert_eq!(Ok(a.clone()), b);
        let again = plan_route(pos.len(), euclid(&pos));
        let none =
            RoutePlanner::new().plan(pos.len(), euclid(&pos), &RouteOptions { max_passes: 0 });
        assert_eq!(
            none,
            RoutePlanner::new().nearest_neighbour(pos.len(), euclid(&pos))
        );
        assert!(a.cost < none.unwrap().cost);
        assert_eq!(again, Ok(a));
    }
}
