//! Maps field paths to source positions in a RON file and back.
//!
//! ron reports syntax and type errors with a position but, for most of them, without the field;
//! semantic checks (a zero-size world, an unknown behavior name) happen after parsing, when
//! positions are gone. A small tolerant scan of the source records where every value starts and
//! ends under its path, which gives both directions. It never fails: on text it does not
//! understand it skips ahead, since ron itself reports the syntax error.

/// Field path to source span index for one RON document.
#[derive(Debug, Clone, Default)]
pub struct Locator {
    spans: Vec<(String, usize, usize)>,
    line_starts: Vec<usize>,
    text: String,
}

impl Locator {
    /// Scans `src`.
    pub fn new(src: &str) -> Locator {
        let mut line_starts = vec![0];
        line_starts.extend(src.match_indices('\n').map(|(i, _)| i + 1));
        let mut scan = Scan {
            b: src.as_bytes(),
            i: 0,
            spans: Vec::new(),
        };
        scan.skip_ws();
        scan.skip_attributes();
        scan.value(String::new(), 0);
        Locator {
            spans: scan.spans,
            line_starts,
            text: src.to_owned(),
        }
    }

    /// 1-based (line, column) of a byte offset; columns count characters, as ron does.
    pub fn position(&self, offset: usize) -> (usize, usize) {
        let line = self.line_starts.partition_point(|&s| s <= offset).max(1);
        let start = self.line_starts[line - 1];
        let col = self
            .text
            .get(start..offset.min(self.text.len()))
            .map_or(1, |s| s.chars().count() + 1);
        (line, col)
    }

    /// Byte offset of a 1-based (line, column).
    pub fn offset(&self, line: usize, col: usize) -> usize {
        let start = self
            .line_starts
            .get(line.saturating_sub(1))
            .copied()
            .unwrap_or(self.text.len());
        let rest = &self.text[start..];
        start
            + rest
                .char_indices()
                .nth(col.saturating_sub(1))
                .map_or(rest.len(), |(i, _)| i)
    }

    /// Where the value at `path` starts.
    pub fn position_of(&self, path: &str) -> Option<(usize, usize)> {
        self.spans
            .iter()
            .find(|(p, _, _)| p == path)
            .map(|&(_, start, _)| self.position(start))
    }

    /// The deepest field path whose value contains the 1-based position.
    pub fn path_at(&self, line: usize, col: usize) -> Option<&str> {
        let off = self.offset(line, col);
        self.spans
            .iter()
            .filter(|(_, s, e)| *s <= off && off < (*e).max(*s + 1))
            .max_by_key(|(p, s, _)| (p.len(), *s))
            .map(|(p, _, _)| p.as_str())
    }
}

struct Scan<'a> {
    b: &'a [u8],
    i: usize,
    spans: Vec<(String, usize, usize)>,
}

const MAX_DEPTH: usize = 128;

impl Scan<'_> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn skip_ws(&mut self) {
        loop {
            match self.peek() {
                Some(c) if c.is_ascii_whitespace() => self.i += 1,
                Some(b'/') if self.b.get(self.i + 1) == Some(&b'/') => {
                    while let Some(c) = self.peek() {
                        self.i += 1;
                        if c == b'\n' {
                            break;
                        }
                    }
                }
                Some(b'/') if self.b.get(self.i + 1) == Some(&b'*') => {
                    self.i += 2;
                    let mut depth = 1;
                    while depth > 0 && self.i < self.b.len() {
                        if self.b[self.i..].starts_with(b"/*") {
                            depth += 1;
                            self.i += 2;
                        } else if self.b[self.i..].starts_with(b"*/") {
                            depth -= 1;
                            self.i += 2;
                        } else {
                            self.i += 1;
                        }
                    }
                }
                _ => return,
            }
        }
    }

    fn skip_attributes(&mut self) {
        while self.b[self.i..].starts_with(b"#!") {
            while let Some(c) = self.peek() {
                self.i += 1;
                if c == b']' {
                    break;
                }
            }
            self.skip_ws();
        }
    }

    fn ident(&mut self) -> &str {
        let start = self.i;
        while let Some(c) = self.peek() {
            if c.is_ascii_alphanumeric() || c == b'_' {
                self.i += 1;
            } else {
                break;
            }
        }
        std::str::from_utf8(&self.b[start..self.i]).unwrap_or("")
    }

    fn string(&mut self) -> String {
        // Opening quote.
        self.i += 1;
        let start = self.i;
        while let Some(c) = self.peek() {
            self.i += 1;
            match c {
                b'\\' => self.i += 1,
                b'"' => return String::from_utf8_lossy(&self.b[start..self.i - 1]).into_owned(),
                _ => {}
            }
        }
        String::from_utf8_lossy(&self.b[start..]).into_owned()
    }

    fn value(&mut self, path: String, depth: usize) {
        self.skip_ws();
        let start = self.i;
        if depth > MAX_DEPTH {
            self.i = self.b.len();
            return;
        }
        match self.peek() {
            None => return,
            Some(b'(') => self.paren(&path, depth),
            Some(b'[') => self.list(&path, depth),
            Some(b'{') => self.map(&path, depth),
            Some(b'"') => {
                self.string();
            }
            Some(b'\'') => {
                self.i += 1;
                while let Some(c) = self.peek() {
                    self.i += 1;
                    if c == b'\\' {
                        self.i += 1;
                    } else if c == b'\'' {
                        break;
                    }
                }
            }
            Some(c) if c.is_ascii_alphabetic() || c == b'_' => {
                self.ident();
                self.skip_ws();
                if self.peek() == Some(b'(') {
                    self.paren(&path, depth);
                }
            }
            Some(c) if c.is_ascii_digit() || c == b'-' || c == b'+' || c == b'.' => {
                self.i += 1;
                while let Some(c) = self.peek() {
                    if c.is_ascii_alphanumeric() || c == b'.' || c == b'_' || c == b'-' || c == b'+'
                    {
                        self.i += 1;
                    } else {
                        break;
                    }
                }
            }
            Some(_) => {
                self.i += 1;
                return;
            }
        }
        self.spans.push((path, start, self.i));
    }

    fn child(path: &str, field: &str) -> String {
        if path.is_empty() {
            field.to_owned()
        } else {
            format!("{path}.{field}")
        }
    }

    fn paren(&mut self, path: &str, depth: usize) {
        self.i += 1;
        let mut index = 0;
        loop {
            self.skip_ws();
            match self.peek() {
                None => return,
                Some(b')') => {
                    self.i += 1;
                    return;
                }
                Some(b',') => {
                    self.i += 1;
                    continue;
                }
                _ => {}
            }
            let before = self.i;
            let save = self.i;
            let name = if self
                .peek()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == b'_')
            {
                let name = self.ident().to_owned();
                self.skip_ws();
                if self.peek() == Some(b':') && self.b.get(self.i + 1) != Some(&b':') {
                    self.i += 1;
                    Some(name)
                } else {
                    self.i = save;
                    None
                }
            } else {
                None
            };
            match name {
                Some(name) => self.value(Self::child(path, &name), depth + 1),
                None => {
                    self.value(format!("{path}[{index}]"), depth + 1);
                    index += 1;
                }
            }
            if self.i == before {
                self.i += 1;
            }
        }
    }

    fn list(&mut self, path: &str, depth: usize) {
        self.i += 1;
        let mut index = 0;
        loop {
            self.skip_ws();
            match self.peek() {
                None => return,
                Some(b']') => {
                    self.i += 1;
                    return;
                }
                Some(b',') => {
                    self.i += 1;
                    continue;
                }
                _ => {}
            }
            let before = self.i;
            self.value(format!("{path}[{index}]"), depth + 1);
            index += 1;
            if self.i == before {
                self.i += 1;
            }
        }
    }

    fn map(&mut self, path: &str, depth: usize) {
        self.i += 1;
        loop {
            self.skip_ws();
            match self.peek() {
                None => return,
                Some(b'}') => {
                    self.i += 1;
                    return;
                }
                Some(b',') => {
                    self.i += 1;
                    continue;
                }
                _ => {}
            }
            let before = self.i;
            let key = if self.peek() == Some(b'"') {
                self.string()
            } else {
                self.ident().to_owned()
            };
            self.skip_ws();
            if self.peek() == Some(b':') {
                self.i += 1;
                self.value(Self::child(path, &key), depth + 1);
            }
            if self.i == before {
                self.i += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SRC: &str = "#![enable(implicit_some)]\n// comment\n(\n  seed: 4,\n  populations: [\n    (behavior: \"flocking\", count: 10, params: (speed: 1.5)),\n  ],\n  metric_params: {\"x\": (a: 1)},\n)";

    #[test]
    fn finds_positions_of_nested_fields() {
        let loc = Locator::new(SRC);
        assert_eq!(loc.position_of("seed"), Some((4, 9)));
        assert_eq!(loc.position_of("populations[0].behavior"), Some((6, 16)));
        assert_eq!(
            loc.position_of("populations[0].params.speed"),
            Some((6, 55))
        );
        assert_eq!(loc.position_of("metric_params.x.a"), Some((8, 28)));
    }

    #[test]
    fn finds_the_deepest_path_at_a_position() {
        let loc = Locator::new(SRC);
        assert_eq!(loc.path_at(6, 56), Some("populations[0].params.speed"));
        assert_eq!(loc.path_at(6, 50), Some("populations[0].params"));
        assert_eq!(loc.path_at(6, 35), Some("populations[0].count"));
        assert_eq!(loc.path_at(4, 9), Some("seed"));
    }

    #[test]
    fn never_panics_on_garbage() {
        for src in [
            "",
            "(",
            "((((",
            "(a: [1, 2",
            "\"unterminated",
            "(a: b::c)",
            "#![x",
            "{\"k\" 1}",
        ] {
            let loc = Locator::new(src);
            let _ = loc.path_at(1, 3);
            let _ = loc.position(src.len());
        }
    }
}
