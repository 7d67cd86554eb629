//! The nightly gate's memory: every recorded run in an embedded SQLite store
//! ([`store`]), each metric's series over runs with its change points found by
//! E-divisive means and a permutation test ([`changepoint`]), and the trend that decides
//! whether the newest run sits in a regression ([`trend`]). `loadctl history` and
//! `loadctl trend` are its commands; `report/trend.rs` writes what a trend shows.

pub mod changepoint;
pub mod store;
pub mod trend;
