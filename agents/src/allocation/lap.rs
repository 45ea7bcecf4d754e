//! Optimal linear assignment: shortest augmenting paths with dual potentials
//! (Jonker–Volgenant family, as formulated by Crouse 2016, with JV's column reduction to
//! seed square problems), O(r²·c) for r ≤ c.
//!
//! Rectangular matrices are handled directly rather than by padding: the smaller side is
//! always the one that must be covered, and padding with a large "penalty" constant would
//! break exactness on integer costs once the penalty swamps f64's 53-bit mantissa.

use thiserror::Error;

/// The marker for a forbidden pair in a cost matrix (`+∞`; a profit matrix uses `-∞`).
pub const FORBIDDEN: f64 = f64::INFINITY;

/// Whether the matrix holds costs to minimise or profits to maximise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Objective {
    /// Minimise the sum of entries; `+∞` marks a forbidden pair.
    Minimize,
    /// Maximise the sum of entries; `-∞` marks a forbidden pair.
    Maximize,
}

/// A dense `rows × cols` matrix, row-major: entry `(r, c)` is `data[r * cols + c]`.
#[derive(Debug, Clone, PartialEq)]
pub struct CostMatrix {
    /// Number of rows (agents). No default.
    pub rows: usize,
    /// Number of columns (tasks). No default.
    pub cols: usize,
    /// Row-major entries; its length must be `rows * cols`.
    pub data: Vec<f64>,
}

impl CostMatrix {
    /// Builds a matrix from row-major data, checking its length.
    pub fn new(rows: usize, cols: usize, data: Vec<f64>) -> Result<Self, LapError> {
        let expected = rows.checked_mul(cols).ok_or(LapError::DataLength {
            rows,
            cols,
            len: data.len(),
        })?;
        if data.len() != expected {
            return Err(LapError::DataLength {
                rows,
                cols,
                len: data.len(),
            });
        }
        Ok(Self { rows, cols, data })
    }

    /// A matrix with every entry equal to `value`.
    pub fn filled(rows: usize, cols: usize, value: f64) -> Self {
        Self {
            rows,
            cols,
            data: vec![value; rows * cols],
        }
    }

    /// A matrix whose entry `(r, c)` is `f(r, c)`.
    pub fn from_fn(rows: usize, cols: usize, mut f: impl FnMut(usize, usize) -> f64) -> Self {
        let mut data = Vec::with_capacity(rows * cols);
        for r in 0..rows {
            for c in 0..cols {
                data.push(f(r, c));
            }
        }
        Self { rows, cols, data }
    }

    /// Entry `(row, col)`, or `None` outside the matrix.
    pub fn get(&self, row: usize, col: usize) -> Option<f64> {
        if row < self.rows && col < self.cols {
            self.data.get(row * self.cols + col).copied()
        } else {
            None
        }
    }

    /// Sets entry `(row, col)`.
    pub fn set(&mut self, row: usize, col: usize, value: f64) -> Result<(), LapError> {
        if row >= self.rows || col >= self.cols {
            return Err(LapError::OutOfBounds {
                row,
                col,
                rows: self.rows,
                cols: self.cols,
            });
        }
        let len = self.data.len();
        let slot = self
            .data
            .get_mut(row * self.cols + col)
            .ok_or(LapError::DataLength {
                rows: self.rows,
                cols: self.cols,
                len,
            })?;
        *slot = value;
        Ok(())
    }

    /// Marks `(row, col)` forbidden for minimisation (sets it to [`FORBIDDEN`]).
    pub fn forbid(&mut self, row: usize, col: usize) -> Result<(), LapError> {
        self.set(row, col, FORBIDDEN)
    }

    /// The transposed matrix.
    pub fn transposed(&self) -> Result<Self, LapError> {
        if self.data.len() != self.rows.saturating_mul(self.cols) {
            return Err(LapError::DataLength {
                rows: self.rows,
                cols: self.cols,
                len: self.data.len(),
            });
        }
        Ok(Self::from_fn(self.cols, self.rows, |r, c| {
            self.data[c * self.cols + r]
        }))
    }
}

/// An assignment of rows to distinct columns.
#[derive(Debug, Clone, PartialEq)]
pub struct Assignment {
    /// For each row, its column, or `None` when the row is left out (only possible when
    /// there are more rows than columns, or for heuristics that stop early).
    pub row_to_col: Vec<Option<usize>>,
    /// Sum of the matrix entries at the chosen pairs (total profit when maximising).
    pub total_cost: f64,
}

impl Assignment {
    /// The inverse map: for each of `cols` columns, its row.
    pub fn col_to_row(&self, cols: usize) -> Vec<Option<usize>> {
        let mut out = vec![None; cols];
        for (r, c) in self.row_to_col.iter().enumerate() {
            if let Some(c) = *c
                && let Some(slot) = out.get_mut(c)
            {
                *slot = Some(r);
            }
        }
        out
    }

    /// Number of assigned pairs.
    pub fn len(&self) -> usize {
        self.row_to_col.iter().filter(|c| c.is_some()).count()
    }

    /// Whether no pair is assigned.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Errors from building or solving an assignment problem.
#[derive(Debug, Clone, PartialEq, Error)]
#[non_exhaustive]
pub enum LapError {
    /// The data vector does not hold `rows * cols` entries.
    #[error("cost matrix data has {len} entries, expected rows * cols for a {rows}x{cols} matrix")]
    DataLength {
        /// Declared rows.
        rows: usize,
        /// Declared columns.
        cols: usize,
        /// Actual data length.
        len: usize,
    },
    /// An index lies outside the matrix.
    #[error("entry ({row}, {col}) is outside a {rows}x{cols} matrix")]
    OutOfBounds {
        /// Requested row.
        row: usize,
        /// Requested column.
        col: usize,
        /// Matrix rows.
        rows: usize,
        /// Matrix columns.
        cols: usize,
    },
    /// An entry is NaN.
    #[error("entry ({row}, {col}) is NaN, expected a number or the forbidden marker")]
    NotANumber {
        /// Row of the entry.
        row: usize,
        /// Column of the entry.
        col: usize,
    },
    /// An entry is infinite in the direction the objective would chase (`-∞` cost, `+∞` profit).
    #[error("entry ({row}, {col}) is {value}, expected a finite value or the forbidden marker")]
    Unbounded {
        /// Row of the entry.
        row: usize,
        /// Column of the entry.
        col: usize,
        /// The offending value.
        value: f64,
    },
    /// Forbidden pairs leave no way to cover every row (or every column, if fewer).
    #[error("no feasible assignment covers all {needed} {side} of a {rows}x{cols} matrix")]
    Infeasible {
        /// Matrix rows.
        rows: usize,
        /// Matrix columns.
        cols: usize,
        /// How many pairs were needed (the smaller dimension).
        needed: usize,
        /// Which side had to be covered ("rows" or "columns").
        side: &'static str,
    },
}

/// Reusable scratch for repeated solves; holds no state between calls except capacity.
#[derive(Debug, Default, Clone)]
pub struct LapSolver {
    work: Vec<f64>,
    u: Vec<f64>,
    v: Vec<f64>,
    shortest: Vec<f64>,
    path: Vec<usize>,
    col4row: Vec<usize>,
    row4col: Vec<usize>,
    scanned_rows: Vec<bool>,
    scanned_cols: Vec<bool>,
}

const NONE: usize = usize::MAX;

impl LapSolver {
    /// A solver with empty scratch buffers.
    pub fn new() -> Self {
        Self::default()
    }

    /// Solves the assignment problem for `matrix` under `objective`.
    ///
    /// Every row is assigned when `rows <= cols`, every column otherwise. Results are exact
    /// when all entries are integers of magnitude below 2⁵³ / max(rows, cols).
    pub fn solve(
        &mut self,
        matrix: &CostMatrix,
        objective: Objective,
    ) -> Result<Assignment, LapError> {
        let CostMatrix { rows, cols, .. } = *matrix;
        if matrix.data.len() != rows.saturating_mul(cols) {
            return Err(LapError::DataLength {
                rows,
                cols,
                len: matrix.data.len(),
            });
        }
        validate(matrix, objective)?;
        let transpose = rows > cols;
        let (nr, nc) = if transpose {
            (cols, rows)
        } else {
            (rows, cols)
        };
        let sign = match objective {
            Objective::Minimize => 1.0,
            Objective::Maximize => -1.0,
        };
        let copy = transpose || objective == Objective::Maximize;
        if copy {
            self.work.clear();
            self.work.resize(nr * nc, 0.0);
            for r in 0..rows {
                for c in 0..cols {
                    let value = sign * matrix.data[r * cols + c];
                    let at = if transpose { c * nc + r } else { r * nc + c };
                    self.work[at] = value;
                }
            }
        }
        let infeasible = LapError::Infeasible {
            rows,
            cols,
            needed: nr,
            side: if transpose { "columns" } else { "rows" },
        };
        let cost: &[f64] = if copy { &self.work } else { &matrix.data };
        let col4row = shortest_augmenting_paths(
            cost,
            nr,
            nc,
            Scratch {
                u: &mut self.u,
                v: &mut self.v,
                shortest: &mut self.shortest,
                path: &mut self.path,
                col4row: &mut self.col4row,
                row4col: &mut self.row4col,
                scanned_rows: &mut self.scanned_rows,
                scanned_cols: &mut self.scanned_cols,
            },
        )
        .ok_or(infeasible)?;
        let mut row_to_col = vec![None; rows];
        for (wr, &wc) in col4row.iter().enumerate() {
            if transpose {
                row_to_col[wc] = Some(wr);
            } else {
                row_to_col[wr] = Some(wc);
            }
        }
        let total_cost = row_to_col
            .iter()
            .enumerate()
            .filter_map(|(r, c)| c.map(|c| matrix.data[r * cols + c]))
            .sum();
        Ok(Assignment {
            row_to_col,
            total_cost,
        })
    }
}

/// Minimum-cost assignment (`+∞` = forbidden). See [`LapSolver::solve`].
pub fn minimize(matrix: &CostMatrix) -> Result<Assignment, LapError> {
    LapSolver::new().solve(matrix, Objective::Minimize)
}

/// Maximum-profit assignment (`-∞` = forbidden); `total_cost` is the total profit.
pub fn maximize(matrix: &CostMatrix) -> Result<Assignment, LapError> {
    LapSolver::new().solve(matrix, Objective::Maximize)
}

fn validate(matrix: &CostMatrix, objective: Objective) -> Result<(), LapError> {
    for (at, &value) in matrix.data.iter().enumerate() {
        let (row, col) = (at / matrix.cols, at % matrix.cols);
        if value.is_nan() {
            return Err(LapError::NotANumber { row, col });
        }
        let unbounded = match objective {
            Objective::Minimize => value == f64::NEG_INFINITY,
            Objective::Maximize => value == f64::INFINITY,
        };
        if unbounded {
            return Err(LapError::Unbounded { row, col, value });
        }
    }
    Ok(())
}

struct Scratch<'a> {
    u: &'a mut Vec<f64>,
    v: &'a mut Vec<f64>,
    shortest: &'a mut Vec<f64>,
    path: &'a mut Vec<usize>,
    col4row: &'a mut Vec<usize>,
    row4col: &'a mut Vec<usize>,
    scanned_rows: &'a mut Vec<bool>,
    scanned_cols: &'a mut Vec<bool>,
}

/// Core solver for `nr <= nc`, costs with `+∞` as forbidden. Returns `col4row`, or `None`
/// when some row cannot be matched.
fn shortest_augmenting_paths<'a>(
    cost: &[f64],
    nr: usize,
    nc: usize,
    s: Scratch<'a>,
) -> Option<&'a [usize]> {
    let reset = |v: &mut Vec<f64>, n: usize, x: f64| {
        v.clear();
        v.resize(n, x);
    };
    s.path.clear();
    s.path.resize(nc, NONE);
    s.col4row.clear();
    s.col4row.resize(nr, NONE);
    s.row4col.clear();
    s.row4col.resize(nc, NONE);
    s.scanned_rows.clear();
    s.scanned_rows.resize(nr, false);
    s.scanned_cols.clear();
    s.scanned_cols.resize(nc, false);
    reset(s.shortest, nc, f64::INFINITY);
    reset(s.v, nc, 0.0);
    // Starting duals must keep every reduced cost c - u - v non-negative (the search is
    // Dijkstra) and zero on matched pairs; potentials are set rather than the costs shifted
    // so non-integer data keeps its precision.
    if nr == nc {
        // Square: every column is matched in the end, so column potentials may be positive.
        // Column minima plus matching each column to its first minimal row settles most
        // rows before any search (the Jonker–Volgenant column reduction).
        // `path` doubles as the argmin buffer; the search overwrites every entry it reads.
        s.v.fill(f64::INFINITY);
        for r in 0..nr {
            for (c, &x) in cost[r * nc..(r + 1) * nc].iter().enumerate() {
                if x < s.v[c] {
                    s.v[c] = x;
                    s.path[c] = r;
                }
            }
        }
        for c in 0..nc {
            if s.v[c] == f64::INFINITY {
                return None;
            }
            let r = s.path[c];
            if s.col4row[r] == NONE {
                s.col4row[r] = c;
                s.row4col[c] = r;
            }
        }
    }
    // Rectangular: unmatched columns need v <= 0, so v stays 0 and rows take their minima.
    s.u.clear();
    for r in 0..nr {
        let row_min = cost[r * nc..(r + 1) * nc]
            .iter()
            .zip(s.v.iter())
            .map(|(&x, &v)| x - v)
            .fold(f64::INFINITY, f64::min);
        if row_min == f64::INFINITY {
            return None;
        }
        s.u.push(row_min);
    }

    for cur in 0..nr {
        if s.col4row[cur] != NONE {
            continue;
        }
        s.scanned_rows.fill(false);
        s.scanned_cols.fill(false);
        s.shortest.fill(f64::INFINITY);
        let mut min_val = 0.0;
        let mut i = cur;
        let sink = loop {
            s.scanned_rows[i] = true;
            let row = &cost[i * nc..(i + 1) * nc];
            let ui = s.u[i];
            let mut lowest = f64::INFINITY;
            let mut best = NONE;
            // A linear sweep with a scanned-flag test beats walking a shrinking list of
            // unscanned columns: the accesses stay sequential, which matters from n ~ 500.
            for (j, &c) in row.iter().enumerate() {
                if s.scanned_cols[j] {
                    continue;
                }
                let reduced = min_val + c - ui - s.v[j];
                let mut sj = s.shortest[j];
                if reduced < sj {
                    s.path[j] = i;
                    s.shortest[j] = reduced;
                    sj = reduced;
                }
                if sj < lowest || (sj == lowest && s.row4col[j] == NONE) {
                    lowest = sj;
                    best = j;
                }
            }
            if lowest == f64::INFINITY || best == NONE {
                return None;
            }
            min_val = lowest;
            let j = best;
            s.scanned_cols[j] = true;
            if s.row4col[j] == NONE {
                break j;
            }
            i = s.row4col[j];
        };

        s.u[cur] += min_val;
        for r in 0..nr {
            if s.scanned_rows[r] && r != cur {
                s.u[r] += min_val - s.shortest[s.col4row[r]];
            }
        }
        for c in 0..nc {
            if s.scanned_cols[c] {
                s.v[c] -= min_val - s.shortest[c];
            }
        }
        let mut j = sink;
        loop {
            let r = s.path[j];
            s.row4col[j] = r;
            std::mem::swap(&mut s.col4row[r], &mut j);
            if r == cur {
                break;
            }
        }
    }
    Some(s.col4row)
}

/// Errors from parsing OR-Library assignment files.
#[derive(Debug, Clone, PartialEq, Error)]
#[non_exhaustive]
pub enum ParseError {
    /// The text holds no tokens.
    #[error("assignment file is empty, expected the problem size n first")]
    Empty,
    /// The first token is not a non-negative integer.
    #[error("problem size {token:?} is not a non-negative integer")]
    BadSize {
        /// The offending token.
        token: String,
    },
    /// A token where a number was expected does not parse as a finite number.
    #[error("token {index} ({token:?}) is not a finite number")]
    BadNumber {
        /// Zero-based token index in the file.
        index: usize,
        /// The offending token.
        token: String,
    },
    /// The number of value tokens does not match the format.
    #[error("found {found} value tokens after the size, expected {expected}")]
    WrongCount {
        /// What the format requires (for sparse files: the next multiple of 3).
        expected: usize,
        /// What was found.
        found: usize,
    },
    /// A sparse triple names a row or column outside `1..=n`.
    #[error("sparse entry {entry} names pair ({row}, {col}), expected 1-indexed values up to {n}")]
    IndexOutOfRange {
        /// Zero-based triple index.
        entry: usize,
        /// Row as written.
        row: String,
        /// Column as written.
        col: String,
        /// Problem size.
        n: usize,
    },
    /// A sparse file lists the same pair twice.
    #[error("sparse entry {entry} repeats pair ({row}, {col}) (1-indexed)")]
    DuplicatePair {
        /// Zero-based triple index.
        entry: usize,
        /// 1-indexed row.
        row: usize,
        /// 1-indexed column.
        col: usize,
    },
}

fn parse_size(tokens: &mut std::str::SplitWhitespace<'_>) -> Result<usize, ParseError> {
    let first = tokens.next().ok_or(ParseError::Empty)?;
    first.parse::<usize>().map_err(|_| ParseError::BadSize {
        token: first.to_string(),
    })
}

fn parse_number(index: usize, token: &str) -> Result<f64, ParseError> {
    match token.parse::<f64>() {
        Ok(v) if v.is_finite() => Ok(v),
        _ => Err(ParseError::BadNumber {
            index,
            token: token.to_string(),
        }),
    }
}

/// Parses a dense OR-Library assignment file (`assign100` …): `n`, then the `n × n` costs
/// row by row, whitespace separated (rows may wrap across lines).
pub fn parse_orlib(text: &str) -> Result<CostMatrix, ParseError> {
    let mut tokens = text.split_whitespace();
    let n = parse_size(&mut tokens)?;
    let expected = n.checked_mul(n).ok_or(ParseError::BadSize {
        token: n.to_string(),
    })?;
    let values: Vec<&str> = tokens.collect();
    if values.len() != expected {
        return Err(ParseError::WrongCount {
            expected,
            found: values.len(),
        });
    }
    let data = values
        .iter()
        .enumerate()
        .map(|(k, token)| parse_number(k + 1, token))
        .collect::<Result<Vec<f64>, ParseError>>()?;
    Ok(CostMatrix {
        rows: n,
        cols: n,
        data,
    })
}

/// Parses a sparse OR-Library assignment file (`assignp800` …): `n`, then `i j c` triples,
/// 1-indexed; pairs that are not listed are forbidden ([`FORBIDDEN`]).
pub fn parse_orlib_sparse(text: &str) -> Result<CostMatrix, ParseError> {
    let mut tokens = text.split_whitespace();
    let n = parse_size(&mut tokens)?;
    let cells = n.checked_mul(n).ok_or(ParseError::BadSize {
        token: n.to_string(),
    })?;
    let rest: Vec<&str> = tokens.collect();
    if !rest.len().is_multiple_of(3) {
        return Err(ParseError::WrongCount {
            expected: rest.len().div_ceil(3) * 3,
            found: rest.len(),
        });
    }
    let mut data = vec![FORBIDDEN; cells];
    let mut seen = vec![false; cells];
    for (entry, triple) in rest.chunks_exact(3).enumerate() {
        let index = |s: &str| s.parse::<usize>().ok().filter(|&v| v >= 1 && v <= n);
        let (Some(row), Some(col)) = (index(triple[0]), index(triple[1])) else {
            return Err(ParseError::IndexOutOfRange {
                entry,
                row: triple[0].to_string(),
                col: triple[1].to_string(),
                n,
            });
        };
        let cost = parse_number(1 + 3 * entry + 2, triple[2])?;
        let at = (row - 1) * n + (col - 1);
        if seen[at] {
            return Err(ParseError::DuplicatePair { entry, row, col });
        }
        seen[at] = true;
        data[at] = cost;
    }
    Ok(CostMatrix {
        rows: n,
        cols: n,
        data,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Exhaustive optimum over injections of the smaller side; `None` if infeasible.
    fn brute_force(m: &CostMatrix, objective: Objective) -> Option<f64> {
        fn rec(
            m: &CostMatrix,
            transpose: bool,
            sign: f64,
            r: usize,
            used: &mut Vec<bool>,
            acc: f64,
            best: &mut Option<f64>,
        ) {
            let (nr, nc) = if transpose {
                (m.cols, m.rows)
            } else {
                (m.rows, m.cols)
            };
            if r == nr {
                if best.is_none_or(|b| acc < b) {
                    *best = Some(acc);
                }
                return;
            }
            for c in 0..nc {
                let v = if transpose {
                    m.data[c * m.cols + r]
                } else {
                    m.data[r * m.cols + c]
                } * sign;
                if used[c] || v == f64::INFINITY {
                    continue;
                }
                used[c] = true;
                rec(m, transpose, sign, r + 1, used, acc + v, best);
                used[c] = false;
            }
        }
        let transpose = m.rows > m.cols;
        let sign = if objective == Objective::Maximize {
            -1.0
        } else {
            1.0
        };
        let mut best = None;
        let mut used = vec![false; m.rows.max(m.cols)];
        rec(m, transpose, sign, 0, &mut used, 0.0, &mut best);
        best.map(|b| b * sign)
    }

    fn check_valid(m: &CostMatrix, a: &Assignment) {
        assert_eq!(a.row_to_col.len(), m.rows);
        let mut used = vec![false; m.cols];
        let mut total = 0.0;
        for (r, c) in a.row_to_col.iter().enumerate() {
            if let Some(c) = *c {
                assert!(!used[c], "column {c} used twice");
                used[c] = true;
                let v = m.data[r * m.cols + c];
                assert!(v.is_finite(), "forbidden pair ({r}, {c}) chosen");
                total += v;
            }
        }
        assert_eq!(a.len(), m.rows.min(m.cols));
        assert_eq!(total, a.total_cost);
    }

    fn small_matrix() -> impl Strategy<Value = CostMatrix> {
        (0usize..=6, 0usize..=6).prop_flat_map(|(rows, cols)| {
            proptest::collection::vec(
                prop_oneof![4 => (-5i32..30).prop_map(f64::from), 1 => Just(FORBIDDEN)],
                rows * cols,
            )
            .prop_map(move |data| CostMatrix { rows, cols, data })
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(600))]
        #[test]
        fn minimize_matches_brute_force(m in small_matrix()) {
            let expected = brute_force(&m, Objective::Minimize);
            match minimize(&m) {
                Ok(a) => {
                    check_valid(&m, &a);
                    prop_assert_eq!(Some(a.total_cost), expected);
                }
                Err(LapError::Infeasible { needed, .. }) => {
                    prop_assert_eq!(needed, m.rows.min(m.cols));
                    prop_assert_eq!(expected, None);
                }
                Err(e) => prop_assert!(false, "unexpected error {e}"),
            }
        }

        #[test]
        fn maximize_matches_brute_force(m in small_matrix()) {
            let profits = CostMatrix {
                data: m.data.iter().map(|&v| if v == FORBIDDEN { f64::NEG_INFINITY } else { v }).collect(),
                ..m
            };
            let expected = brute_force(&profits, Objective::Maximize);
            match maximize(&profits) {
                Ok(a) => {
                    check_valid(&profits, &a);
                    prop_assert_eq!(Some(a.total_cost), expected);
                }
                Err(LapError::Infeasible { .. }) => prop_assert_eq!(expected, None),
                Err(e) => prop_assert!(false, "unexpected error {e}"),
            }
        }

        #[test]
        fn non_integer_costs_match_brute_force_closely(
            (rows, cols, data) in (1usize..=5, 1usize..=5).prop_flat_map(|(r, c)| {
                (Just(r), Just(c), proptest::collection::vec(-10.0f64..10.0, r * c))
            })
        ) {
            let m = CostMatrix { rows, cols, data };
            let a = minimize(&m).unwrap();
            let expected = brute_force(&m, Objective::Minimize).unwrap();
            prop_assert!((a.total_cost - expected).abs() < 1e-9);
        }
    }

    #[test]
    fn or_library_assign100_reaches_published_optimum() {
        let text = include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../tests/data/orlib/assign100.txt"
        ));
        let m = parse_orlib(text).unwrap();
        assert_eq!((m.rows, m.cols), (100, 100));
        let a = minimize(&m).unwrap();
        check_valid(&m, &a);
        assert_eq!(a.total_cost, 305.0);
        // The transposed instance has the same optimum; this exercises the copy path.
        let t = minimize(&m.transposed().unwrap()).unwrap();
        assert_eq!(t.total_cost, 305.0);
    }

    #[test]
    fn hand_computed_rectangular_cases() {
        // 2 rows, 3 columns: row 0 -> col 2 (1), row 1 -> col 0 (2) = 3.
        let m = CostMatrix::new(2, 3, vec![5.0, 4.0, 1.0, 2.0, 9.0, 3.0]).unwrap();
        let a = minimize(&m).unwrap();
        assert_eq!(a.row_to_col, vec![Some(2), Some(0)]);
        assert_eq!(a.total_cost, 3.0);
        // Its transpose leaves one row out.
        let a = minimize(&m.transposed().unwrap()).unwrap();
        assert_eq!(a.row_to_col, vec![Some(1), None, Some(0)]);
        assert_eq!(a.total_cost, 3.0);
        assert_eq!(a.col_to_row(2), vec![Some(2), Some(0)]);
    }

    #[test]
    fn forbidden_pairs_and_infeasibility() {
        let mut m = CostMatrix::filled(2, 2, 1.0);
        m.forbid(0, 0).unwrap();
        m.forbid(1, 0).unwrap();
        assert!(matches!(
            minimize(&m),
            Err(LapError::Infeasible { needed: 2, .. })
        ));
        m.set(1, 0, 7.0).unwrap();
        assert_eq!(minimize(&m).unwrap().total_cost, 8.0);
        assert!(matches!(
            m.set(2, 0, 1.0),
            Err(LapError::OutOfBounds { row: 2, .. })
        ));
    }

    #[test]
    fn rejects_bad_entries() {
        let m = CostMatrix::new(1, 2, vec![1.0, f64::NAN]).unwrap();
        assert_eq!(minimize(&m), Err(LapError::NotANumber { row: 0, col: 1 }));
        let m = CostMatrix::new(1, 1, vec![f64::NEG_INFINITY]).unwrap();
        assert!(matches!(minimize(&m), Err(LapError::Unbounded { .. })));
        assert!(matches!(
            maximize(&CostMatrix::filled(1, 1, f64::INFINITY)),
            Err(LapError::Unbounded { .. })
        ));
        assert!(matches!(
            CostMatrix::new(2, 2, vec![0.0; 3]),
            Err(LapError::DataLength { len: 3, .. })
        ));
        let bad = CostMatrix {
            rows: 2,
            cols: 2,
            data: vec![0.0],
        };
        assert!(matches!(minimize(&bad), Err(LapError::DataLength { .. })));
    }

    #[test]
    fn empty_matrices_solve_trivially() {
        for (r, c) in [(0, 0), (0, 3), (3, 0)] {
            let a = minimize(&CostMatrix::filled(r, c, 1.0)).unwrap();
            assert_eq!(a.row_to_col, vec![None; r]);
            assert_eq!(a.total_cost, 0.0);
        }
    }

    #[test]
    fn solver_reuse_gives_identical_results() {
        let mut solver = LapSolver::new();
        let a = CostMatrix::from_fn(4, 6, |r, c| ((r * 7 + c * 3) % 11) as f64);
        let b = CostMatrix::from_fn(6, 4, |r, c| ((r * 5 + c * 2) % 13) as f64);
        let first = solver.solve(&a, Objective::Minimize).unwrap();
        solver.solve(&b, Objective::Maximize).unwrap();
        assert_eq!(solver.solve(&a, Objective::Minimize).unwrap(), first);
    }

    #[test]
    fn parses_dense_and_sparse_formats() {
        let m = parse_orlib("2\n 1 2\n 3\n 4\n").unwrap();
        assert_eq!(m.data, vec![1.0, 2.0, 3.0, 4.0]);
        assert_eq!(parse_orlib(""), Err(ParseError::Empty));
        assert!(matches!(parse_orlib("x"), Err(ParseError::BadSize { .. })));
        assert_eq!(
            parse_orlib("2 1 2 3"),
            Err(ParseError::WrongCount {
                expected: 4,
                found: 3
            })
        );
        assert_eq!(
            parse_orlib("1 1 2 3"),
            Err(ParseError::WrongCount {
                expected: 1,
                found: 3
            })
        );
        assert!(matches!(
            parse_orlib("1 nan"),
            Err(ParseError::BadNumber { index: 1, .. })
        ));

        let s = parse_orlib_sparse("3\n1 1 5\n2 3 7\n3 2 1\n1 2 4\n").unwrap();
        assert_eq!(s.get(0, 0), Some(5.0));
        assert_eq!(s.get(1, 2), Some(7.0));
        assert_eq!(s.get(1, 1), Some(FORBIDDEN));
        assert_eq!(minimize(&s).unwrap().total_cost, 13.0);
        assert!(matches!(
            parse_orlib_sparse("2 1 3 5"),
            Err(ParseError::IndexOutOfRange { entry: 0, .. })
        ));
        assert!(matches!(
            parse_orlib_sparse("2 1 1 5 1 1 6"),
            Err(ParseError::DuplicatePair { entry: 1, .. })
        ));
        assert!(matches!(
            parse_orlib_sparse("2 1 1"),
            Err(ParseError::WrongCount { .. })
        ));
    }
}
