//! The example manifests shipped in the binary, for `fleetwright new --example` and `init`.

/// The seed's e-commerce platform: users, products, orders, payments behind one gateway.
pub const ECOMMERCE: &str = include_str!("../examples/ecommerce/fleet.toml");
/// One service, one entity.
pub const MINIMAL: &str = include_str!("../examples/minimal/fleet.toml");

/// Example manifests by name.
pub const ALL: &[(&str, &str)] = &[("ecommerce", ECOMMERCE), ("minimal", MINIMAL)];

/// A starter manifest for `fleetwright init`, named after the project.
pub fn starter(project: &str) -> String {
    MINIMAL.replacen(
        "name = \"hello\"",
        &format!("name = {}", crate::render::filters::toml_str(project)),
        1,
    )
}
