//! Optimal one-to-one matching of tracks to detections (the Hungarian method).

/// Matches rows to columns one-to-one so that the sum of the similarities of the matched pairs is
/// as large as possible. `similarity(row, col)` is `None` for a pair that must not be matched
/// (another class, or below the IoU gate) and otherwise a value above 0. Returns the matched
/// `(row, col)` pairs by increasing row.
///
/// Deterministic: among equally good matchings the one found first by scanning rows and columns
/// in increasing index order wins, so the result depends only on the inputs and their order.
pub(crate) fn match_by_similarity(rows: usize, cols: usize, similarity: impl Fn(usize, usize) -> Option<f64>) -> Vec<(usize, usize)> {
    // A forbidden pair costs 0, the same as leaving both unmatched, so maximising the total
    // similarity is minimising the total cost with cost = -similarity on allowed pairs.
    let cost_of = |row: usize, col: usize| similarity(row, col).map_or(0.0, |s| -s);
    let allowed = |(row, col): &(usize, usize)| similarity(*row, *col).is_some();
    let mut pairs: Vec<(usize, usize)> = if rows <= cols {
        min_cost_assignment(rows, cols, cost_of).into_iter().enumerate().collect()
    } else {
        min_cost_assignment(cols, rows, |col, row| cost_of(row, col)).into_iter().enumerate().map(|(col, row)| (row, col)).collect()
    };
    pairs.retain(allowed);
    pairs.sort_unstable();
    pairs
}

/// Minimum-cost assignment of every one of `rows` rows to a distinct one of `cols ≥ rows`
/// columns (shortest augmenting paths with potentials, O(rows² · cols)). Returns the column of
/// each row. Costs must be finite.
fn min_cost_assignment(rows: usize, cols: usize, cost: impl Fn(usize, usize) -> f64) -> Vec<usize> {
    // 1-based rows and columns; row 0 and column 0 are the virtual start of each augmenting path.
    let mut row_potential = vec![0.0_f64; rows + 1];
    let mut col_potential = vec![0.0_f64; cols + 1];
    let mut row_of_col = vec![0_usize; cols + 1];
    let mut previous_col = vec![0_usize; cols + 1];
    for row in 1..=rows {
        row_of_col[0] = row;
        let mut col = 0;
        let mut min_reduced = vec![f64::INFINITY; cols + 1];
        let mut visited = vec![false; cols + 1];
        loop {
            visited[col] = true;
            let current_row = row_of_col[col];
            let mut delta = f64::INFINITY;
            let mut next_col = 0;
            for c in 1..=cols {
                if visited[c] {
                    continue;
                }
                let reduced = cost(current_row - 1, c - 1) - row_potential[current_row] - col_potential[c];
                if reduced < min_reduced[c] {
                    min_reduced[c] = reduced;
                    previous_col[c] = col;
                }
                if min_reduced[c] < delta {
                    delta = min_reduced[c];
                    next_col = c;
                }
            }
            for c in 0..=cols {
                if visited[c] {
                    row_potential[row_of_col[c]] += delta;
                    col_potential[c] -= delta;
                } else {
                    min_reduced[c] -= delta;
                }
            }
            col = next_col;
            if row_of_col[col] == 0 {
                break;
            }
        }
        while col != 0 {
            let previous = previous_col[col];
            row_of_col[col] = row_of_col[previous];
            col = previous;
        }
    }
    let mut col_of_row = vec![0; rows];
    for c in 1..=cols {
        if row_of_col[c] != 0 {
            col_of_row[row_of_col[c] - 1] = c - 1;
        }
    }
    col_of_row
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(sims: &[&[f64]]) -> impl Fn(usize, usize) -> Option<f64> {
        move |r, c| Some(sims[r][c]).filter(|s| *s > 0.0)
    }

    #[test]
    fn the_best_total_beats_the_greedy_choice() {
        // Greedy takes (0, 0) = 0.9 and leaves row 1 unmatched; the optimum matches both.
        let sims: &[&[f64]] = &[&[0.9, 0.8], &[0.85, 0.0]];
        assert_eq!(match_by_similarity(2, 2, table(sims)), vec![(0, 1), (1, 0)]);
    }

    #[test]
    fn forbidden_pairs_stay_unmatched_in_both_orientations() {
        let wide: &[&[f64]] = &[&[0.0, 0.3, 0.0], &[0.0, 0.0, 0.0]];
        assert_eq!(match_by_similarity(2, 3, table(wide)), vec![(0, 1)]);
        let tall: &[&[f64]] = &[&[0.0, 0.0], &[0.0, 0.7], &[0.6, 0.5]];
        assert_eq!(match_by_similarity(3, 2, table(tall)), vec![(1, 1), (2, 0)]);
    }

    #[test]
    fn ties_go_to_the_lowest_indices() {
        let sims: &[&[f64]] = &[&[0.5, 0.5], &[0.5, 0.5]];
        assert_eq!(match_by_similarity(2, 2, table(sims)), vec![(0, 0), (1, 1)]);
        let one_row: &[&[f64]] = &[&[0.5, 0.5, 0.5]];
        assert_eq!(match_by_similarity(1, 3, table(one_row)), vec![(0, 0)]);
    }

    #[test]
    fn nothing_to_match_is_empty() {
        assert!(match_by_similarity(0, 4, |_, _| Some(1.0)).is_empty());
        assert!(match_by_similarity(3, 0, |_, _| Some(1.0)).is_empty());
    }
}
