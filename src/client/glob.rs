//! Wildcard patterns for `mget` and `mput`, as a shell reads them: `*` any
//! run of characters, `?` one character, `[abc]`, `[a-z]` and `[!a-z]` one
//! character of (or not of) a set, and `\x` a literal `x`.

/// True when `pattern` has wildcards (otherwise it names one file).
pub fn has_wildcards(pattern: &str) -> bool {
    pattern.contains(['*', '?', '['])
}

/// True when `name` matches `pattern` whole.
pub fn matches(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    match_at(&p, &n)
}

fn match_at(p: &[char], n: &[char]) -> bool {
    // Iterative with one backtrack point for the last `*`: linear in practice
    // and immune to exponential blow-up on patterns like `*a*a*a*b`.
    let (mut pi, mut ni) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        match p.get(pi) {
            Some('*') => {
                star = Some((pi, ni));
                pi += 1;
                continue;
            }
            Some(_) => {
                if let Some((len, ok)) = single(&p[pi..], n[ni]) {
                    if ok {
                        pi += len;
                        ni += 1;
                        continue;
                    }
                }
            }
            None => {}
        }
        match star {
            Some((sp, sn)) => {
                pi = sp + 1;
                ni = sn + 1;
                star = Some((sp, sn + 1));
            }
            None => return false,
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

/// Matches one character against the pattern element at the start of `p`:
/// returns the element's length and whether it matched.
fn single(p: &[char], c: char) -> Option<(usize, bool)> {
    match p.first()? {
        '?' => Some((1, true)),
        '\\' => p.get(1).map(|&e| (2, e == c)),
        '[' => {
            let mut i = 1;
            let negate = matches!(p.get(1), Some('!' | '^'));
            if negate {
                i += 1;
            }
            let mut found = false;
            let mut first = true;
            while let Some(&x) = p.get(i) {
                if x == ']' && !first {
                    return Some((i + 1, found != negate));
                }
                first = false;
                if p.get(i + 1) == Some(&'-') && p.get(i + 2).is_some_and(|&e| e != ']') {
                    found |= x <= c && c <= p[i + 2];
                    i += 3;
                } else {
                    found |= x == c;
                    i += 1;
                }
            }
            // No closing bracket: `[` is a literal.
            Some((1, c == '['))
        }
        &x => Some((1, x == c)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns() {
        assert!(matches("*.txt", "a.txt"));
        assert!(matches("*.txt", ".txt"));
        assert!(!matches("*.txt", "a.txt.gz"));
        assert!(matches("file?.bin", "file1.bin"));
        assert!(!matches("file?.bin", "file10.bin"));
        assert!(matches("[ab]*", "beta"));
        assert!(!matches("[!ab]*", "beta"));
        assert!(matches("log[0-9]", "log7"));
        assert!(matches("a\\*", "a*"));
        assert!(!matches("a\\*", "ab"));
        assert!(matches("*", ""));
        assert!(matches("*a*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaaaaaab"));
        assert!(!matches("*a*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaaaaaaa"));
        assert!(matches("naïve*", "naïve file.txt"));
        assert!(matches("[", "["));
        assert!(has_wildcards("*.c") && !has_wildcards("plain.c"));
    }
}
