//! Names in a name space: absolute (`/a/b`), relative to a directory, or rooted at a
//! device (`#I/tcp`). `..` is lexical (Plan 9's rule): it removes the previous element of
//! the name and never looks at the mount table, and it stops at the root it starts from.

use std::fmt;

use ninefold_fs::{Error, Result};

/// A cleaned name: where it starts, and the elements below that, none of them `.`, `..`
/// or empty.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct NsPath {
    /// `None`: the name space's root. `Some("#I")`: a device's root (the `#` included,
    /// with its spec, as in `#I0`).
    pub device: Option<String>,
    pub elems: Vec<String>,
}

impl NsPath {
    pub fn root() -> NsPath {
        NsPath::default()
    }

    /// Parse `text` as seen from `cwd`: absolute and `#` names ignore it.
    pub fn parse(text: &str, cwd: &NsPath) -> Result<NsPath> {
        if text.is_empty() {
            return Err(Error::new("empty file name"));
        }
        if text.contains('\0') {
            return Err(Error::BAD_ARG);
        }
        let (mut path, rest) = if let Some(dev) = text.strip_prefix('#') {
            // `#` then one character (which may be `|` or `/`), then the spec up to a `/`.
            let mut chars = dev.char_indices();
            let Some((_, letter)) = chars.next() else {
                return Err(Error::new("bad device name"));
            };
            let after = letter.len_utf8();
            let end = dev[after..].find('/').map_or(dev.len(), |i| i + after);
            let name = format!("#{}", &dev[..end]);
            (
                NsPath {
                    device: Some(name),
                    elems: Vec::new(),
                },
                &dev[end..],
            )
        } else if text.starts_with('/') {
            (NsPath::root(), text)
        } else {
            (cwd.clone(), text)
        };
        for e in rest.split('/') {
            path.push(e);
        }
        Ok(path)
    }

    /// Step by one element, lexically.
    pub fn push(&mut self, elem: &str) {
        match elem {
            "" | "." => {}
            ".." => {
                self.elems.pop();
            }
            e => self.elems.push(e.to_string()),
        }
    }

    pub fn join(&self, elem: &str) -> NsPath {
        let mut p = self.clone();
        p.push(elem);
        p
    }

    pub fn parent(&self) -> NsPath {
        let mut p = self.clone();
        p.elems.pop();
        p
    }

    pub fn last(&self) -> Option<&str> {
        self.elems.last().map(String::as_str)
    }

    /// Whether `self` is `base` or below it.
    pub fn starts_with(&self, base: &NsPath) -> bool {
        self.device == base.device && self.elems.starts_with(&base.elems)
    }
}

impl fmt::Display for NsPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.device {
            Some(d) => f.write_str(d)?,
            None if self.elems.is_empty() => return f.write_str("/"),
            None => {}
        }
        for e in &self.elems {
            write!(f, "/{e}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> String {
        let cwd = NsPath::parse("/usr/glenda", &NsPath::root()).unwrap();
        NsPath::parse(s, &cwd).unwrap().to_string()
    }

    #[test]
    fn names_are_cleaned_lexically() {
        assert_eq!(p("/"), "/");
        assert_eq!(p("/a//b/./c/"), "/a/b/c");
        assert_eq!(p("/a/b/../../.."), "/");
        assert_eq!(p("lib"), "/usr/glenda/lib");
        assert_eq!(p("../rob"), "/usr/rob");
        assert_eq!(p("."), "/usr/glenda");
    }

    #[test]
    fn device_names_keep_their_spec_and_stop_dot_dot() {
        assert_eq!(p("#I"), "#I");
        assert_eq!(p("#I0/tcp"), "#I0/tcp");
        assert_eq!(p("#|/data1"), "#|/data1");
        assert_eq!(p("#I/../.."), "#I");
        assert_eq!(p("#//net"), "#//net");
        let d = NsPath::parse("#c/null", &NsPath::root()).unwrap();
        assert_eq!(d.device.as_deref(), Some("#c"));
        assert_eq!(d.elems, ["null"]);
        assert!(NsPath::parse("#", &NsPath::root()).is_err());
        assert!(NsPath::parse("", &NsPath::root()).is_err());
    }
}
