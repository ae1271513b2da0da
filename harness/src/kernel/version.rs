//! A kernel's version: the leading numbers of its release.

use std::fmt;

/// A kernel version, as the leading numbers of its release (`6.12.117+deb12-cloud-amd64` is
/// 6.12.117).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Version {
    /// The major number.
    pub major: u32,
    /// The minor number.
    pub minor: u32,
    /// The patch level (0 when the release has none).
    pub patch: u32,
}

impl Version {
    /// `major.minor`, patch 0.
    pub const fn new(major: u32, minor: u32) -> Version {
        Version {
            major,
            minor,
            patch: 0,
        }
    }

    /// Parses the leading `a.b[.c]` of a release string.
    pub fn parse(release: &str) -> Option<Version> {
        let mut numbers = release.split(|c: char| !c.is_ascii_digit());
        let major = numbers.next()?.parse().ok()?;
        let minor = numbers.next()?.parse().ok()?;
        // The third number only when it follows a dot (`6.1.0-57` has patch 0, `6.12.117+deb12`
        // has 117; `6.1-rc3` has none).
        let rest = release.splitn(3, '.').nth(2).map(|r| {
            r.chars()
                .take_while(char::is_ascii_digit)
                .collect::<String>()
        });
        let patch = rest.and_then(|r| r.parse().ok()).unwrap_or(0);
        Some(Version {
            major,
            minor,
            patch,
        })
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)?;
        if self.patch > 0 {
            write!(f, ".{}", self.patch)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_parse_from_releases() {
        let v = |s| Version::parse(s).unwrap();
        assert_eq!(v("6.1.0-57-cloud-amd64"), Version::new(6, 1));
        assert_eq!(
            v("6.12.117+deb12-cloud-amd64"),
            Version {
                major: 6,
                minor: 12,
                patch: 117
            }
        );
        assert_eq!(
            v("6.18.44-fc-v1147"),
            Version {
                major: 6,
                minor: 18,
                patch: 44
            }
        );
        assert_eq!(v("6.5-rc3"), Version::new(6, 5));
        assert!(v("6.12.117") > v("6.12.1"));
        assert!(v("6.1.0-57") < Version::new(6, 2));
        assert_eq!(Version::parse("linux"), None);
        assert_eq!(v("6.12.117+deb12").to_string(), "6.12.117");
    }
}
