//! The small things of everyday use that issue 15 found wrong, one test each: where commands
//! find the manifest, what `new` names and prints, the advice after a conflict, what `add`
//! shows when its edit is invalid, what `--force` says it overwrote, the JSON Schema as strict
//! as `validate`, and `./dev.sh up` checking what it needs before it starts anything.

use std::path::Path;

use crate::support::{Scratch, run_tool, tool};

/// The manifest of a fixture or example as JSON, or `None` when it is not TOML at all.
fn toml_to_json(text: &str) -> Option<serde_json::Value> {
    let value: toml::Value = toml::from_str(text).ok()?;
    serde_json::to_value(value).ok()
}

/// Issue 15: the JSON Schema from `fleetwright schema` accepted unknown keys (`databse`), so
/// editors did not flag what `validate` rejects. Checked with a real JSON Schema validator:
/// every example passes, and every fixture that `validate` rejects for a key, a type or a value
/// the schema can express fails.
#[test]
fn the_json_schema_rejects_what_validate_rejects() {
    let Some(validator) = tool("check-jsonschema") else {
        return;
    };
    let scratch = Scratch::new();
    let schema = scratch.run(&["schema"]);
    schema.assert_code(0);
    scratch.write("schema.json", &schema.stdout);
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let valid = [
        "examples/ecommerce/fleet.toml",
        "examples/minimal/fleet.toml",
        "tests/fixtures/everything/fleet.toml",
    ];
    let mut args = vec!["--schemafile".to_owned(), "schema.json".to_owned()];
    for (i, path) in valid.iter().enumerate() {
        let json = toml_to_json(&std::fs::read_to_string(root.join(path)).unwrap()).unwrap();
        scratch.write(&format!("valid/{i}.json"), &json.to_string());
        args.push(format!("valid/{i}.json"));
    }
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let (code, out) = run_tool(&validator, &refs, scratch.path());
    assert_eq!(code, 0, "the schema rejects a valid manifest:\n{out}");

    // What `validate` rejects that a schema can say too: unknown keys (E003), wrong types and
    // missing keys (E002), the version (E004), values out of their set or range (E005), names
    // (E010) and field types (E019). Left out: rules across fields or files.
    let across = [
        "E005_autoscale_max_below_min", // max below min
        "E005_cpu_request_above_limit", // request above limit
    ];
    let mut checked = Vec::new();
    for entry in std::fs::read_dir(root.join("tests/fixtures/invalid")).unwrap() {
        let path = entry.unwrap().path();
        let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
        let expressible = ["E002", "E003", "E004", "E005", "E010", "E019"]
            .iter()
            .any(|c| stem.starts_with(c));
        if path.extension().is_none_or(|e| e != "toml") || !expressible || across.contains(&stem.as_str()) {
            continue;
        }
        // Syntax and encoding errors never reach a schema.
        let Some(json) = String::from_utf8(std::fs::read(&path).unwrap())
            .ok()
            .filter(|text| !text.starts_with('\u{feff}'))
            .and_then(|text| toml_to_json(&text))
        else {
            continue;
        };
        scratch.write(&format!("invalid/{stem}.json"), &json.to_string());
        checked.push(stem);
    }
    assert!(checked.len() > 40, "too few fixtures: {checked:?}");
    let mut args = vec![
        "--schemafile".to_owned(),
        "schema.json".to_owned(),
        "-o".to_owned(),
        "json".to_owned(),
    ];
    args.extend(checked.iter().map(|stem| format!("invalid/{stem}.json")));
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let (_, out) = run_tool(&validator, &refs, scratch.path());
    let report: serde_json::Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    let rejected: std::collections::BTreeSet<&str> = report["errors"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["filename"].as_str())
        .collect();
    let accepted: Vec<&String> = checked
        .iter()
        .filter(|stem| !rejected.contains(format!("invalid/{stem}.json").as_str()))
        .collect();
    assert!(
        accepted.is_empty(),
        "the schema accepts what `validate` rejects: {accepted:?}"
    );
}
