//! Reading `manifest.json`: checked where the page relies on it, embedded verbatim.

use std::fs;
use std::io;
use std::path::Path;

use serde::Deserialize;
use serde_json::Value;

use super::ReplayError;

/// The run's manifest: the raw object (shown by the page) and the facts the reader needs.
#[derive(Debug, Clone)]
pub(super) struct Manifest {
    /// The whole manifest, embedded so the page can show fields this version does not know.
    pub(super) raw: Value,
    /// The snapshot file `files` lists, `snapshots.bin` or `snapshots.csv` (then its absence
    /// is an error, not "off").
    pub(super) snapshot_file: Option<&'static str>,
}

/// The parts of the contract the page draws from; checked so the page never has to.
#[derive(Deserialize)]
struct Checked {
    #[serde(default)]
    world: Option<World>,
    #[serde(default)]
    files: Vec<String>,
}

#[derive(Deserialize)]
struct World {
    #[serde(default)]
    kind: Option<String>,
    width: f64,
    height: f64,
    #[serde(default)]
    boundary: Option<String>,
    #[serde(default)]
    obstacles: Vec<[f64; 2]>,
}

/// Reads and checks `path`.
pub(super) fn read(path: &Path) -> Result<Manifest, ReplayError> {
    let bytes = fs::read(path).map_err(|source| match source.kind() {
        io::ErrorKind::NotFound => ReplayError::MissingFile {
            path: path.to_path_buf(),
            expected: "every run folder has a manifest.json",
        },
        _ => ReplayError::Read {
            path: path.to_path_buf(),
            source,
        },
    })?;
    let invalid = |message: String| ReplayError::Manifest {
        path: path.to_path_buf(),
        message,
    };
    let raw: Value = serde_json::from_slice(&bytes).map_err(|e| invalid(e.to_string()))?;
    if !raw.is_object() {
        return Err(invalid("expected a json object".to_owned()));
    }
    let checked = Checked::deserialize(&raw).map_err(|e| invalid(e.to_string()))?;
    if let Some(world) = &checked.world {
        check_world(world).map_err(invalid)?;
    }
    let lists = |name: &str| checked.files.iter().any(|f| f == name);
    Ok(Manifest {
        snapshot_file: ["snapshots.bin", "snapshots.csv"]
            .into_iter()
            .find(|f| lists(f)),
        raw,
    })
}

fn check_world(world: &World) -> Result<(), String> {
    for (name, v) in [("width", world.width), ("height", world.height)] {
        if !(v.is_finite() && v > 0.0) {
            return Err(format!(
                "world.{name}: expected a finite positive number, found {v}"
            ));
        }
    }
    if let Some(kind) = world.kind.as_deref()
        && kind != "continuous"
        && kind != "grid"
    {
        return Err(format!(
            "world.kind: expected \"continuous\" or \"grid\", found \"{kind}\""
        ));
    }
    if let Some(boundary) = world.boundary.as_deref()
        && boundary != "torus"
        && boundary != "walls"
    {
        return Err(format!(
            "world.boundary: expected \"torus\" or \"walls\", found \"{boundary}\""
        ));
    }
    if let Some(i) = world
        .obstacles
        .iter()
        .position(|p| !(p[0].is_finite() && p[1].is_finite()))
    {
        return Err(format!("world.obstacles[{i}]: expected finite [x, y]"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_text(text: &str) -> Result<Manifest, ReplayError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("manifest.json");
        fs::write(&path, text).unwrap();
        read(&path)
    }

    #[test]
    fn missing_manifest_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let err = read(&dir.path().join("manifest.json")).unwrap_err();
        assert!(matches!(err, ReplayError::MissingFile { .. }));
        assert!(err.to_string().contains("manifest.json"), "{err}");
    }

    #[test]
    fn world_fields_are_checked() {
        let ok = read_text(
            r#"{"world":{"kind":"grid","width":10,"height":5,"boundary":"walls","obstacles":[[1,2]]},
               "files":["metrics.csv","snapshots.csv"]}"#,
        )
        .unwrap();
        assert_eq!(ok.snapshot_file, Some("snapshots.csv"));
        assert_eq!(ok.raw["world"]["obstacles"][0][1], 2);
        let no_world = read_text(r#"{"scenario_name":"x","files":["metrics.csv"]}"#).unwrap();
        assert_eq!(no_world.snapshot_file, None);
        for (text, needle) in [
            (r#"{"world":{"width":0,"height":5}}"#, "world.width"),
            (
                r#"{"world":{"width":1,"height":5,"kind":"hex"}}"#,
                "world.kind",
            ),
            (
                r#"{"world":{"width":1,"height":5,"boundary":"x"}}"#,
                "world.boundary",
            ),
            (
                r#"{"world":{"width":1,"height":5,"obstacles":[[1]]}}"#,
                "invalid length",
            ),
            ("[1,2]", "json object"),
            ("{", "EOF"),
        ] {
            let err = read_text(text).unwrap_err();
            let msg = err.to_string();
            assert!(
                msg.contains(needle) && msg.contains("manifest.json"),
                "{text}: {msg}"
            );
        }
    }
}
