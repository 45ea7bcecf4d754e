//! Group decisions by voting: plurality, Borda and approval tallies, the pairwise majority
//! matrix, the Condorcet winner and Copeland scores.
//!
//! Candidates are numbered `0..candidates`. A ranked ballot lists candidates best first and may
//! stop early (a truncated ranking); an approval ballot lists the approved candidates, so the
//! caller applies whatever approval threshold it uses before voting. Every procedure validates
//! every ballot: a candidate out of range or named twice is an error naming the ballot.

use rand::{Rng, RngExt};

use super::ConflictError;

fn validate<B: AsRef<[usize]>>(candidates: usize, ballots: &[B]) -> Result<(), ConflictError> {
    let mut seen = vec![usize::MAX; candidates];
    for (ballot, names) in ballots.iter().enumerate() {
        for &candidate in names.as_ref() {
            let Some(mark) = seen.get_mut(candidate) else {
                return Err(ConflictError::CandidateOutOfRange {
                    ballot,
                    candidate,
                    candidates,
                });
            };
            if *mark == ballot {
                return Err(ConflictError::DuplicateCandidate { ballot, candidate });
            }
            *mark = ballot;
        }
    }
    Ok(())
}

/// Scores per candidate from one voting rule, and the winner under a tie-breaking rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tally {
    scores: Vec<u64>,
}

impl Tally {
    /// Score of each candidate, indexed by candidate.
    #[must_use]
    pub fn scores(&self) -> &[u64] {
        &self.scores
    }

    /// Candidates sharing the highest score, in ascending order; empty without candidates.
    #[must_use]
    pub fn leaders(&self) -> Vec<usize> {
        let Some(&top) = self.scores.iter().max() else {
            return Vec::new();
        };
        (0..self.scores.len())
            .filter(|&c| self.scores[c] == top)
            .collect()
    }

    /// The winner, ties broken by the lowest candidate number; `None` without candidates.
    #[must_use]
    pub fn winner(&self) -> Option<usize> {
        let top = self.scores.iter().max()?;
        self.scores.iter().position(|s| s == top)
    }

    /// The winner, ties broken by a uniform draw from `rng` among the leaders (no draw is taken
    /// when there is a single leader, so adding candidates that cannot win does not shift the
    /// caller's random stream). `None` without candidates.
    pub fn winner_with<R: Rng + ?Sized>(&self, rng: &mut R) -> Option<usize> {
        let leaders = self.leaders();
        match leaders.len() {
            0 => None,
            1 => Some(leaders[0]),
            n => Some(leaders[rng.random_range(0..n)]),
        }
    }

    /// Highest score minus the second highest (0 on a tie or with fewer than two candidates).
    #[must_use]
    pub fn margin(&self) -> u64 {
        let mut top = 0;
        let mut second = 0;
        for &s in &self.scores {
            if s > top {
                second = top;
                top = s;
            } else if s > second {
                second = s;
            }
        }
        if self.scores.len() < 2 {
            0
        } else {
            top - second
        }
    }
}

/// Plurality: each ranked ballot gives one point to its first choice; empty ballots abstain.
///
/// ```
/// # use agora_agents::conflicts::procedures::plurality;
/// let tally = plurality(3, &[vec![2, 0], vec![2], vec![1, 2]]).unwrap();
/// assert_eq!((tally.scores(), tally.winner()), (&[0, 1, 2][..], Some(2)));
/// ```
///
/// # Errors
/// [`ConflictError::CandidateOutOfRange`] or [`ConflictError::DuplicateCandidate`].
pub fn plurality<B: AsRef<[usize]>>(
    candidates: usize,
    ballots: &[B],
) -> Result<Tally, ConflictError> {
    validate(candidates, ballots)?;
    let mut scores = vec![0; candidates];
    for ballot in ballots {
        if let Some(&first) = ballot.as_ref().first() {
            scores[first] += 1;
        }
    }
    Ok(Tally { scores })
}

/// Borda count: with `m` candidates, the candidate in position `k` of a ranking (1 = top)
/// earns `m - k` points. Candidates a truncated ballot leaves unranked earn 0 from it (the
/// pessimistic convention: an unranked candidate is treated as below every ranked one, but
/// the unranked do not split the remaining points).
///
/// # Errors
/// [`ConflictError::CandidateOutOfRange`] or [`ConflictError::DuplicateCandidate`].
pub fn borda<B: AsRef<[usize]>>(candidates: usize, ballots: &[B]) -> Result<Tally, ConflictError> {
    validate(candidates, ballots)?;
    let mut scores = vec![0u64; candidates];
    for ballot in ballots {
        for (position, &candidate) in ballot.as_ref().iter().enumerate() {
            scores[candidate] += (candidates - 1 - position) as u64;
        }
    }
    Ok(Tally { scores })
}

/// Approval voting: each ballot is the set of candidates its voter approves; each approval is
/// one point.
///
/// # Errors
/// [`ConflictError::CandidateOutOfRange`] or [`ConflictError::DuplicateCandidate`].
pub fn approval<B: AsRef<[usize]>>(
    candidates: usize,
    ballots: &[B],
) -> Result<Tally, ConflictError> {
    validate(candidates, ballots)?;
    let mut scores = vec![0; candidates];
    for ballot in ballots {
        for &candidate in ballot.as_ref() {
            scores[candidate] += 1;
        }
    }
    Ok(Tally { scores })
}

/// Pairwise majority counts: how many voters rank `a` above `b`, for every ordered pair. On a
/// truncated ballot a ranked candidate is above every unranked one, and two unranked
/// candidates are not compared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PairwiseMatrix {
    candidates: usize,
    above: Vec<u64>,
}

impl PairwiseMatrix {
    /// Counts the pairwise preferences of ranked ballots.
    ///
    /// # Errors
    /// [`ConflictError::CandidateOutOfRange`] or [`ConflictError::DuplicateCandidate`].
    pub fn new<B: AsRef<[usize]>>(candidates: usize, ballots: &[B]) -> Result<Self, ConflictError> {
        let cells = candidates
            .checked_mul(candidates)
            .ok_or(ConflictError::InvalidParameter {
                name: "candidates",
                value: candidates as f64,
                expected: "a candidate count whose square fits in memory",
            })?;
        validate(candidates, ballots)?;
        let mut above = vec![0; cells];
        let mut ranked = vec![false; candidates];
        for ballot in ballots {
            let ranking = ballot.as_ref();
            ranked.fill(false);
            for (position, &a) in ranking.iter().enumerate() {
                for &b in &ranking[position + 1..] {
                    above[a * candidates + b] += 1;
                }
                ranked[a] = true;
            }
            for &a in ranking {
                for b in (0..candidates).filter(|&b| !ranked[b]) {
                    above[a * candidates + b] += 1;
                }
            }
        }
        Ok(Self { candidates, above })
    }

    /// Number of candidates.
    #[must_use]
    pub const fn candidates(&self) -> usize {
        self.candidates
    }

    /// Voters ranking `a` above `b`; 0 when either is out of range.
    #[must_use]
    pub fn prefer(&self, a: usize, b: usize) -> u64 {
        if a < self.candidates && b < self.candidates {
            self.above[a * self.candidates + b]
        } else {
            0
        }
    }

    /// The candidate that beats every other by a strict pairwise majority, if any. `None` on a
    /// majority cycle (the Condorcet paradox) and when pairwise ties leave no one unbeaten by
    /// everyone.
    #[must_use]
    pub fn condorcet_winner(&self) -> Option<usize> {
        (0..self.candidates).find(|&a| {
            (0..self.candidates).all(|b| a == b || self.prefer(a, b) > self.prefer(b, a))
        })
    }

    /// Copeland scores in half-points, to stay integral: 2 per pairwise win, 1 per pairwise
    /// tie. The Condorcet winner, when there is one, is the unique Copeland winner; without one
    /// this is the usual fallback.
    #[must_use]
    pub fn copeland(&self) -> Tally {
        let scores = (0..self.candidates)
            .map(|a| {
                (0..self.candidates)
                    .filter(|&b| b != a)
                    .map(|b| match self.prefer(a, b).cmp(&self.prefer(b, a)) {
                        std::cmp::Ordering::Greater => 2,
                        std::cmp::Ordering::Equal => 1,
                        std::cmp::Ordering::Less => 0,
                    })
                    .sum()
            })
            .collect();
        Tally { scores }
    }
}

/// The Condorcet winner of ranked ballots, if any; see [`PairwiseMatrix::condorcet_winner`].
///
/// ```
/// # use agora_agents::conflicts::procedures::condorcet_winner;
/// // The Condorcet paradox: a > b > c, b > c > a, c > a > b.
/// let cycle = [vec![0, 1, 2], vec![1, 2, 0], vec![2, 0, 1]];
/// assert_eq!(condorcet_winner(3, &cycle).unwrap(), None);
/// ```
///
/// # Errors
/// [`ConflictError::CandidateOutOfRange`] or [`ConflictError::DuplicateCandidate`].
pub fn condorcet_winner<B: AsRef<[usize]>>(
    candidates: usize,
    ballots: &[B],
) -> Result<Option<usize>, ConflictError> {
    Ok(PairwiseMatrix::new(candidates, ballots)?.condorcet_winner())
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    use super::*;

    /// `count` copies of `ranking`.
    fn voters(profile: &[(usize, &[usize])]) -> Vec<Vec<usize>> {
        profile
            .iter()
            .flat_map(|&(count, ranking)| std::iter::repeat_n(ranking.to_vec(), count))
            .collect()
    }

    #[test]
    fn condorcet_cycle_has_no_winner_and_ties_everywhere() {
        let (a, b, c) = (0, 1, 2);
        let ballots = voters(&[(1, &[a, b, c]), (1, &[b, c, a]), (1, &[c, a, b])]);
        let matrix = PairwiseMatrix::new(3, &ballots).unwrap();
        assert_eq!(
            (
                matrix.prefer(a, b),
                matrix.prefer(b, c),
                matrix.prefer(c, a)
            ),
            (2, 2, 2)
        );
        assert_eq!(
            (
                matrix.prefer(b, a),
                matrix.prefer(c, b),
                matrix.prefer(a, c)
            ),
            (1, 1, 1)
        );
        assert_eq!(matrix.condorcet_winner(), None);
        assert_eq!(matrix.copeland().scores(), &[2, 2, 2]);
        let borda = borda(3, &ballots).unwrap();
        assert_eq!(borda.scores(), &[3, 3, 3]);
        assert_eq!(borda.leaders(), vec![0, 1, 2]);
        assert_eq!((borda.winner(), borda.margin()), (Some(0), 0));
        assert_eq!(plurality(3, &ballots).unwrap().winner(), Some(0));
    }

    #[test]
    fn plurality_and_borda_disagree_and_borda_misses_the_condorcet_winner() {
        // 3 voters a > b > c, 2 voters b > c > a: plurality a (3 to 2); Borda b (a: 3*2 = 6,
        // b: 3*1 + 2*2 = 7, c: 2*1 = 2). a beats both rivals 3 to 2, so a is the Condorcet
        // winner, which Borda misses here.
        let (a, b, c) = (0, 1, 2);
        let ballots = voters(&[(3, &[a, b, c]), (2, &[b, c, a])]);
        let plural = plurality(3, &ballots).unwrap();
        assert_eq!(
            (plural.scores(), plural.winner(), plural.margin()),
            (&[3, 2, 0][..], Some(a), 1)
        );
        let borda = borda(3, &ballots).unwrap();
        assert_eq!(
            (borda.scores(), borda.winner(), borda.margin()),
            (&[6, 7, 2][..], Some(b), 1)
        );
        assert_eq!(condorcet_winner(3, &ballots).unwrap(), Some(a));
    }

    #[test]
    fn borda_and_condorcet_pick_the_compromise_plurality_misses() {
        // The textbook 4-candidate profile: 40 a > b > c > d, 35 c > b > d > a,
        // 25 d > b > c > a. Plurality a; Borda b (40*2 + 35*2 + 25*2 = 200; a: 40*3 = 120,
        // c: 40 + 35*3 + 25 = 170, d: 35 + 25*3 = 110); b also beats every rival pairwise.
        let (a, b, c, d) = (0, 1, 2, 3);
        let ballots = voters(&[
            (40, &[a, b, c, d]),
            (35, &[c, b, d, a]),
            (25, &[d, b, c, a]),
        ]);
        assert_eq!(plurality(4, &ballots).unwrap().scores(), &[40, 0, 35, 25]);
        let borda = borda(4, &ballots).unwrap();
        assert_eq!(borda.scores(), &[120, 200, 170, 110]);
        assert_eq!(borda.winner(), Some(b));
        let matrix = PairwiseMatrix::new(4, &ballots).unwrap();
        assert_eq!(matrix.condorcet_winner(), Some(b));
        assert_eq!(matrix.copeland().winner(), Some(b));
        assert_eq!(matrix.copeland().scores()[b], 6);
    }

    #[test]
    fn approval_counts_sets() {
        let ballots: [&[usize]; 4] = [&[0, 2], &[2], &[1, 2, 3], &[]];
        let tally = approval(4, &ballots).unwrap();
        assert_eq!(tally.scores(), &[1, 1, 3, 1]);
        assert_eq!((tally.winner(), tally.margin()), (Some(2), 2));
    }

    #[test]
    fn truncated_ballots_follow_the_documented_conventions() {
        let ballots: [&[usize]; 2] = [&[2], &[1, 0]];
        // Borda: 2 points for a top rank among 3 candidates, nothing for the unranked.
        assert_eq!(borda(3, &ballots).unwrap().scores(), &[1, 2, 2]);
        let matrix = PairwiseMatrix::new(3, &ballots).unwrap();
        assert_eq!(
            (
                matrix.prefer(2, 0),
                matrix.prefer(2, 1),
                matrix.prefer(0, 1)
            ),
            (1, 1, 0)
        );
        assert_eq!(
            (
                matrix.prefer(1, 0),
                matrix.prefer(1, 2),
                matrix.prefer(0, 2)
            ),
            (1, 1, 1)
        );
        assert_eq!(matrix.condorcet_winner(), None);
    }

    #[test]
    fn ties_break_to_the_lowest_candidate_or_a_uniform_draw() {
        let ballots: [&[usize]; 4] = [&[3], &[1], &[3], &[1]];
        let tally = plurality(4, &ballots).unwrap();
        assert_eq!((tally.leaders(), tally.winner()), (vec![1, 3], Some(1)));
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        let draws: Vec<usize> = (0..2000)
            .filter_map(|_| tally.winner_with(&mut rng))
            .collect();
        let threes = draws.iter().filter(|&&w| w == 3).count();
        assert!(draws.iter().all(|&w| w == 1 || w == 3));
        // Binomial(2000, 1/2): standard deviation 22.
        assert!((threes as i64 - 1000).abs() < 110, "{threes}");
        let clear = plurality(4, &[[2]]).unwrap();
        assert_eq!(clear.winner_with(&mut rng), Some(2));
        let nobody = plurality::<[usize; 0]>(0, &[]).unwrap();
        assert_eq!(
            (
                nobody.winner(),
                nobody.winner_with(&mut rng),
                nobody.margin()
            ),
            (None, None, 0)
        );
    }

    #[test]
    fn malformed_ballots_are_errors() {
        assert_eq!(
            borda(3, &[vec![0, 1], vec![2, 3]]),
            Err(ConflictError::CandidateOutOfRange {
                ballot: 1,
                candidate: 3,
                candidates: 3
            })
        );
        assert_eq!(
            approval(3, &[vec![1, 1]]),
            Err(ConflictError::DuplicateCandidate {
                ballot: 0,
                candidate: 1
            })
        );
        assert!(PairwiseMatrix::new(2, &[vec![0, 0]]).is_err());
        // The same candidate on different ballots is fine.
        assert!(plurality(2, &[vec![0], vec![0]]).is_ok());
    }
}
