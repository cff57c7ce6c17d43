//! bind and mount flags: where a new member goes in a union, and whether it takes creates.

use std::fmt;

use ninefold_fs::{Error, Result};

/// Where a new member goes (Plan 9's MREPL, MBEFORE, MAFTER).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Order {
    /// Replace everything at the mount point.
    #[default]
    Replace,
    /// Searched first (`-b`).
    Before,
    /// Searched last (`-a`).
    After,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Flags {
    pub order: Order,
    /// `-c`: files may be created in this member.
    pub create: bool,
    /// `-C`: the client may cache (accepted and recorded; nothing caches yet).
    pub cache: bool,
}

impl Flags {
    pub const REPLACE: Flags = Flags {
        order: Order::Replace,
        create: false,
        cache: false,
    };
    pub const AFTER: Flags = Flags {
        order: Order::After,
        create: false,
        cache: false,
    };
    pub const BEFORE: Flags = Flags {
        order: Order::Before,
        create: false,
        cache: false,
    };

    pub fn with_create(mut self) -> Flags {
        self.create = true;
        self
    }

    /// Apply one option letter of `bind`/`mount` (`a`, `b`, `c`, `C`).
    pub fn set(&mut self, letter: char) -> Result<()> {
        match letter {
            'a' => self.order = Order::After,
            'b' => self.order = Order::Before,
            'c' => self.create = true,
            'C' => self.cache = true,
            _ => return Err(Error::new(format!("unknown flag -{letter}"))),
        }
        Ok(())
    }

    /// Parse an option word such as `-ac`.
    pub fn parse(word: &str) -> Result<Flags> {
        let mut f = Flags::default();
        let letters = word
            .strip_prefix('-')
            .ok_or_else(|| Error::new(format!("bad flag {word}")))?;
        for c in letters.chars() {
            f.set(c)?;
        }
        Ok(f)
    }
}

/// As Plan 9's `int2flag` prints them: empty for a plain replace, else `-` and `abcC`.
impl fmt::Display for Flags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = String::new();
        match self.order {
            Order::Replace => {}
            Order::After => s.push('a'),
            Order::Before => s.push('b'),
        }
        if self.create {
            s.push('c');
        }
        if self.cache {
            s.push('C');
        }
        if s.is_empty() {
            Ok(())
        } else {
            write!(f, "-{s}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_print_as_int2flag_and_parse_back() {
        for (word, want) in [("-a", "-a"), ("-bc", "-bc"), ("-cC", "-cC"), ("-ca", "-ac")] {
            let f = Flags::parse(word).unwrap();
            assert_eq!(f.to_string(), want);
        }
        assert_eq!(Flags::default().to_string(), "");
        assert!(Flags::parse("-x").is_err());
        assert!(Flags::parse("a").is_err());
    }
}
