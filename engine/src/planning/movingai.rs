//! Parsers for the MovingAI grid benchmark formats: `.map` files into a [`GridMap`] and `.scen`
//! scenario files into start/goal pairs with their published optimal lengths.
//!
//! Terrain characters: `.` (ground) and `G` (ground) are passable; `@` and `O` (out of bounds)
//! and `T` (trees) are blocked. `S` (swamp) is passable: the format defines it as enterable
//! from ground. `W` (water) is blocked: the format allows entering it only from water, a
//! terrain-class rule [`GridMap`] does not model, and the octile benchmarks' optimal lengths
//! treat it as impassable for ground agents. All passable cells cost 1.0, as in the
//! benchmarks, whose optimal lengths assume eight-connected moves (diagonals `sqrt(2)`) without
//! corner cutting, which is what [`super::grid::astar`] does with
//! [`super::grid::Connectivity::Eight`].

use thiserror::Error;

use super::grid::{Cell, GridError, GridMap};

/// Errors from parsing MovingAI files. Line numbers start at 1.
#[derive(Debug, Clone, PartialEq, Error)]
#[non_exhaustive]
pub enum MovingAiError {
    /// A line does not have the expected shape.
    #[error("line {line}: expected {expected}, found {found}")]
    Syntax {
        /// 1-based line number (one past the last line for a truncated file).
        line: usize,
        /// What the parser wanted there.
        expected: String,
        /// What it got, quoted, or "end of file".
        found: String,
    },
    /// A map row contains a character outside the terrain alphabet.
    #[error(
        "line {line}, column {column}: expected a terrain character (one of . G S @ O T W), \
         found {found:?}"
    )]
    UnknownTerrain {
        /// 1-based line number.
        line: usize,
        /// 1-based column (character position).
        column: usize,
        /// The offending character.
        found: char,
    },
    /// The declared dimensions cannot form a grid.
    #[error("line {line}: {source}")]
    InvalidSize {
        /// Line of the `map` keyword, after which the size is final.
        line: usize,
        /// Why the grid was rejected.
        source: GridError,
    },
}

/// Terrain characters that can be entered; every other known character is blocked.
fn terrain_passable(c: char) -> Option<bool> {
    match c {
        '.' | 'G' | 'S' => Some(true),
        '@' | 'O' | 'T' | 'W' => Some(false),
        _ => None,
    }
}

fn syntax(line: usize, expected: impl Into<String>, found: Option<&str>) -> MovingAiError {
    MovingAiError::Syntax {
        line,
        expected: expected.into(),
        found: found.map_or_else(|| "end of file".to_owned(), |f| format!("{f:?}")),
    }
}

/// Line source that remembers the current 1-based line number, or one past the last line once
/// the text is exhausted, for error messages.
struct LineReader<'a> {
    lines: std::str::Lines<'a>,
    seen: usize,
    line: usize,
}

impl<'a> LineReader<'a> {
    fn next(&mut self) -> Option<&'a str> {
        let line = self.lines.next();
        if line.is_some() {
            self.seen += 1;
        }
        self.line = if line.is_some() {
            self.seen
        } else {
            self.seen + 1
        };
        line
    }
}

/// Parses a `.map` file: `type octile`, `height H`, `width W` (these two in either order),
/// `map`, then `H` rows of exactly `W` terrain characters. Trailing blank lines are allowed;
/// anything else after the last row is an error.
pub fn parse_map(text: &str) -> Result<GridMap, MovingAiError> {
    let mut lines = LineReader {
        lines: text.lines(),
        seen: 0,
        line: 0,
    };
    let line = lines.next();
    match line
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .as_deref()
    {
        Some(["type", "octile"]) => {}
        _ => return Err(syntax(lines.line, "`type octile`", line)),
    }

    let mut height = None;
    let mut width = None;
    let map_line = loop {
        let line = lines.next();
        let words: Vec<&str> = line
            .map(|l| l.split_whitespace().collect())
            .unwrap_or_default();
        match words.as_slice() {
            ["map"] if height.is_some() && width.is_some() => break lines.line,
            [key @ ("height" | "width"), value] => {
                let slot = if *key == "height" {
                    &mut height
                } else {
                    &mut width
                };
                if slot.is_some() {
                    return Err(syntax(
                        lines.line,
                        "`map` after one `height` and one `width`",
                        line,
                    ));
                }
                let parsed = value.parse::<u32>().map_err(|_| {
                    syntax(
                        lines.line,
                        format!("`{key} N` with N a non-negative integer"),
                        line,
                    )
                })?;
                *slot = Some(parsed);
            }
            _ => {
                let expected = match (height, width) {
                    (Some(_), Some(_)) => "`map`",
                    (None, Some(_)) => "`height N`",
                    (Some(_), None) => "`width N`",
                    (None, None) => "`height N` or `width N`",
                };
                return Err(syntax(lines.line, expected, line));
            }
        }
    };
    let (height, width) = (height.unwrap_or(0), width.unwrap_or(0));

    // Capacity bounded by the text itself: the header alone must not be able to request a
    // huge allocation.
    let cells = u64::from(width) * u64::from(height);
    let mut passable = Vec::with_capacity(cells.min(text.len() as u64) as usize);
    for row in 0..height {
        let line = lines
            .next()
            .ok_or_else(|| syntax(lines.line, format!("map row {} of {height}", row + 1), None))?;
        let before = passable.len();
        for (col, c) in line.chars().enumerate() {
            if col >= width as usize {
                return Err(syntax(
                    lines.line,
                    format!("a row of {width} characters"),
                    Some(line),
                ));
            }
            let open = terrain_passable(c).ok_or(MovingAiError::UnknownTerrain {
                line: lines.line,
                column: col + 1,
                found: c,
            })?;
            passable.push(open);
        }
        if passable.len() - before != width as usize {
            return Err(syntax(
                lines.line,
                format!("a row of {width} characters"),
                Some(line),
            ));
        }
    }
    while let Some(line) = lines.next() {
        if !line.trim().is_empty() {
            return Err(syntax(
                lines.line,
                format!("end of file after {height} map rows"),
                Some(line),
            ));
        }
    }
    GridMap::from_passable(width, height, passable).map_err(|source| MovingAiError::InvalidSize {
        line: map_line,
        source,
    })
}

/// One benchmark problem from a `.scen` file.
#[derive(Debug, Clone, PartialEq)]
pub struct ScenarioEntry {
    /// Difficulty bucket (problems are grouped by optimal length).
    pub bucket: u32,
    /// Map file the problem refers to, as written.
    pub map: String,
    /// Map width the problem was generated for.
    pub map_width: u32,
    /// Map height the problem was generated for.
    pub map_height: u32,
    /// Start cell `(x, y)`.
    pub start: Cell,
    /// Goal cell `(x, y)`.
    pub goal: Cell,
    /// Published optimal path length (eight-connected, diagonal `sqrt(2)`, no corner cutting).
    pub optimal_length: f64,
}

/// A parsed `.scen` file.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Scenario {
    /// The version token from the first line (`"1"` or `"1.0"` in published sets).
    pub version: String,
    /// Problems in file order.
    pub entries: Vec<ScenarioEntry>,
}

const SCEN_FIELDS: &str = "9 fields: bucket map width height start_x start_y goal_x goal_y \
                           optimal_length";

/// Parses a `.scen` file: a `version V` line, then one problem per non-blank line with nine
/// whitespace-separated fields. Start and goal must lie inside the stated map size, and the
/// optimal length must be finite and non-negative.
pub fn parse_scen(text: &str) -> Result<Scenario, MovingAiError> {
    let mut lines = text.lines().enumerate().map(|(i, l)| (i + 1, l));
    let first = lines.next();
    let version = match first
        .map(|(_, l)| l.split_whitespace().collect::<Vec<_>>())
        .as_deref()
    {
        Some(["version", v]) if v.parse::<f64>().is_ok_and(f64::is_finite) => (*v).to_owned(),
        _ => return Err(syntax(1, "`version N`", first.map(|(_, l)| l))),
    };
    let mut entries = Vec::new();
    for (line_no, line) in lines {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.is_empty() {
            continue;
        }
        let [bucket, map, w, h, sx, sy, gx, gy, len] = fields[..] else {
            return Err(syntax(line_no, SCEN_FIELDS, Some(line)));
        };
        let int = |value: &str, name: &str| {
            value.parse::<u32>().map_err(|_| {
                syntax(
                    line_no,
                    format!("{name} as a non-negative integer"),
                    Some(value),
                )
            })
        };
        let map_width = int(w, "width")?;
        let map_height = int(h, "height")?;
        let coord = |value: &str, name: &str, limit: u32, side: &str| {
            let v = int(value, name)?;
            if v < limit {
                Ok(v)
            } else {
                Err(syntax(
                    line_no,
                    format!("{name} < {side} {limit}"),
                    Some(value),
                ))
            }
        };
        let start = (
            coord(sx, "start_x", map_width, "width")?,
            coord(sy, "start_y", map_height, "height")?,
        );
        let goal = (
            coord(gx, "goal_x", map_width, "width")?,
            coord(gy, "goal_y", map_height, "height")?,
        );
        let optimal_length = len
            .parse::<f64>()
            .ok()
            .filter(|l| l.is_finite() && *l >= 0.0)
            .ok_or_else(|| syntax(line_no, "optimal_length as a finite number >= 0", Some(len)))?;
        entries.push(ScenarioEntry {
            bucket: int(bucket, "bucket")?,
            map: map.to_owned(),
            map_width,
            map_height,
            start,
            goal,
            optimal_length,
        });
    }
    Ok(Scenario { version, entries })
}

#[cfg(test)]
mod tests {
    use super::super::grid::{AstarScratch, Connectivity, astar};
    use super::*;

    const MAP: &str = "type octile\nheight 4\nwidth 6\nmap\n......\n.@@T..\n.SWO.G\n......\n";

    #[test]
    fn parses_map_and_terrain() {
        let map = parse_map(MAP).unwrap();
        assert_eq!((map.width(), map.height()), (6, 4));
        let blocked = [(1, 1), (2, 1), (3, 1), (2, 2), (3, 2)];
        for y in 0..4 {
            for x in 0..6 {
                assert_eq!(
                    map.is_passable((x, y)),
                    !blocked.contains(&(x, y)),
                    "({x}, {y})"
                );
            }
        }
        assert_eq!(map.min_cost(), 1.0);
    }

    #[test]
    fn accepts_crlf_swapped_header_and_trailing_blank_lines() {
        let text = "type octile\r\nwidth 2\r\nheight 1\r\nmap\r\n.@\r\n\r\n\n";
        let map = parse_map(text).unwrap();
        assert_eq!((map.width(), map.height()), (2, 1));
        assert!(map.is_passable((0, 0)) && !map.is_passable((1, 0)));
    }

    fn map_error(text: &str) -> MovingAiError {
        parse_map(text).unwrap_err()
    }

    #[test]
    fn malformed_maps_name_line_and_expectation() {
        let e = map_error("type tile\nheight 1\nwidth 1\nmap\n.\n");
        assert_eq!(e, syntax(1, "`type octile`", Some("type tile")));
        let e = map_error("type octile\nheight x\nwidth 1\nmap\n.\n");
        assert!(matches!(e, MovingAiError::Syntax { line: 2, .. }), "{e}");
        assert!(e.to_string().contains("non-negative integer"), "{e}");
        let e = map_error("type octile\nheight 1\nmap\n.\n");
        assert_eq!(e, syntax(3, "`width N`", Some("map")));
        let e = map_error("type octile\nheight 1\nheight 1\nwidth 1\nmap\n.\n");
        assert!(matches!(e, MovingAiError::Syntax { line: 3, .. }), "{e}");
        let e = map_error("type octile\nheight 2\nwidth 3\nmap\n...\n..\n");
        assert_eq!(e, syntax(6, "a row of 3 characters", Some("..")));
        let e = map_error("type octile\nheight 2\nwidth 3\nmap\n....\n...\n");
        assert_eq!(e, syntax(5, "a row of 3 characters", Some("....")));
        let e = map_error("type octile\nheight 3\nwidth 3\nmap\n...\n...\n");
        assert_eq!(e, syntax(7, "map row 3 of 3", None));
        assert!(e.to_string().contains("found end of file"), "{e}");
        let e = map_error("type octile\nheight 1\nwidth 3\nmap\n.x.\n");
        assert_eq!(
            e,
            MovingAiError::UnknownTerrain {
                line: 5,
                column: 2,
                found: 'x'
            }
        );
        let e = map_error("type octile\nheight 1\nwidth 1\nmap\n.\n@\n");
        assert_eq!(e, syntax(6, "end of file after 1 map rows", Some("@")));
        let e = map_error("type octile\nheight 0\nwidth 4\nmap\n");
        assert!(
            matches!(e, MovingAiError::InvalidSize { line: 4, .. }),
            "{e}"
        );
        assert!(matches!(
            map_error(""),
            MovingAiError::Syntax { line: 1, .. }
        ));
    }

    const SCEN: &str = "version 1\n\
        0\tsmall.map\t6\t4\t0\t0\t5\t0\t5\n\
        1\tsmall.map\t6\t4\t0\t0\t5\t3\t7.41421356\n\
        \n\
        1\tsmall.map\t6\t4\t0\t2\t4\t2\t5.41421356\n";

    /// Optimal lengths computed by hand on `MAP`: along the top row (5); around the wall via
    /// (4,0) and one diagonal (6 + sqrt 2); under the water via (1,3), where the diagonal out of
    /// (3,3) is refused because (3,2) is blocked (4 + sqrt 2).
    #[test]
    fn parses_scenario_and_optimal_lengths_match_astar() {
        let scen = parse_scen(SCEN).unwrap();
        assert_eq!(scen.version, "1");
        assert_eq!(scen.entries.len(), 3);
        assert_eq!(
            scen.entries[1],
            ScenarioEntry {
                bucket: 1,
                map: "small.map".into(),
                map_width: 6,
                map_height: 4,
                start: (0, 0),
                goal: (5, 3),
                optimal_length: 7.41421356,
            }
        );
        let map = parse_map(MAP).unwrap();
        let mut scratch = AstarScratch::new();
        for entry in &scen.entries {
            let path = astar(
                &map,
                entry.start,
                entry.goal,
                Connectivity::Eight,
                &mut scratch,
            );
            let cost = path.map(|p| p.cost).unwrap_or(f64::NAN);
            assert!(
                (cost - entry.optimal_length).abs() < 1e-6,
                "{entry:?}: {cost}"
            );
        }
    }

    #[test]
    fn malformed_scenarios_name_line_and_expectation() {
        let e = parse_scen("versio 1\n").unwrap_err();
        assert_eq!(e, syntax(1, "`version N`", Some("versio 1")));
        let e = parse_scen("version 1\n0 a.map 4 4 0 0 1 1\n").unwrap_err();
        assert_eq!(e, syntax(2, SCEN_FIELDS, Some("0 a.map 4 4 0 0 1 1")));
        let e = parse_scen("version 1\n0 a.map 4 4 0 0 1 1 1.4\n0 a.map 4 4 0 -1 1 1 1\n");
        let e = e.unwrap_err();
        assert_eq!(
            e,
            syntax(3, "start_y as a non-negative integer", Some("-1"))
        );
        let e = parse_scen("version 1\n0 a.map 4 4 4 0 1 1 1\n").unwrap_err();
        assert_eq!(e, syntax(2, "start_x < width 4", Some("4")));
        let e = parse_scen("version 1\n0 a.map 4 4 0 0 1 1 inf\n").unwrap_err();
        assert!(
            e.to_string().starts_with("line 2: expected optimal_length"),
            "{e}"
        );
    }
}
