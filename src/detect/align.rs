//! Alignment of an original's tokens against a candidate's: exact runs found from k-gram
//! seeds, merged into passages across small gaps.
//!
//! This module owns the matching algorithm only; the verdict lives in `detect`. It must
//! never be worse than linear in practice: seeds come from one hash map over the
//! candidate, each original position is examined once, and a seed shared by many candidate
//! positions (boilerplate, repeated phrases) is only tried at its first few occurrences.

use std::collections::HashMap;

use crate::text::{mix64, Token};

/// Tokens per seed. Four CJK characters (about two words) or four words are rarely shared
/// by chance once the passage filter has run; fewer would make seeds ambiguous, more would
/// miss runs between closely spaced edits.
pub const SEED_TOKENS: usize = 4;
/// A seed found at more candidate positions than this is tried at the first ones only, so
/// a pathological candidate (one phrase repeated thousands of times) stays linear.
const MAX_SEED_OCCURRENCES: usize = 16;
/// End of a chain in the candidate index.
const NONE: u32 = u32::MAX;

/// An exact run of equal tokens: `len` tokens from `original` in the original and from
/// `candidate` in the candidate (token indices).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Run {
    /// First token of the run in the original.
    pub original: usize,
    /// First token of the run in the candidate.
    pub candidate: usize,
    /// Number of tokens, at least `SEED_TOKENS`.
    pub len: usize,
}

impl Run {
    fn original_end(&self) -> usize {
        self.original + self.len
    }

    fn candidate_end(&self) -> usize {
        self.candidate + self.len
    }
}

/// Hashes of every k-gram (`SEED_TOKENS` tokens) starting at each position.
fn seeds(tokens: &[Token]) -> Vec<u64> {
    tokens
        .windows(SEED_TOKENS)
        .map(|w| {
            let mut h = 0u64;
            for t in w {
                h = (h.rotate_left(16) ^ t.hash).wrapping_mul(0x9e37_79b9_7f4a_7c15);
            }
            mix64(h)
        })
        .collect()
}

/// Candidate positions by seed hash: `head` maps a hash to its first position and `next`
/// chains later ones, which avoids one `Vec` allocation per distinct seed.
struct SeedIndex {
    head: HashMap<u64, u32>,
    next: Vec<u32>,
}

impl SeedIndex {
    fn new(candidate: &[Token]) -> SeedIndex {
        let hashes = seeds(candidate);
        let mut head = HashMap::with_capacity(hashes.len());
        let mut next = vec![NONE; hashes.len()];
        // Inserting from the back makes every chain run in increasing position order.
        for (pos, &h) in hashes.iter().enumerate().rev() {
            let pos32 = u32::try_from(pos).unwrap_or(NONE);
            if let Some(old) = head.insert(h, pos32) {
                next[pos] = old;
            }
        }
        SeedIndex { head, next }
    }

    fn positions(&self, hash: u64) -> impl Iterator<Item = usize> + '_ {
        let mut at = self.head.get(&hash).copied().unwrap_or(NONE);
        std::iter::from_fn(move || {
            if at == NONE {
                return None;
            }
            let pos = at as usize;
            at = self.next.get(pos).copied().unwrap_or(NONE);
            Some(pos)
        })
        .take(MAX_SEED_OCCURRENCES)
    }
}

/// Length of the common run of `a` from `i` and `b` from `j`.
fn extend(a: &[Token], i: usize, b: &[Token], j: usize) -> usize {
    a[i..]
        .iter()
        .zip(&b[j..])
        .take_while(|(x, y)| x.hash == y.hash)
        .count()
}

/// Maximal exact runs of the original found in the candidate, in original order and not
/// overlapping in the original.
///
/// Greedy: at each original position the seed's candidate positions are extended and the
/// best run wins, where a run continuing the previous one (within `max_gap` tokens on both
/// sides) beats any other and a longer run beats a shorter one. When the best run at a
/// position jumps elsewhere in the candidate, the next `max_gap` positions are checked for
/// a continuation first: an edit inside a copied sentence often leaves a few tokens that
/// also occur in another sentence, and jumping there would cut the passage in two.
pub fn runs(original: &[Token], candidate: &[Token], max_gap: usize) -> Vec<Run> {
    let mut out: Vec<Run> = Vec::new();
    if original.len() < SEED_TOKENS || candidate.len() < SEED_TOKENS {
        return out;
    }
    let index = SeedIndex::new(candidate);
    let original_seeds = seeds(original);
    let continues = |last: Option<&Run>, i: usize, j: usize| {
        last.is_some_and(|l| {
            i >= l.original_end()
                && i - l.original_end() <= max_gap
                && j >= l.candidate_end()
                && j - l.candidate_end() <= max_gap
        })
    };
    // The best run starting at original position i, if any, and whether it continues `last`.
    let best_at = |i: usize, last: Option<&Run>| -> Option<(Run, bool)> {
        let mut best: Option<(Run, bool)> = None;
        for j in index.positions(original_seeds[i]) {
            let len = extend(original, i, candidate, j);
            if len < SEED_TOKENS {
                // A hash collision, not a real seed.
                continue;
            }
            let near = continues(last, i, j);
            let better = best.is_none_or(|(b, b_near)| (near, len) > (b_near, b.len));
            if better {
                best = Some((
                    Run {
                        original: i,
                        candidate: j,
                        len,
                    },
                    near,
                ));
            }
        }
        best
    };
    let mut i = 0;
    while i < original_seeds.len() {
        let Some((mut run, near)) = best_at(i, out.last()) else {
            i += 1;
            continue;
        };
        if !near && out.last().is_some() {
            let horizon = out
                .last()
                .map_or(i, |l| l.original_end() + max_gap)
                .min(original_seeds.len() - 1);
            let continuation =
                (i + 1..=horizon).find_map(|k| best_at(k, out.last()).filter(|&(_, near)| near));
            if let Some((next, _)) = continuation {
                run = next;
            }
        }
        out.push(run);
        i = run.original_end();
    }
    out
}

/// Groups runs into passages: consecutive runs whose gaps are at most `max_gap` tokens in
/// both texts (and that move forward in the candidate) belong to one passage, so light
/// edits, leftover debris or a dropped word don't fragment a copied paragraph.
pub fn passages(runs: &[Run], max_gap: usize) -> Vec<Vec<Run>> {
    let mut out: Vec<Vec<Run>> = Vec::new();
    for &run in runs {
        let joins = out.last().and_then(|p| p.last()).is_some_and(|last| {
            let original_gap = run.original.saturating_sub(last.original_end());
            run.candidate >= last.candidate_end()
                && run.candidate - last.candidate_end() <= max_gap
                && original_gap <= max_gap
        });
        match out.last_mut() {
            Some(passage) if joins => passage.push(run),
            _ => out.push(vec![run]),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::normalize;

    fn tokens(s: &str) -> Vec<Token> {
        normalize(s).tokens
    }

    #[test]
    fn finds_runs_in_original_order() {
        let a = tokens("甲乙丙丁戊己庚辛壬癸子丑寅卯辰巳");
        let b = tokens("子丑寅卯辰巳无关内容甲乙丙丁戊己庚辛");
        let found = runs(&a, &b, 8);
        assert_eq!(
            found,
            [
                Run {
                    original: 0,
                    candidate: 10,
                    len: 8
                },
                Run {
                    original: 10,
                    candidate: 0,
                    len: 6
                }
            ]
        );
    }

    #[test]
    fn merges_runs_across_small_edits() {
        let a = tokens("一二三四五六七八九十百千万亿兆京");
        let b = tokens("一二三四五六七X九十百千万亿兆京");
        let found = runs(&a, &b, 8);
        assert_eq!(found.len(), 2);
        assert_eq!(passages(&found, 8).len(), 1);
        assert_eq!(passages(&found, 0).len(), 2);
    }

    #[test]
    fn short_or_empty_inputs() {
        assert!(runs(&tokens(""), &tokens("一二三四五"), 8).is_empty());
        assert!(runs(&tokens("一二三"), &tokens("一二三"), 8).is_empty());
        assert!(passages(&[], 8).is_empty());
    }

    #[test]
    fn repeated_phrase_candidate_stays_bounded() {
        let a = tokens(&"重复的话".repeat(2000));
        let b = tokens(&"重复的话".repeat(2000));
        let found = runs(&a, &b, 8);
        assert_eq!(found.iter().map(|r| r.len).sum::<usize>(), 8000);
    }
}
