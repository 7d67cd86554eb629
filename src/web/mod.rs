//! What loadctl's pages run in the browser: the chart script and its style, inlined into
//! the live dashboard (`[[export]] kind = "dashboard"`) and `report.html` alike, so both
//! draw, hover and zoom the same way and neither needs the network.

/// The chart script: defines `LC.chart(host, spec)`.
pub const CHART_JS: &str = include_str!("chart.js");
/// Its style.
pub const CHART_CSS: &str = include_str!("chart.css");
