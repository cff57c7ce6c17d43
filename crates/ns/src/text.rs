//! Words of namespace files and `ns` output. Plan 9's namespace(6) has no quoting; Linux
//! names may hold blanks, so a word may be quoted as rc quotes: `'a b'`, with `''` for a
//! quote inside. Words that need no quotes are written bare, so Plan 9 text reads as is.
//! A `{…}` group (a command to mount) is one word, as rc reads it.

use ninefold_fs::{Error, Result};

use crate::path::NsPath;
use crate::table::{Member, Source};

/// Values of `$name`.
pub type Vars<'a> = &'a dyn Fn(&str) -> Option<String>;

/// `s` as one word.
pub fn quote(s: &str) -> String {
    let plain = !s.is_empty()
        && !s
            .chars()
            .any(|c| c.is_whitespace() || c == '\'' || c == '$');
    if plain {
        return s.to_string();
    }
    format!("'{}'", s.replace('\'', "''"))
}

/// Split a line into words. Blanks and tabs separate; quotes as in [`quote`].
pub fn words(line: &str) -> Result<Vec<String>> {
    split(line, None)
}

/// As [`words`], with `$name` outside quotes replaced by `vars(name)` (empty when unset).
/// A name ends at a blank, `/`, `$` or a quote, as in namespace(6).
pub fn words_expanding(line: &str, vars: Vars<'_>) -> Result<Vec<String>> {
    split(line, Some(vars))
}

fn split(line: &str, vars: Option<Vars<'_>>) -> Result<Vec<String>> {
    let mut out = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.peek().is_none() {
            return Ok(out);
        }
        let mut w = String::new();
        while let Some(c) = chars.next_if(|c| !c.is_whitespace()) {
            match (c, vars) {
                ('\'', _) => loop {
                    match chars.next() {
                        None => return Err(Error::new("unmatched quote")),
                        Some('\'') if chars.next_if_eq(&'\'').is_some() => w.push('\''),
                        Some('\'') => break,
                        Some(c) => w.push(c),
                    }
                },
                // A `{command args}` mount source is one word, blanks and all, as in rc.
                ('{', _) => {
                    w.push('{');
                    let mut depth = 1;
                    while depth > 0 {
                        let Some(c) = chars.next() else {
                            return Err(Error::new("unmatched {"));
                        };
                        match c {
                            '{' => depth += 1,
                            '}' => depth -= 1,
                            _ => {}
                        }
                        w.push(c);
                    }
                }
                ('$', Some(vars)) => {
                    let mut name = String::new();
                    while let Some(c) =
                        chars.next_if(|c| !c.is_whitespace() && !matches!(c, '/' | '$' | '\''))
                    {
                        name.push(c);
                    }
                    if name.is_empty() {
                        w.push('$');
                    } else {
                        w.push_str(&vars(&name).unwrap_or_default());
                    }
                }
                (c, _) => w.push(c),
            }
        }
        out.push(w);
    }
}

/// One line of `ns` output: `bind -a #I /net`, `mount -c unix!/tmp/s /n/s spec`.
/// A plain replace leaves two blanks, as Plan 9 prints it; a mount keeps its trailing
/// blank when the spec is empty.
pub fn member_line(old: &NsPath, m: &Member) -> String {
    let old = quote(&old.to_string());
    match &m.source {
        Source::Bind(new) => format!("bind {} {} {}", m.flags, quote(new), old),
        Source::Mount { source, spec } => {
            let spec = if spec.is_empty() {
                String::new()
            } else {
                quote(spec)
            };
            format!("mount {} {} {} {}", m.flags, quote(source), old, spec)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_split_and_quote_round_trip() {
        assert_eq!(
            words("  bind -a\t#I /net ").unwrap(),
            ["bind", "-a", "#I", "/net"]
        );
        assert_eq!(words("bind  #c /dev").unwrap(), ["bind", "#c", "/dev"]);
        assert_eq!(words("cd '/a b'''").unwrap(), ["cd", "/a b'"]);
        assert_eq!(words("x ''").unwrap(), ["x", ""]);
        assert!(words("cd 'open").is_err());
        assert_eq!(
            words("mount -a {ninefold exportfs -r /tmp --stdio} /n/t").unwrap(),
            ["mount", "-a", "{ninefold exportfs -r /tmp --stdio}", "/n/t"]
        );
        assert!(words("mount {oops /n").is_err());
        let vars = |n: &str| (n == "user").then(|| "glenda".to_string());
        assert_eq!(
            words_expanding("cd /usr/$user/tmp $nope '$user' a$", &vars).unwrap(),
            ["cd", "/usr/glenda/tmp", "", "$user", "a$"]
        );
        for s in ["plain", "a b", "it's", "", "#|", "tab\there", "$home"] {
            assert_eq!(words(&quote(s)).unwrap(), [s]);
        }
    }
}
