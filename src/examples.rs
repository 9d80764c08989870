//! The example manifests shipped in the binary, for `fleetwright new --example` and `init`.

/// The seed's e-commerce platform: users, products, orders, payments behind one gateway.
pub const ECOMMERCE: &str = include_str!("../examples/ecommerce/fleet.toml");
/// One service, one entity.
pub(crate) const MINIMAL: &str = include_str!("../examples/minimal/fleet.toml");

/// Hand-written files an example ships besides its manifest: the business logic it needs,
/// in scaffold files that generation then leaves alone.
pub(crate) const ECOMMERCE_FILES: &[(&str, &str)] = &[
    (
        "services/orders/src/logic.rs",
        include_str!("../examples/ecommerce/services/orders/src/logic.rs"),
    ),
    (
        "services/payments/src/logic.rs",
        include_str!("../examples/ecommerce/services/payments/src/logic.rs"),
    ),
];

/// An example manifest named after the project, for `new` and `init`.
///
/// # Errors
/// [`crate::Error::Usage`] only if an example lost its `[project]` table: a bug.
pub(crate) fn named(manifest: &str, project: &str) -> crate::Result<String> {
    crate::manifest::edit::set_project_name(manifest, project)
}

/// A synthetic manifest of `services` services, for benchmarks and scale tests: each service
/// has two entities and one event, calls up to two earlier services (so calls stay acyclic)
/// and subscribes to the previous service's event.
pub fn synthetic(services: usize) -> String {
    use std::fmt::Write as _;
    let mut out = String::from("version = 1\n\n[project]\nname = \"synthetic\"\n\n[messaging]\nbroker = \"nats\"\n");
    for i in 0..services {
        let name = format!("s{i:04}");
        let _ = write!(
            out,
            "\n[services.{name}]\ndescription = \"Synthetic service {i}\"\ndatabase = \"postgres\"\n"
        );
        let _ = writeln!(out, "route = \"/api/{name}\"");
        let calls: Vec<String> = (i.saturating_sub(2)..i).map(|j| format!("\"s{j:04}\"")).collect();
        let _ = writeln!(out, "calls = [{}]", calls.join(", "));
        let _ = writeln!(out, "publishes = [\"Changed{i}\"]");
        if i > 0 {
            let _ = writeln!(out, "subscribes = [\"s{:04}.Changed{}\"]", i - 1, i - 1);
        }
        let _ = write!(
            out,
            "\n[services.{name}.entities.Item]\nlabel = \"string\"\ncount = \"int32\"\nstate = \"enum(new, done)\"\n\
             \n[services.{name}.entities.Part]\nitem_id = \"ref(Item)\"\nweight = \"float64?\"\n\
             \n[services.{name}.events.Changed{i}]\nitem_id = \"uuid\"\nat = \"timestamp\"\n"
        );
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn synthetic_manifests_are_valid() {
        for n in [1, 3, 50] {
            let source = crate::source::Source::from_text("synthetic.toml", &super::synthetic(n));
            let loaded = crate::model::load_source(source).expect("valid");
            assert_eq!(loaded.workspace.services.len(), n);
        }
    }
}
