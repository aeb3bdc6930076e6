//! What a walk of either side yields: a [`Tree`] of relative paths
//! (`/`-separated, without a leading `/`) to [`Node`]s, and the times in
//! it with the precision their source gives, so that a time from LIST
//! (`Nov 24 06:05`) is compared with a local time to the minute, not to
//! the nanosecond.

use std::collections::BTreeMap;

use crate::protocol::TimeVal;

/// How finely a time is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Precision {
    /// A local file's time, or MLSx `modify` with a fraction.
    Millisecond,
    /// MDTM and MLSx `modify`.
    Second,
    /// LIST within the last six months: `Nov 24 06:05`.
    Minute,
    /// LIST for older files: `Nov 24  2025`.
    Day,
}

/// A time and how finely it is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    pub time: TimeVal,
    pub precision: Precision,
}

impl Stamp {
    /// `time` cut to `precision`.
    pub fn truncated(self, precision: Precision) -> TimeVal {
        let t = self.time;
        match precision {
            Precision::Millisecond => t,
            Precision::Second => TimeVal { millis: 0, ..t },
            Precision::Minute => TimeVal {
                second: 0,
                millis: 0,
                ..t
            },
            Precision::Day => TimeVal {
                hour: 0,
                minute: 0,
                second: 0,
                millis: 0,
                ..t
            },
        }
    }
}

/// Whether `target` is not older than `source`, at the coarser of the two
/// precisions.
pub fn not_older(target: Stamp, source: Stamp) -> bool {
    let precision = target.precision.max(source.precision);
    target.truncated(precision) >= source.truncated(precision)
}

/// A regular file's facts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileFacts {
    pub size: u64,
    /// Unknown when the listing gives none.
    pub modified: Option<Stamp>,
}

/// One entry of a tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Node {
    File(FileFacts),
    Dir,
}

/// A tree by relative path; parents sort before their children.
pub type Tree = BTreeMap<String, Node>;

/// `root` and `rel` joined with one `/`.
pub fn join(root: &str, rel: &str) -> String {
    if rel.is_empty() {
        root.to_string()
    } else if root.ends_with('/') {
        format!("{root}{rel}")
    } else {
        format!("{root}/{rel}")
    }
}

/// The name a file has while it arrives: `.NAME.part` beside it, on
/// either side. Walks leave such names out.
pub fn part_name(rel: &str) -> String {
    match rel.rsplit_once('/') {
        Some((dir, name)) => format!("{dir}/.{name}.part"),
        None => format!(".{rel}.part"),
    }
}

/// True for a name [`part_name`] makes.
pub fn is_part_name(name: &str) -> bool {
    name.len() >= ".x.part".len() && name.starts_with('.') && name.ends_with(".part")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stamp(t: &str, precision: Precision) -> Stamp {
        Stamp {
            time: TimeVal::parse(t).unwrap(),
            precision,
        }
    }

    #[test]
    fn times_compare_at_the_coarser_precision() {
        let local = stamp("20261124060559.900", Precision::Millisecond);
        // LIST says 06:05: the same minute is not older.
        assert!(not_older(stamp("20261124060500", Precision::Minute), local));
        assert!(!not_older(
            stamp("20261124060400", Precision::Minute),
            local
        ));
        // MDTM says 06:05:59: not older than 06:05:59.900 to the second.
        assert!(not_older(stamp("20261124060559", Precision::Second), local));
        assert!(!not_older(
            stamp("20261124060558", Precision::Second),
            local
        ));
        assert!(not_older(stamp("20261124000000", Precision::Day), local));
    }

    #[test]
    fn part_names_sit_beside_their_file() {
        assert_eq!(part_name("a b/ü.txt"), "a b/.ü.txt.part");
        assert_eq!(part_name("f"), ".f.part");
        assert!(is_part_name(".f.part"));
        assert!(!is_part_name("f.part"));
        assert!(!is_part_name(".part"));
        assert_eq!(join("/", "a"), "/a");
        assert_eq!(join("/www", "a/b"), "/www/a/b");
        assert_eq!(join("/www", ""), "/www");
    }
}
