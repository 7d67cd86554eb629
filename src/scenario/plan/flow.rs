//! Flows, feeders and the requests around the load: how iterations share sessions, the
//! CSV rows bound to variables, and the `[[setup]]` / `[[verify]]` requests with their checks.

use std::path::PathBuf;
use std::sync::Arc;

use super::request::RequestPlan;
use crate::slo::checks::Assertion;

/// How iterations share state.
#[derive(Debug, Clone, PartialEq)]
pub struct FlowPlan {
    /// Open model: this many sessions persist across iterations (log in once, order many
    /// times); `None`: every iteration is a new session. The closed model has one session
    /// per virtual user.
    pub sessions: Option<usize>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeedMode {
    /// File order.
    Sequential,
    /// A uniformly random row each time.
    Random,
    /// Each row at most once, in file order.
    Unique,
}

/// What a feeder does when every row has been used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exhausted {
    /// End the load early; the run is judged on what ran.
    Stop,
    /// Start from the first row again.
    Wrap,
    /// End the load early and fail the run.
    Fail,
}

/// CSV rows bound to variables named after the header's columns.
#[derive(Clone, PartialEq)]
pub struct FeederPlan {
    pub name: String,
    pub file: PathBuf,
    pub columns: Vec<String>,
    /// Index of the first column's variable; the others follow.
    pub first_var: usize,
    pub rows: Arc<Vec<Vec<String>>>,
    pub mode: FeedMode,
    pub on_exhausted: Exhausted,
}

impl std::fmt::Debug for FeederPlan {
    // The rows would drown any debug output.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FeederPlan")
            .field("name", &self.name)
            .field("file", &self.file)
            .field("columns", &self.columns)
            .field("rows", &self.rows.len())
            .field("mode", &self.mode)
            .field("on_exhausted", &self.on_exhausted)
            .finish()
    }
}

/// A request sent once around the load, with checks on its JSON answer.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckedRequest {
    pub request: RequestPlan,
    pub checks: Vec<Assertion>,
}
