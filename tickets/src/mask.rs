//! QR mask selection by the penalty rules of ISO/IEC 18004 (section 7.8.3).
//!
//! Why not the `qrcode` crate's own choice: its penalty scoring allocates a boxed closure per
//! 7-module window, which makes one ticket-sized symbol cost about a millisecond, ten times
//! everything else a ticket needs. The crate still builds the symbol (codewords, function
//! patterns, format information); this module only picks which of the eight masks to keep,
//! scoring plain boolean grids. Any mask yields a valid symbol, so the choice affects how easily
//! scanners read it, never what they read.

use qrcode::canvas::{Canvas, MaskPattern};

/// The eight masks of a normal (non-micro) QR symbol, in pattern-number order; ties keep the
/// lowest number.
const MASKS: [MaskPattern; 8] = [
    MaskPattern::Checkerboard,
    MaskPattern::HorizontalLines,
    MaskPattern::VerticalLines,
    MaskPattern::DiagonalLines,
    MaskPattern::LargeCheckerboard,
    MaskPattern::Fields,
    MaskPattern::Diamonds,
    MaskPattern::Meadow,
];

/// N1: a run of five same-coloured modules in a row or column.
const RUN_PENALTY: u32 = 3;
/// N2: a 2x2 block of one colour.
const BLOCK_PENALTY: u32 = 3;
/// N3: a 1:1:3:1:1 finder-like pattern with four light modules on one side.
const FINDER_LIKE_PENALTY: u32 = 40;
/// N4: each full 5% the dark share deviates from 50%.
const BALANCE_PENALTY: u32 = 10;

/// Dark-light-dark-dark-dark-light-dark, the finder pattern's 1:1:3:1:1 cross-section.
const FINDER_CORE: [bool; 7] = [true, false, true, true, true, false, true];

/// Applies each mask to `unmasked` (function patterns and data drawn, no mask yet) and returns the
/// modules, row-major with `true` for dark, of the one with the lowest penalty.
pub(crate) fn best_masked_modules(unmasked: &Canvas, width: usize) -> Vec<bool> {
    MASKS
        .iter()
        .map(|mask| {
            let mut canvas = unmasked.clone();
            canvas.apply_mask(*mask);
            let modules: Vec<bool> = canvas
                .into_colors()
                .into_iter()
                .map(|c| c == qrcode::Color::Dark)
                .collect();
            (penalty(&modules, width), modules)
        })
        // `min_by_key` keeps the first of equal minima: the lowest pattern number.
        .min_by_key(|(score, _)| *score)
        .map(|(_, modules)| modules)
        .expect("MASKS is not empty")
}

/// Total penalty N1 + N2 + N3 + N4 of a square grid.
pub(crate) fn penalty(modules: &[bool], width: usize) -> u32 {
    // Columns are scored as the rows of the transposed grid, so every line is a contiguous slice.
    let transposed: Vec<bool> = (0..width * width)
        .map(|index| modules[(index % width) * width + index / width])
        .collect();
    let lines = modules
        .chunks_exact(width)
        .chain(transposed.chunks_exact(width));
    let line_score: u32 = lines
        .map(|line| run_penalty(line) + finder_like_penalty(line))
        .sum();
    line_score + block_penalty(modules, width) + balance_penalty(modules)
}

/// N1 for one row or column: 3 for a run of five, one more per module beyond five.
fn run_penalty(line: &[bool]) -> u32 {
    let score_of = |run: u32| if run >= 5 { RUN_PENALTY + (run - 5) } else { 0 };
    let Some((&first, rest)) = line.split_first() else {
        return 0;
    };
    let (mut score, mut run, mut colour) = (0, 1, first);
    for &module in rest {
        if module == colour {
            run += 1;
        } else {
            score += score_of(run);
            (run, colour) = (1, module);
        }
    }
    score + score_of(run)
}

/// N3 for one row or column: each finder-like core with four light modules before or after it
/// (outside the symbol counts as light: the quiet zone) scores once per light side.
fn finder_like_penalty(line: &[bool]) -> u32 {
    let light = |index: isize| index < 0 || line.get(index as usize).is_none_or(|dark| !dark);
    let mut score = 0;
    for (start, window) in line.windows(FINDER_CORE.len()).enumerate() {
        // Element by element so most windows are rejected at their first module.
        if !window
            .iter()
            .zip(FINDER_CORE)
            .all(|(module, core)| *module == core)
        {
            continue;
        }
        let start = start as isize;
        let end = start + FINDER_CORE.len() as isize;
        if (start - 4..start).all(light) {
            score += FINDER_LIKE_PENALTY;
        }
        if (end..end + 4).all(light) {
            score += FINDER_LIKE_PENALTY;
        }
    }
    score
}

/// N2: every 2x2 block of one colour, overlapping blocks counted separately.
fn block_penalty(modules: &[bool], width: usize) -> u32 {
    let rows = modules.chunks_exact(width);
    let blocks: usize = rows
        .clone()
        .zip(rows.skip(1))
        .map(|(upper, lower)| {
            upper
                .windows(2)
                .zip(lower.windows(2))
                .filter(|(u, l)| u[0] == u[1] && l[0] == l[1] && u[0] == l[0])
                .count()
        })
        .sum();
    BLOCK_PENALTY * blocks as u32
}

/// N4: 10 points per full 5% between the dark share and one half.
fn balance_penalty(modules: &[bool]) -> u32 {
    if modules.is_empty() {
        return 0;
    }
    let total = modules.len() as u32;
    let dark = modules.iter().filter(|m| **m).count() as u32;
    // |dark/total - 1/2| / 5% == |20 dark - 10 total| / total
    BALANCE_PENALTY * ((20 * dark).abs_diff(10 * total) / total)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(pattern: &str) -> Vec<bool> {
        pattern.chars().map(|c| c == '#').collect()
    }

    #[test]
    fn runs_score_from_five_modules() {
        assert_eq!(run_penalty(&line("####.")), 0);
        assert_eq!(run_penalty(&line("#####")), 3);
        assert_eq!(run_penalty(&line(".#######.")), 5);
        assert_eq!(run_penalty(&line(".....#.....")), 6);
        assert_eq!(run_penalty(&line("#.#.#.#.#.")), 0);
    }

    #[test]
    fn finder_like_patterns_score_per_light_side() {
        assert_eq!(finder_like_penalty(&line("....#.###.#....")), 80);
        assert_eq!(finder_like_penalty(&line("#...#.###.#...#")), 0);
        assert_eq!(finder_like_penalty(&line("##..#.###.#....")), 40);
        // At the edge the quiet zone is light on that side.
        assert_eq!(finder_like_penalty(&line("#.###.##")), 40);
        assert_eq!(finder_like_penalty(&line("#.##..#....")), 0);
    }

    #[test]
    fn blocks_overlap() {
        // 3x3 all dark: four 2x2 blocks.
        assert_eq!(block_penalty(&[true; 9], 3), 12);
        assert_eq!(block_penalty(&line("#..#"), 2), 0);
        assert_eq!(block_penalty(&line("....").to_vec(), 2), 3);
    }

    #[test]
    fn balance_counts_full_five_percent_steps() {
        assert_eq!(balance_penalty(&line("##..")), 0);
        // 11 of 20 dark = 55%: one full step.
        let mut grid = vec![false; 20];
        grid[..11].fill(true);
        assert_eq!(balance_penalty(&grid), 10);
        // 14 of 20 = 70%: four steps.
        grid[..14].fill(true);
        assert_eq!(balance_penalty(&grid), 40);
        assert_eq!(balance_penalty(&[false; 20]), 100);
    }
}
