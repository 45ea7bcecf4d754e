//! Connected components of items joined by links (for example agents within an interaction
//! radius), by union-find: the cluster count and the size distribution.

use super::StatsError;

/// Cluster sizes of one partition, largest first.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Clusters {
    items: usize,
    sizes: Vec<usize>,
}

impl Clusters {
    /// Number of clusters (isolated items count as clusters of size 1).
    #[must_use]
    pub fn count(&self) -> usize {
        self.sizes.len()
    }

    /// Cluster sizes in descending order; they sum to the number of items.
    #[must_use]
    pub fn sizes(&self) -> &[usize] {
        &self.sizes
    }

    /// Size of the largest cluster; 0 without items.
    #[must_use]
    pub fn largest(&self) -> usize {
        self.sizes.first().copied().unwrap_or(0)
    }

    /// Largest cluster over number of items; 0 without items.
    #[must_use]
    pub fn largest_fraction(&self) -> f64 {
        if self.items == 0 {
            0.0
        } else {
            self.largest() as f64 / self.items as f64
        }
    }

    /// Number of clusters of size 1.
    #[must_use]
    pub fn singletons(&self) -> usize {
        self.sizes.iter().rev().take_while(|&&s| s == 1).count()
    }
}

/// Union-find with reusable buffers, so that clustering every sample period does not allocate
/// once the buffers have grown to the population size.
#[derive(Debug, Clone, Default)]
pub struct Clustering {
    parent: Vec<usize>,
    size: Vec<usize>,
    clusters: Clusters,
}

impl Clustering {
    /// Empty buffers.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    fn root(&mut self, mut i: usize) -> usize {
        // Path halving: iterative, so long chains cannot overflow the stack.
        while self.parent[i] != i {
            self.parent[i] = self.parent[self.parent[i]];
            i = self.parent[i];
        }
        i
    }

    /// Partitions items `0..items` by `links` (unordered pairs; self-links and repeated
    /// links are harmless).
    ///
    /// # Errors
    /// [`StatsError::IndexOutOfRange`] for a link naming an item `>= items`; the buffers are
    /// then left in an unspecified state for the next call to overwrite.
    pub fn compute<I>(&mut self, items: usize, links: I) -> Result<&Clusters, StatsError>
    where
        I: IntoIterator<Item = (usize, usize)>,
    {
        self.parent.clear();
        self.parent.extend(0..items);
        self.size.clear();
        self.size.resize(items, 1);
        for (a, b) in links {
            for index in [a, b] {
                if index >= items {
                    return Err(StatsError::IndexOutOfRange {
                        what: "linked item",
                        index,
                        len: items,
                    });
                }
            }
            let (ra, rb) = (self.root(a), self.root(b));
            if ra == rb {
                continue;
            }
            // Union by size keeps trees shallow.
            let (big, small) = if self.size[ra] >= self.size[rb] {
                (ra, rb)
            } else {
                (rb, ra)
            };
            self.parent[small] = big;
            self.size[big] += self.size[small];
        }
        self.clusters.items = items;
        self.clusters.sizes.clear();
        for i in 0..items {
            if self.parent[i] == i {
                self.clusters.sizes.push(self.size[i]);
            }
        }
        self.clusters.sizes.sort_unstable_by(|a, b| b.cmp(a));
        Ok(&self.clusters)
    }
}

/// [`Clustering::compute`] with fresh buffers.
///
/// ```
/// # use agora_engine::stats::clusters;
/// let c = clusters(6, [(0, 1), (1, 2), (4, 5)]).unwrap();
/// assert_eq!((c.count(), c.sizes()), (3, &[3, 2, 1][..]));
/// ```
///
/// # Errors
/// As [`Clustering::compute`].
pub fn clusters<I>(items: usize, links: I) -> Result<Clusters, StatsError>
where
    I: IntoIterator<Item = (usize, usize)>,
{
    Clustering::new().compute(items, links).cloned()
}

#[cfg(test)]
mod tests {
    use rand::{RngExt, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    use super::*;

    fn brute_force_sizes(items: usize, links: &[(usize, usize)]) -> Vec<usize> {
        let mut adjacency = vec![Vec::new(); items];
        for &(a, b) in links {
            adjacency[a].push(b);
            adjacency[b].push(a);
        }
        let mut seen = vec![false; items];
        let mut sizes = Vec::new();
        for start in 0..items {
            if seen[start] {
                continue;
            }
            seen[start] = true;
            let (mut stack, mut size) = (vec![start], 0);
            while let Some(v) = stack.pop() {
                size += 1;
                for &w in &adjacency[v] {
                    if !seen[w] {
                        seen[w] = true;
                        stack.push(w);
                    }
                }
            }
            sizes.push(size);
        }
        sizes.sort_unstable_by(|a, b| b.cmp(a));
        sizes
    }

    #[test]
    fn hand_built_partition() {
        let c = clusters(7, [(0, 1), (1, 2), (4, 5), (5, 4), (3, 3)]).unwrap();
        assert_eq!(c.sizes(), &[3, 2, 1, 1]);
        assert_eq!((c.count(), c.largest(), c.singletons()), (4, 3, 2));
        assert!((c.largest_fraction() - 3.0 / 7.0).abs() < 1e-15);
        let empty = clusters(0, []).unwrap();
        assert_eq!(
            (empty.count(), empty.largest(), empty.largest_fraction()),
            (0, 0, 0.0)
        );
    }

    #[test]
    fn matches_breadth_first_search_on_random_graphs() {
        let mut rng = ChaCha8Rng::seed_from_u64(17);
        let mut clustering = Clustering::new();
        for _ in 0..300 {
            let items = rng.random_range(1..60usize);
            let link_count = rng.random_range(0..items * 2);
            let links: Vec<(usize, usize)> = (0..link_count)
                .map(|_| (rng.random_range(0..items), rng.random_range(0..items)))
                .collect();
            let got = clustering.compute(items, links.iter().copied()).unwrap();
            assert_eq!(got.sizes(), brute_force_sizes(items, &links).as_slice());
            assert_eq!(got.sizes().iter().sum::<usize>(), items);
        }
    }

    #[test]
    fn long_chain_does_not_recurse() {
        let n = 1_000_000;
        let c = clusters(n, (1..n).map(|i| (i - 1, i))).unwrap();
        assert_eq!(c.sizes(), &[n]);
    }

    #[test]
    fn out_of_range_link_is_an_error() {
        assert!(matches!(
            clusters(3, [(0, 3)]),
            Err(StatsError::IndexOutOfRange {
                index: 3,
                len: 3,
                ..
            })
        ));
    }
}
