//! Grid worlds from MovingAI benchmark maps (`.map` files, movingai.com/benchmarks).
//!
//! The format: a header of `type octile`, `height H`, `width W` and `map`, then `H` rows of
//! `W` terrain characters. `.`, `G` and `S` are passable; `@`, `O`, `T` and `W` are blocked
//! (water can only be entered from water, which a ground agent never is). Coordinates are
//! kept as MovingAI writes them, column `x` and row `y` of the file with row 0 first, so that
//! the start and goal cells of `.scen` files can be used as they are.

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// A grid world's map: the `map` field of the world section.
///
/// ```ron
/// map: File("maps/warehouse.map"),          // a MovingAI file, relative to the scenario
/// map: Rows(["....", ".@@.", "...."]),      // or the rows themselves, row 0 first
/// ```
///
/// A `File` is read when the scenario is loaded and kept as `Rows`, so the resolved scenario
/// (`scenario.ron` in a run folder) carries the map itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum MapSpec {
    /// A MovingAI `.map` file, relative to the scenario file's folder.
    File(String),
    /// Terrain rows, row 0 (y = 0) first, in the MovingAI alphabet.
    Rows(Vec<String>),
}

/// A parsed map: its size and its blocked cells, row by row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GridFile {
    /// Width in cells.
    pub width: u32,
    /// Height in cells.
    pub height: u32,
    /// Blocked cells `(x, y)`.
    pub blocked: Vec<(i32, i32)>,
    /// The terrain rows, row 0 first.
    pub rows: Vec<String>,
}

/// Parses the text of a `.map` file with the planning library's MovingAI parser
/// ([`crate::planning::movingai::parse_map`]); errors name the line.
pub fn parse_map(text: &str) -> Result<GridFile, String> {
    let map = crate::planning::movingai::parse_map(text).map_err(|e| e.to_string())?;
    let (width, height) = (map.width(), map.height());
    if width == 0 || height == 0 || width > 65_536 || height > 65_536 {
        return Err(format!(
            "a map needs 1 to 65536 cells a side, got {width}x{height}"
        ));
    }
    let blocked = (0..height)
        .flat_map(|y| (0..width).map(move |x| (x, y)))
        .filter(|&c| !map.is_passable(c))
        .map(|(x, y)| (x as i32, y as i32))
        .collect();
    // The parser checked the rows: they are the `height` lines after the `map` line.
    let rows = text
        .lines()
        .skip_while(|l| l.trim() != "map")
        .skip(1)
        .take(height as usize)
        .map(|r| r.trim_end().to_owned())
        .collect();
    Ok(GridFile {
        width,
        height,
        blocked,
        rows,
    })
}

/// Parses terrain rows (row 0 first) without a header.
pub fn parse_rows(rows: &[String]) -> Result<GridFile, String> {
    let height = rows.len() as u32;
    let width = rows.first().map_or(0, |r| r.chars().count()) as u32;
    let mut text = format!("type octile\nheight {height}\nwidth {width}\nmap\n");
    for r in rows {
        text.push_str(r);
        text.push('\n');
    }
    // Line numbers in errors count the four header lines; report rows instead.
    parse_map(&text).map_err(|e| match e.strip_prefix("line ") {
        Some(rest) => {
            let (n, tail) = rest
                .split_once(|c: char| !c.is_ascii_digit())
                .unwrap_or((rest, ""));
            match n.parse::<usize>() {
                Ok(n) if n > 4 => format!("row {}{tail}", n - 5),
                _ => e.clone(),
            }
        }
        None => e,
    })
}

/// The path of a map named in a scenario: relative to the scenario file's folder.
pub fn map_path(map: &str, scenario_file: Option<&Path>) -> PathBuf {
    let p = Path::new(map);
    match scenario_file.and_then(Path::parent) {
        Some(dir) if p.is_relative() => dir.join(p),
        _ => p.to_path_buf(),
    }
}

/// Reads and parses a map file.
pub fn read_map(path: &Path) -> Result<GridFile, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read map {}: {e}", path.display()))?;
    parse_map(&text).map_err(|e| format!("map {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_standard_header_and_terrain() {
        let text = "type octile\nheight 3\nwidth 4\nmap\n..@.\nGT.S\n.W.O\n";
        let m = parse_map(text).unwrap();
        assert_eq!((m.width, m.height), (4, 3));
        assert_eq!(m.blocked, vec![(2, 0), (1, 1), (1, 2), (3, 2)]);
    }

    #[test]
    fn bad_maps_name_the_line() {
        let e = parse_map("type octile\nheight 2\nwidth 3\nmap\n...\n.x.\n").unwrap_err();
        assert!(e.contains("line 6, column 2"), "{e}");
        let e = parse_map("type octile\nheight 2\nwidth 3\nmap\n...\n").unwrap_err();
        assert!(e.contains("line 6") && e.contains("end of file"), "{e}");
        let e = parse_map("type octile\nheight 2\nwidth 3\nmap\n....\n...\n").unwrap_err();
        assert!(e.contains("line 5"), "{e}");
        let e = parse_map("height two\n").unwrap_err();
        assert!(e.contains("line 1"), "{e}");
        assert!(parse_map("type octile\nmap\n").is_err());
    }

    #[test]
    fn rows_errors_name_the_row() {
        let e = parse_rows(&["...".into(), ".x.".into()]).unwrap_err();
        assert!(e.starts_with("row 1"), "{e}");
        let m = parse_rows(&["..@".into(), "...".into()]).unwrap();
        assert_eq!((m.width, m.height, m.blocked.clone()), (3, 2, vec![(2, 0)]));
    }
}
