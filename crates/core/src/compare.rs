//! Output comparison: does what the program printed match what the test expects?
//!
//! A mismatch carries a message that points at the first difference (line and column, 1-based), because "wrong
//! answer" alone teaches nobody anything. Hidden tests use [`Mismatch::hidden_message`] instead, which gives nothing away.

use crate::model::Compare;

/// Where and how the actual output first differs from the expected output.
#[derive(Debug, Clone, PartialEq)]
pub struct Mismatch {
    message: String,
}

impl Mismatch {
    pub(crate) fn new(message: String) -> Self {
        Mismatch { message }
    }

    /// The full explanation: first differing line and column, expected and actual excerpts.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// What a hidden test may say: that it failed, not how.
    pub fn hidden_message() -> &'static str {
        "output differs from the expected output (hidden test: details withheld)"
    }
}

/// Longest excerpt of a line quoted in a mismatch message, in characters.
const EXCERPT_CHARS: usize = 60;

/// Compares `actual` with `expected` under `mode`.
pub fn compare(mode: &Compare, expected: &str, actual: &str) -> Result<(), Mismatch> {
    match *mode {
        Compare::Exact => compare_exact(expected, actual),
        Compare::TrailingWhitespace => compare_lines(&normalised_lines(expected), &normalised_lines(actual)),
        Compare::Tokens => compare_tokens(expected, actual, |e, a| e == a),
        Compare::Float { abs_tol, rel_tol } => {
            compare_tokens(expected, actual, |e, a| e == a || floats_close(e, a, abs_tol, rel_tol))
        }
        // `unordered` is checked to be a function entry's mode, whose values grade compares; as text it means lines.
        Compare::UnorderedLines | Compare::Unordered => compare_unordered(expected, actual),
    }
}

fn compare_exact(expected: &str, actual: &str) -> Result<(), Mismatch> {
    if expected == actual {
        return Ok(());
    }
    if expected.trim_end_matches('\n') == actual.trim_end_matches('\n') {
        return Err(Mismatch::new("output differs only in its final newlines (compare mode exact)".to_string()));
    }
    let expected_lines: Vec<&str> = expected.split('\n').collect();
    let actual_lines: Vec<&str> = actual.split('\n').collect();
    compare_lines(&expected_lines, &actual_lines)
}

/// Lines with trailing spaces/tabs/CR removed, and trailing blank lines dropped.
fn normalised_lines(text: &str) -> Vec<&str> {
    let mut lines: Vec<&str> = text.split('\n').map(|line| line.trim_end_matches([' ', '\t', '\r'])).collect();
    while lines.last().is_some_and(|line| line.is_empty()) {
        lines.pop();
    }
    lines
}

fn compare_lines(expected: &[&str], actual: &[&str]) -> Result<(), Mismatch> {
    for (index, (e, a)) in expected.iter().zip(actual.iter()).enumerate() {
        if e != a {
            let column = first_difference(e, a) + 1;
            return Err(Mismatch::new(format!(
                "line {}, column {}: expected {}, got {}",
                index + 1,
                column,
                excerpt(e, column - 1),
                excerpt(a, column - 1)
            )));
        }
    }
    match expected.len().cmp(&actual.len()) {
        std::cmp::Ordering::Equal => Ok(()),
        std::cmp::Ordering::Greater => Err(Mismatch::new(format!(
            "line {}: expected {}, got the end of the output ({} lines instead of {})",
            actual.len() + 1,
            excerpt(expected[actual.len()], 0),
            actual.len(),
            expected.len()
        ))),
        std::cmp::Ordering::Less => Err(Mismatch::new(format!(
            "line {}: expected the end of the output, got {} ({} lines instead of {})",
            expected.len() + 1,
            excerpt(actual[expected.len()], 0),
            actual.len(),
            expected.len()
        ))),
    }
}

/// Index (in characters) of the first character where the two strings differ.
fn first_difference(a: &str, b: &str) -> usize {
    a.chars().zip(b.chars()).take_while(|(x, y)| x == y).count()
}

/// A quoted piece of `line` around character `from`, so long lines do not flood the message.
fn excerpt(line: &str, from: usize) -> String {
    let start = from.saturating_sub(EXCERPT_CHARS / 4);
    let total = line.chars().count();
    let piece: String = line.chars().skip(start).take(EXCERPT_CHARS).collect();
    let prefix = if start > 0 { "…" } else { "" };
    let suffix = if start + EXCERPT_CHARS < total { "…" } else { "" };
    format!("{:?}", format!("{prefix}{piece}{suffix}"))
}

/// A token and where it stands (1-based line and column), for messages.
struct Token<'a> {
    text: &'a str,
    line: usize,
    column: usize,
}

fn tokens(text: &str) -> Vec<Token<'_>> {
    let mut out = Vec::new();
    for (line_index, line) in text.split('\n').enumerate() {
        let mut rest = line;
        let mut column_chars = 0;
        while !rest.is_empty() {
            let skipped = rest.len() - rest.trim_start().len();
            column_chars += rest[..skipped].chars().count();
            rest = &rest[skipped..];
            if rest.is_empty() {
                break;
            }
            let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
            out.push(Token { text: &rest[..end], line: line_index + 1, column: column_chars + 1 });
            column_chars += rest[..end].chars().count();
            rest = &rest[end..];
        }
    }
    out
}

fn compare_tokens(expected: &str, actual: &str, equal: impl Fn(&str, &str) -> bool) -> Result<(), Mismatch> {
    let expected_tokens = tokens(expected);
    let actual_tokens = tokens(actual);
    for (index, (e, a)) in expected_tokens.iter().zip(actual_tokens.iter()).enumerate() {
        if !equal(e.text, a.text) {
            return Err(Mismatch::new(format!(
                "token {} (line {}, column {}): expected {}, got {}",
                index + 1,
                a.line,
                a.column,
                excerpt(e.text, 0),
                excerpt(a.text, 0)
            )));
        }
    }
    match expected_tokens.len().cmp(&actual_tokens.len()) {
        std::cmp::Ordering::Equal => Ok(()),
        std::cmp::Ordering::Greater => Err(Mismatch::new(format!(
            "token {}: expected {}, got the end of the output ({} tokens instead of {})",
            actual_tokens.len() + 1,
            excerpt(expected_tokens[actual_tokens.len()].text, 0),
            actual_tokens.len(),
            expected_tokens.len()
        ))),
        std::cmp::Ordering::Less => {
            let extra = &actual_tokens[expected_tokens.len()];
            Err(Mismatch::new(format!(
                "token {} (line {}, column {}): expected the end of the output, got {} ({} tokens instead of {})",
                expected_tokens.len() + 1,
                extra.line,
                extra.column,
                excerpt(extra.text, 0),
                actual_tokens.len(),
                expected_tokens.len()
            )))
        }
    }
}

/// Equal within an absolute or a relative tolerance. Non-finite values must match exactly (inf == inf; NaN never).
pub fn floats_close(expected: &str, actual: &str, abs_tol: f64, rel_tol: f64) -> bool {
    let (Ok(e), Ok(a)) = (expected.parse::<f64>(), actual.parse::<f64>()) else {
        return false;
    };
    if !e.is_finite() || !a.is_finite() {
        return e == a;
    }
    let difference = (e - a).abs();
    difference <= abs_tol || difference <= rel_tol * e.abs().max(a.abs())
}

fn compare_unordered(expected: &str, actual: &str) -> Result<(), Mismatch> {
    let mut expected_lines = normalised_lines(expected);
    let mut actual_lines = normalised_lines(actual);
    expected_lines.sort_unstable();
    actual_lines.sort_unstable();
    let (mut e, mut a) = (0, 0);
    // Walk both sorted lists to name a line that is missing or extra.
    while e < expected_lines.len() && a < actual_lines.len() {
        match expected_lines[e].cmp(actual_lines[a]) {
            std::cmp::Ordering::Equal => {
                e += 1;
                a += 1;
            }
            std::cmp::Ordering::Less => return Err(missing_line(expected_lines[e])),
            std::cmp::Ordering::Greater => return Err(unexpected_line(actual_lines[a])),
        }
    }
    if let Some(line) = expected_lines.get(e) {
        return Err(missing_line(line));
    }
    if let Some(line) = actual_lines.get(a) {
        return Err(unexpected_line(line));
    }
    Ok(())
}

fn missing_line(line: &str) -> Mismatch {
    Mismatch::new(format!(
        "expected line {} is missing from the output (lines compared in any order)",
        excerpt(line, 0)
    ))
}

fn unexpected_line(line: &str) -> Mismatch {
    Mismatch::new(format!("the output has an unexpected line {} (lines compared in any order)", excerpt(line, 0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn float(abs_tol: f64, rel_tol: f64) -> Compare {
        Compare::Float { abs_tol, rel_tol }
    }

    #[test]
    fn exact_requires_every_byte() {
        assert!(compare(&Compare::Exact, "3\n", "3\n").is_ok());
        let err = compare(&Compare::Exact, "3\n", "3").unwrap_err();
        assert!(err.message().contains("final newlines"), "{}", err.message());
        let err = compare(&Compare::Exact, "a\nb\n", "a\r\nb\r\n").unwrap_err();
        assert!(err.message().contains("line 1, column 2"), "{}", err.message());
        let err = compare(&Compare::Exact, "3 \n", "3\n").unwrap_err();
        assert!(err.message().contains("line 1, column 2"), "{}", err.message());
    }

    #[test]
    fn trailing_whitespace_ignores_line_ends_and_blank_tail_only() {
        let mode = Compare::TrailingWhitespace;
        assert!(compare(&mode, "1 2\n3\n", "1 2   \r\n3\t\n\n\n").is_ok());
        assert!(compare(&mode, "1 2\n3", "1 2\n3\n").is_ok());
        assert!(compare(&mode, "", "\n\n").is_ok());
        // Leading whitespace and inner whitespace still count.
        let err = compare(&mode, "1 2\n", " 1 2\n").unwrap_err();
        assert_eq!(err.message(), "line 1, column 1: expected \"1 2\", got \" 1 2\"");
        let err = compare(&mode, "1 2\n", "1  2\n").unwrap_err();
        assert!(err.message().starts_with("line 1, column 3"), "{}", err.message());
        // A blank line in the middle is a line.
        assert!(compare(&mode, "a\nb\n", "a\n\nb\n").is_err());
    }

    #[test]
    fn trailing_whitespace_names_missing_and_extra_lines() {
        let mode = Compare::TrailingWhitespace;
        let err = compare(&mode, "1\n2\n3\n", "1\n2\n").unwrap_err();
        assert_eq!(err.message(), "line 3: expected \"3\", got the end of the output (2 lines instead of 3)");
        let err = compare(&mode, "1\n", "1\n2\n").unwrap_err();
        assert_eq!(err.message(), "line 2: expected the end of the output, got \"2\" (2 lines instead of 1)");
    }

    #[test]
    fn column_counts_characters_not_bytes() {
        let err = compare(&Compare::TrailingWhitespace, "héllo wörld", "héllo world").unwrap_err();
        assert!(err.message().starts_with("line 1, column 8"), "{}", err.message());
    }

    #[test]
    fn long_lines_are_quoted_in_excerpts() {
        let expected = "x".repeat(1000) + "a";
        let actual = "x".repeat(1000) + "b";
        let err = compare(&Compare::TrailingWhitespace, &expected, &actual).unwrap_err();
        assert!(err.message().starts_with("line 1, column 1001"), "{}", err.message());
        assert!(err.message().len() < 200, "{}", err.message());
    }

    #[test]
    fn tokens_ignore_all_whitespace_layout() {
        assert!(compare(&Compare::Tokens, "1 2 3\n", "1\n2\t3").is_ok());
        assert!(compare(&Compare::Tokens, "", "  \n ").is_ok());
        let err = compare(&Compare::Tokens, "1 2 3", "1\n  5 3").unwrap_err();
        assert_eq!(err.message(), "token 2 (line 2, column 3): expected \"2\", got \"5\"");
        let err = compare(&Compare::Tokens, "1 2", "1 2 3").unwrap_err();
        assert!(err.message().contains("expected the end of the output"), "{}", err.message());
        let err = compare(&Compare::Tokens, "1 2", "1").unwrap_err();
        assert!(err.message().contains("got the end of the output"), "{}", err.message());
    }

    #[test]
    fn float_tolerances_at_their_edges() {
        // Absolute: |1.0 - 1.1| = 0.1 (slightly above in binary), so the edge is checked with exact binary values.
        assert!(compare(&float(0.5, 0.0), "1.0", "1.5").is_ok());
        assert!(compare(&float(0.5, 0.0), "1.0", "1.5000001").is_err());
        // Relative: 1% of 1000 is 10.
        assert!(compare(&float(0.0, 0.01), "1000", "1010").is_ok());
        assert!(compare(&float(0.0, 0.01), "1000", "1010.5").is_err());
        // Defaults: 1e-6.
        let default = float(1e-6, 1e-6);
        assert!(compare(&default, "3.1415926", "3.1415927").is_ok());
        assert!(compare(&default, "0.3333", "0.3334").is_err());
        // Non-numbers compare as text; numbers in other spellings compare as numbers.
        assert!(compare(&default, "yes 2.50", "yes 2.5").is_ok());
        assert!(compare(&default, "yes", "Yes").is_err());
        assert!(compare(&default, "inf", "inf").is_ok());
        assert!(compare(&default, "NaN", "NaN").is_ok(), "identical text is equal, even NaN");
        assert!(!floats_close("NaN", "nan", 1.0, 1.0));
        assert!(!floats_close("inf", "1e308", 1.0, 1.0));
    }

    #[test]
    fn unordered_lines_compare_multisets() {
        let mode = Compare::UnorderedLines;
        assert!(compare(&mode, "a\nb\nc\n", "c\na  \nb").is_ok());
        let err = compare(&mode, "a\nb\nb\n", "b\na\n").unwrap_err();
        assert!(err.message().contains("\"b\" is missing"), "{}", err.message());
        let err = compare(&mode, "a\nb\n", "b\na\nz\n").unwrap_err();
        assert!(err.message().contains("unexpected line \"z\""), "{}", err.message());
        assert!(compare(&mode, "", "").is_ok());
    }
}
