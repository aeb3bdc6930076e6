//! Splitting a client command line into words, as a shell would: spaces
//! separate words, `"..."` and `'...'` keep spaces inside one word, and a
//! backslash takes the next character literally (`my\ file`).

/// Why a line could not be split.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WordsError {
    #[error("unterminated {0} quote")]
    UnterminatedQuote(char),
    #[error("a backslash at the end of the line escapes nothing")]
    TrailingBackslash,
}

/// Splits `line` into words.
pub fn split(line: &str) -> Result<Vec<String>, WordsError> {
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {
                if let Some(w) = word.take() {
                    words.push(w);
                }
            }
            '"' | '\'' => {
                let w = word.get_or_insert_with(String::new);
                loop {
                    match chars.next() {
                        Some(q) if q == c => break,
                        Some('\\') if c == '"' => match chars.next() {
                            Some(e) => w.push(e),
                            None => return Err(WordsError::UnterminatedQuote(c)),
                        },
                        Some(other) => w.push(other),
                        None => return Err(WordsError::UnterminatedQuote(c)),
                    }
                }
            }
            '\\' => match chars.next() {
                Some(e) => word.get_or_insert_with(String::new).push(e),
                None => return Err(WordsError::TrailingBackslash),
            },
            c => word.get_or_insert_with(String::new).push(c),
        }
    }
    words.extend(word);
    Ok(words)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_and_escapes() {
        assert_eq!(split("get  a b").unwrap(), ["get", "a", "b"]);
        assert_eq!(
            split("put \"my file.txt\" 'other name'").unwrap(),
            ["put", "my file.txt", "other name"]
        );
        assert_eq!(split(r"get my\ file").unwrap(), ["get", "my file"]);
        assert_eq!(split(r#"get "a \"q\" b""#).unwrap(), ["get", "a \"q\" b"]);
        assert_eq!(split("get ''").unwrap(), ["get", ""]);
        assert_eq!(split("   ").unwrap(), Vec::<String>::new());
        assert_eq!(split("get \"x"), Err(WordsError::UnterminatedQuote('"')));
        assert_eq!(split("get x\\"), Err(WordsError::TrailingBackslash));
    }
}
