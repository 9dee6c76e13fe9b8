//! Result tables: printed as they are made and written, between markers,
//! into `BENCHMARKS.md`, leaving the hand-written analysis around them alone.

use std::path::Path;

/// Where the generated part of `BENCHMARKS.md` starts.
pub const BEGIN: &str = "<!-- results:begin (written by scripts/bench.sh) -->";
/// Where it ends.
pub const END: &str = "<!-- results:end -->";

/// One table of results.
#[derive(Debug, Clone)]
pub struct Table {
    /// Heading.
    pub title: String,
    /// What was measured and how, in a sentence or two.
    pub note: String,
    /// Column names.
    pub header: Vec<String>,
    /// Cells, row by row.
    pub rows: Vec<Vec<String>>,
}

impl Table {
    /// An empty table.
    pub fn new(title: &str, note: &str, header: &[&str]) -> Self {
        Table {
            title: title.to_string(),
            note: note.to_string(),
            header: header.iter().map(|h| h.to_string()).collect(),
            rows: Vec::new(),
        }
    }

    /// Adds a row.
    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// The table as Markdown.
    pub fn markdown(&self) -> String {
        let mut out = format!("### {}\n\n{}\n\n", self.title, self.note);
        let line = |cells: &[String]| format!("| {} |\n", cells.join(" | "));
        out.push_str(&line(&self.header));
        let rule: Vec<String> = self
            .header
            .iter()
            .enumerate()
            .map(|(i, _)| if i == 0 { "---" } else { "---:" }.to_string())
            .collect();
        out.push_str(&line(&rule));
        for row in &self.rows {
            out.push_str(&line(row));
        }
        out
    }
}

/// Replaces the generated part of the file at `path` with `generated`
/// (creating the file, or appending the markers, when missing).
pub fn write_between_markers(path: &Path, generated: &str) -> std::io::Result<()> {
    let existing = std::fs::read_to_string(path).unwrap_or_default();
    let block = format!("{BEGIN}\n{generated}\n{END}");
    let updated = match (existing.find(BEGIN), existing.find(END)) {
        (Some(start), Some(end)) if end > start => {
            format!(
                "{}{block}{}",
                &existing[..start],
                &existing[end + END.len()..]
            )
        }
        _ if existing.is_empty() => format!("# Benchmarks\n\n{block}\n"),
        _ => format!("{}\n{block}\n", existing.trim_end()),
    };
    std::fs::write(path, updated)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_render_as_markdown_with_right_aligned_numbers() {
        let mut table = Table::new("T", "note", &["path", "ns"]);
        table.row(vec!["a".into(), "1".into()]);
        assert_eq!(
            table.markdown(),
            "### T\n\nnote\n\n| path | ns |\n| --- | ---: |\n| a | 1 |\n"
        );
    }

    #[test]
    fn only_the_generated_part_is_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("B.md");
        write_between_markers(&path, "one").unwrap();
        let first = std::fs::read_to_string(&path).unwrap();
        std::fs::write(&path, format!("{first}\n## Analysis\nkept\n")).unwrap();
        write_between_markers(&path, "two").unwrap();
        let second = std::fs::read_to_string(&path).unwrap();
        assert!(second.contains("two") && !second.contains("one"));
        assert!(second.ends_with("## Analysis\nkept\n"), "{second}");
        assert_eq!(second.matches(BEGIN).count(), 1);
    }
}
