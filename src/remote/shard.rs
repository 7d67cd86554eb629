//! `--shard K/N`: a plan made into generator K of N of one run on several machines. The
//! schedule is split, not copied (the engine sends the open model's requests `i` with
//! `i mod N = K`, the closed model's users `v` with `v mod N = K`); a `sequential` or
//! `unique` feeder keeps the rows `r` with `r mod N = K`, so a unique row is used by one
//! machine only; `{{seq}}` counts in a range of its own per shard. A chat load is split
//! by whole groups (group `g` to shard `g mod N`), so that a group's fan-out stays local;
//! a flow's persistent sessions likewise (session `s` to shard `s mod N`).

use std::sync::Arc;

use crate::scenario::plan::flow::{FeedMode, FlowPlan};
use crate::scenario::plan::load::Shard;
use crate::scenario::plan::{Plan, Workload};

/// Most generators one run may be split over.
pub const MAX_SHARDS: u64 = 1024;

/// Makes `plan` shard `text` (`K/N`, K from 0); the error says what to write.
pub fn apply(plan: &mut Plan, text: &str) -> Result<(), String> {
    let bad = || {
        format!("--shard {text}: write K/N, this generator's number from 0 and how many there are, such as 0/2 and 1/2")
    };
    let (k, n) = text.split_once('/').ok_or_else(bad)?;
    let (k, n): (u64, u64) = (
        k.trim().parse().map_err(|_| bad())?,
        n.trim().parse().map_err(|_| bad())?,
    );
    if n == 0 || n > MAX_SHARDS || k >= n {
        return Err(format!(
            "--shard {text}: N from 1 to {MAX_SHARDS}, and K from 0 to N - 1"
        ));
    }
    if let Workload::Flow {
        flow: FlowPlan {
            sessions: Some(sessions),
        },
        ..
    } = &plan.workload
    {
        // Sessions are split too (session s to shard s mod N): each needs at least one.
        if (*sessions as u64) < n {
            return Err(format!(
                "--shard {text}: flow.sessions = {sessions} cannot be split over {n} generators; raise it to at least {n}"
            ));
        }
    }
    if let Workload::Chat(c) = &plan.workload {
        // Whole groups per generator, so that each group's fan-out stays on one.
        if (c.groups as u64) < n {
            return Err(format!(
                "--shard {text}: a [chat] load splits by whole groups, and {} group(s) cannot go to {n} generators; use at most {} or raise chat.groups",
                c.groups, c.groups
            ));
        }
    }
    let shard = Shard { index: k, of: n };
    for f in &mut plan.feeders {
        if matches!(f.mode, FeedMode::Sequential | FeedMode::Unique) {
            let rows: Vec<Vec<String>> = f
                .rows
                .iter()
                .enumerate()
                .filter(|(r, _)| *r as u64 % n == k)
                .map(|(_, row)| row.clone())
                .collect();
            if rows.is_empty() {
                return Err(format!(
                    "--shard {text}: feeder `{}` has {} rows, none of them for shard {k} of {n}",
                    f.name,
                    f.rows.len()
                ));
            }
            f.rows = Arc::new(rows);
        }
    }
    plan.shard = Some(shard);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::plan::load::Shard;

    #[test]
    fn shares_cover_every_index_once() {
        let n = 3;
        let total: u64 = (0..n)
            .map(|k| Shard { index: k, of: n }.share(0, 100))
            .sum();
        assert_eq!(total, 100);
        assert_eq!(Shard { index: 1, of: 3 }.share(0, 100), 33);
        assert_eq!(Shard { index: 0, of: 3 }.share(0, 100), 34);
        assert_eq!(Shard { index: 2, of: 3 }.share(10, 20), 3, "11, 14, 17");
        assert_eq!(Shard { index: 0, of: 1 }.share(5, 9), 4);
    }

    #[test]
    fn shard_text_is_checked() {
        let mut plan = crate::scenario::parse(
            std::path::Path::new("t.toml"),
            "name = \"t\"\n[load]\nrate = 10\nduration = \"1s\"\n[[requests]]\nname = \"a\"\npath = \"/\"\n",
            &crate::scenario::Overrides::default(),
            &|_| None,
        )
        .unwrap();
        for bad in ["2/2", "1", "a/b", "0/0", "0/5000"] {
            assert!(apply(&mut plan.clone(), bad).is_err(), "{bad}");
        }
        apply(&mut plan, "1/2").unwrap();
        assert_eq!(plan.shard, Some(Shard { index: 1, of: 2 }));
        assert_eq!(plan.planned_requests(), Some(5));
    }
}
