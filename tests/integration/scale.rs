//! Generation stays linear in the number of services (issue #6), shown with a measure that
//! does not depend on the machine: the instructions the templates execute (minijinja's fuel),
//! on synthetic manifests (`fleetwright::examples::synthetic`). A template that looped over
//! every service once per service would make each service cost more in a larger workspace.
//! Timings are benchmarks (`scripts/bench-scale.sh`, `cargo bench`), not tests.

use fleetwright::Source;
use fleetwright::model::State;
use fleetwright::model::load_source;
use fleetwright::render::{context, engine, targets};
use minijinja::Environment;

/// Instructions executed by the workspace-wide templates, and by each service's, and the
/// number of workspace-wide files.
fn work(services: usize) -> (u64, Vec<u64>, u64) {
    let manifest = fleetwright::examples::synthetic(services);
    let loaded = load_source(Source::from_text("fleet.toml", &manifest)).expect("valid manifest");
    let mut workspace = loaded.workspace.clone();
    fleetwright::model::stabilize(&mut workspace, &State::default(), &[]).expect("stabilises");

    let mut env = Environment::new();
    engine::configure(&mut env).expect("configures");
    // Enough for any template here; a limit is what turns on the counting.
    env.set_fuel(Some(1 << 40));
    for (path, text) in engine::embedded_sources() {
        env.add_template_owned(path, text).expect("template parses");
    }
    let fuel = |jobs: Vec<targets::Job>| -> u64 {
        jobs.iter()
            .map(|job| {
                let template = env.get_template(job.template).expect("template exists");
                let rendered = template.render_captured(&job.context).expect("renders");
                rendered.state().fuel_levels().expect("fuel is tracked").0
            })
            .sum()
    };
    let jobs = targets::workspace_jobs(&workspace);
    let files = jobs.len() as u64;
    let whole = fuel(jobs);
    let base = context::service_base(&workspace);
    let each = workspace
        .services
        .iter()
        .map(|service| fuel(targets::service_jobs(&workspace, &base, service)))
        .collect();
    (whole, each, files)
}

#[test]
fn generation_work_grows_linearly_with_the_number_of_services() {
    let sizes = [20, 40, 80];
    let runs = sizes.map(work);
    // The services from the eleventh to the third last have the same shape (they call two,
    // are called by two, publish one event with one subscriber and subscribe to one, with
    // names of the same length: fuel also counts the text produced): each must cost the
    // same, whatever the size of the workspace.
    let steady = runs[0].1[11];
    assert!(steady > 0, "no work measured");
    for (size, (_, each, _)) in sizes.iter().zip(&runs) {
        for (index, &cost) in each.iter().enumerate().take(each.len() - 2).skip(11) {
            assert_eq!(cost, steady, "service {index} of {size} costs {cost}, not {steady}");
        }
    }
    // The workspace-wide files (README, compose, gateway, CI) grow by the same amount for
    // every service added. Fuel also charges bytes, at a sixty-fourth of an instruction, and
    // each file's total is rounded up to whole fuel, so each file may be off by less than one
    // in each run: up to three per file in `large - 3 * middle + 2 * small`. A template that
    // loops over every service per service would be off by thousands.
    let [(small, _, files), (middle, _, _), (large, _, _)] = runs;
    let growth_difference = (large + 2 * small).abs_diff(3 * middle);
    assert!(
        growth_difference <= 3 * files,
        "workspace-wide templates grow faster than the services: {small}, {middle}, {large} for {sizes:?}"
    );
}
