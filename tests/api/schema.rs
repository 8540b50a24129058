//! `schema.graphql` is the contract clients build against; it must match the server.

#[test]
fn schema_file_matches_the_exported_schema() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../schema.graphql");
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    let exported = dossier::graphql::sdl();
    assert!(
        committed == exported,
        "schema.graphql is out of date: run `cargo run -q -p dossier -- export-schema > schema.graphql`"
    );
}

#[test]
fn the_readme_documents_every_configuration_variable() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md");
    let readme = std::fs::read_to_string(&path).expect("README.md");
    for (name, _, _) in dossier::config::VARIABLES {
        assert!(
            readme.contains(&format!("`{name}`")),
            "README.md does not document {name}"
        );
    }
}
