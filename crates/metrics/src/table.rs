//! Plain-text tables with aligned columns.

/// Horizontal alignment of a column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Align {
    Left,
    Right,
}

/// A table under construction: headers, alignments, rows and optional separator rows.
pub(crate) struct TextTable {
    headers: Vec<String>,
    aligns: Vec<Align>,
    rows: Vec<Option<Vec<String>>>,
}

impl TextTable {
    /// A table with these column headers and alignments (same length).
    pub(crate) fn new(headers: Vec<String>, aligns: Vec<Align>) -> Self {
        debug_assert_eq!(headers.len(), aligns.len());
        Self {
            headers,
            aligns,
            rows: Vec::new(),
        }
    }

    /// Appends a row; missing cells print empty, extra cells are dropped.
    pub(crate) fn row(&mut self, cells: Vec<String>) {
        self.rows.push(Some(cells));
    }

    /// Appends a dashed rule.
    pub(crate) fn rule(&mut self) {
        self.rows.push(None);
    }

    /// Renders with two spaces between columns, a rule under the header and no
    /// trailing spaces; every line ends with `\n`.
    pub(crate) fn render(&self) -> String {
        let n = self.headers.len();
        let mut widths: Vec<usize> = self.headers.iter().map(|h| width(h)).collect();
        for row in self.rows.iter().flatten() {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(width(cell));
            }
        }
        let mut out = String::new();
        self.line(&mut out, &self.headers, &widths);
        let rule_line = rule(&widths);
        out.push_str(&rule_line);
        for row in &self.rows {
            match row {
                Some(cells) => self.line(&mut out, &cells[..cells.len().min(n)], &widths),
                None => out.push_str(&rule_line),
            }
        }
        out
    }

    fn line(&self, out: &mut String, cells: &[String], widths: &[usize]) {
        let mut line = String::new();
        for (i, w) in widths.iter().enumerate() {
            if i > 0 {
                line.push_str("  ");
            }
            let cell = cells.get(i).map(String::as_str).unwrap_or("");
            let pad = " ".repeat(w.saturating_sub(width(cell)));
            match self.aligns[i] {
                Align::Left => {
                    line.push_str(cell);
                    line.push_str(&pad);
                }
                Align::Right => {
                    line.push_str(&pad);
                    line.push_str(cell);
                }
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
}

fn rule(widths: &[usize]) -> String {
    let parts: Vec<String> = widths.iter().map(|&w| "-".repeat(w)).collect();
    format!("{}\n", parts.join("  "))
}

/// Display width, counted in chars (class names are expected to be plain text).
fn width(s: &str) -> usize {
    s.chars().count()
}

/// Name of class `i`: the given name, or `class i` when the list is too short.
pub(crate) fn class_name<S: AsRef<str>>(names: &[S], i: usize) -> String {
    names
        .get(i)
        .map(|s| s.as_ref().to_string())
        .unwrap_or_else(|| format!("class {i}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_align() {
        let mut t = TextTable::new(
            vec!["name".into(), "n".into()],
            vec![Align::Left, Align::Right],
        );
        t.row(vec!["a".into(), "100".into()]);
        t.rule();
        t.row(vec!["longer".into(), "2".into()]);
        assert_eq!(
            t.render(),
            "name      n\n------  ---\na       100\n------  ---\nlonger    2\n"
        );
    }
}
