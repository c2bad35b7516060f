//! The dashboard embeds uPlot from `web/node_modules` (npm, installed by scripts/setup.sh):
//! say so plainly when it is missing instead of failing on an include.
fn main() {
    let js = std::path::Path::new("web/node_modules/uplot/dist/uPlot.iife.min.js");
    println!("cargo:rerun-if-changed={}", js.display());
    println!("cargo:rerun-if-changed=assets");
    if !js.exists() {
        panic!(
            "{} is missing: run scripts/setup.sh (or `npm ci` in host/dashboard/web) first",
            js.display()
        );
    }
}
