//! The page and its assets, embedded at build time (so the dashboard works offline). uPlot
//! comes from npm (`web/package.json`, installed by `scripts/setup.sh`); build.rs checks it
//! is there.

pub const INDEX_HTML: &str = include_str!("../assets/index.html");
pub const APP_JS: &str = include_str!("../assets/app.js");
pub const APP_CSS: &str = include_str!("../assets/app.css");
pub const UPLOT_JS: &str = include_str!("../web/node_modules/uplot/dist/uPlot.iife.min.js");
pub const UPLOT_CSS: &str = include_str!("../web/node_modules/uplot/dist/uPlot.min.css");
