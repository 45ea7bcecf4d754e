//! `agora view`: a run folder rendered as one self-contained, offline `replay.html`.
//!
//! The page animates `snapshots.csv` (or the binary `snapshots.bin`) on a canvas, charts
//! every `metrics.csv` column with a cursor synchronised to playback (and a marker at each
//! change its detectors found, from `events_changes.csv`), and shows the manifest. Data are
//! embedded as base64 of little-endian typed-array bytes, one `<script>` element per column
//! (see [`write_replay`]).
//!
//! The page draws its first frame synchronously while loading, then sets `document.title` to
//! `agora replay: ok frames=F agents=N charts=C` (N: the largest agent count of a frame)
//! and `data-status="ok"` on `<body>`; on a script error `data-status` is
//! `error: <message>`. `<body>` also carries `data-draw-ms` (the first frame's draw time,
//! rasterisation included), `data-ready-ms` (navigation start to first frame: parsing and
//! decoding included), `data-world-rect` and `data-charts-rect` (CSS pixels).
//!
//! URL fragment options, comma or `&` separated: `#frame=N` opens at frame N, `#play`
//! starts playing, `#trails=K` overrides the trail length (0: off), and `#bench=K` draws K
//! frames during load and stores their mean and worst draw time in `data-draw-ms` and
//! `data-draw-max-ms`.

mod changes;
mod csvio;
mod encode;
mod error;
mod manifest;
mod metrics;
mod options;
mod page;
mod snapshots;

use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

pub use error::ReplayError;
pub use options::{ColorBy, ReplayOptions};

/// The page's file name when no output file is given.
pub const REPLAY_FILE_NAME: &str = "replay.html";

/// Writes the replay page of the run folder `run_dir` and returns its path.
///
/// Reads `manifest.json` and `metrics.csv` (both required) and the snapshots,
/// `snapshots.csv` or `snapshots.bin` (optional: without them the page shows the charts and
/// says that snapshots were off; a missing file is an error only when the manifest's `files`
/// lists it). The files are streamed row by row into typed columns.
///
/// The page goes to `out` when given (into `out/replay.html` when `out` is an existing
/// directory), else to `run_dir/replay.html`. It is written as `<name>.partial` and renamed
/// when complete, so a reader never sees half a page.
///
/// Size: about 19 bytes of page per snapshot row with headings (x, y, heading as `f32`,
/// population and state as `u8`, base64), 14 without; 10,000 agents x 200 frames come to
/// 37 MB. Rows are held as typed columns while the page is written: 49 MB peak for 2M rows.
pub fn write_replay(
    run_dir: &Path,
    out: Option<&Path>,
    options: &ReplayOptions,
) -> Result<PathBuf, ReplayError> {
    options.validate()?;
    if !run_dir.is_dir() {
        return Err(ReplayError::NotARunFolder {
            path: run_dir.to_path_buf(),
        });
    }
    let manifest = manifest::read(&run_dir.join("manifest.json"))?;
    let metrics = metrics::read(&run_dir.join("metrics.csv"))?;
    let changes = changes::read(&run_dir.join("events_changes.csv"))?;
    // The manifest names the run's snapshot file; a folder without that list (older runs,
    // hand-made folders) is searched for either format.
    let listed = manifest.snapshot_file;
    let found = listed.or_else(|| {
        ["snapshots.csv", "snapshots.bin"]
            .into_iter()
            .find(|f| run_dir.join(f).exists())
    });
    let (snapshots, note) = match found {
        Some(name) => {
            let path = run_dir.join(name);
            if listed.is_some() && !path.exists() {
                return Err(ReplayError::MissingFile {
                    path,
                    expected: "manifest.json lists it in `files`",
                });
            }
            let s = if name.ends_with(".bin") {
                snapshots::read_binary(&path, options.frame_stride)?
            } else {
                snapshots::read(&path, options.frame_stride)?
            };
            let note = (s.frames() == 0).then_some(if name.ends_with(".bin") {
                "snapshots.bin has no records"
            } else {
                "snapshots.csv has no rows"
            });
            (Some(s), note)
        }
        None => (None, Some("snapshots were off for this run")),
    };

    let target = match out {
        Some(p) if p.is_dir() => p.join(REPLAY_FILE_NAME),
        Some(p) => p.to_path_buf(),
        None => run_dir.join(REPLAY_FILE_NAME),
    };
    let mut partial_name = target.file_name().unwrap_or_default().to_os_string();
    partial_name.push(".partial");
    let partial = target.with_file_name(partial_name);
    let write_err = |source| ReplayError::Write {
        path: partial.clone(),
        source,
    };
    let result = File::create(&partial).map_err(write_err).and_then(|file| {
        let mut w = BufWriter::with_capacity(1 << 16, file);
        page::write(
            &mut w,
            &manifest,
            &metrics,
            &changes,
            snapshots.as_ref(),
            note,
            options,
        )
        .and_then(|()| w.flush())
        .map_err(write_err)
    });
    if let Err(e) = result {
        // The partial file is garbage now; failing to remove it must not hide `e`.
        let _ = fs::remove_file(&partial);
        return Err(e);
    }
    fs::rename(&partial, &target).map_err(|source| ReplayError::Write {
        path: target.clone(),
        source,
    })?;
    Ok(target)
}

#[cfg(test)]
mod tests {
    use super::encode::tests::{decode_base64, type_size};
    use super::*;
    use serde_json::Value;

    const MANIFEST: &str = r#"{"agora_version":"0.1.0","scenario_name":"unit </script>",
        "seed":7,"ticks":2,"status":"ok","digest":"00ff",
        "world":{"kind":"continuous","width":10.0,"height":10.0,"boundary":"torus","obstacles":[]},
        "files":["metrics.csv","snapshots.csv"]}"#;

    fn run_folder(snapshots: Option<&str>) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let manifest = if snapshots.is_some() {
            MANIFEST.to_owned()
        } else {
            MANIFEST.replace(r#","snapshots.csv""#, "")
        };
        fs::write(dir.path().join("manifest.json"), manifest).unwrap();
        fs::write(
            dir.path().join("metrics.csv"),
            "tick,order\n0,0.25\n1,0.5\n2,NaN\n",
        )
        .unwrap();
        if let Some(body) = snapshots {
            fs::write(
                dir.path().join("snapshots.csv"),
                format!("tick,agent,population,x,y,heading,state\n{body}"),
            )
            .unwrap();
        }
        dir
    }

    /// The page's embedded meta object and base64 columns, decoded as the page decodes them.
    fn embedded(html: &str) -> (Value, Vec<(String, Vec<u8>)>) {
        let meta_start = html.find(r#"id="agora-meta">"#).unwrap() + r#"id="agora-meta">"#.len();
        let meta_len = html[meta_start..].find("</script>").unwrap();
        let meta: Value = serde_json::from_str(&html[meta_start..meta_start + meta_len]).unwrap();
        let mut cols = Vec::new();
        let mut rest = html;
        while let Some(i) = rest.find(r#"id="agora-col-"#) {
            rest = &rest[i + r#"id="agora-col-"#.len()..];
            let name_end = rest.find('"').unwrap();
            let body_start = rest.find('>').unwrap() + 1;
            let body_end = rest.find("</script>").unwrap();
            let bytes = decode_base64(&rest.as_bytes()[body_start..body_end]).unwrap();
            cols.push((rest[..name_end].to_owned(), bytes));
        }
        (meta, cols)
    }

    fn col<'a>(cols: &'a [(String, Vec<u8>)], name: &str) -> &'a [u8] {
        &cols.iter().find(|(n, _)| n == name).unwrap().1
    }

    fn f32s(bytes: &[u8]) -> Vec<f32> {
        bytes
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
            .collect()
    }

    #[test]
    fn page_embeds_every_column_exactly() {
        let dir = run_folder(Some(
            "0,0,0,1.5,2,0.5,1\n0,1,1,3,4,,0\n2,0,0,1.75,2,0.25,2\n2,1,1,3,4.5,,0\n",
        ));
        let path = write_replay(dir.path(), None, &ReplayOptions::default()).unwrap();
        assert_eq!(path, dir.path().join("replay.html"));
        assert!(!dir.path().join("replay.html.partial").exists());
        let html = fs::read_to_string(&path).unwrap();
        assert!(!html.contains("<!--agora:replay-data-->"));
        assert!(
            !html.contains("unit </script>"),
            "manifest text must not close its script"
        );
        let (meta, cols) = embedded(&html);
        assert_eq!(meta["manifest"]["scenario_name"], "unit </script>");
        assert_eq!(meta["snapshots"]["frames"], 2);
        assert_eq!(meta["snapshots"]["max_agents"], 2);
        assert_eq!(meta["metrics"]["names"][0], "order");
        assert_eq!(f32s(col(&cols, "s.x")), [1.5, 3.0, 1.75, 3.0]);
        assert_eq!(f32s(col(&cols, "s.y")), [2.0, 4.0, 2.0, 4.5]);
        let heading = f32s(col(&cols, "s.heading"));
        assert!(heading[0] == 0.5 && heading[1].is_nan() && heading[2] == 0.25);
        assert_eq!(col(&cols, "s.state"), [1, 0, 2, 0]);
        assert_eq!(col(&cols, "s.start"), [0, 2, 4]);
        assert_eq!(meta["columns"]["s.start"]["type"], "u8");
        assert!(
            cols.iter().all(|(n, _)| n != "s.agent"),
            "ids 0..n need no column"
        );
        let order: Vec<f64> = col(&cols, "m.0")
            .chunks_exact(8)
            .map(|b| f64::from_le_bytes(b.try_into().unwrap()))
            .collect();
        assert!(order[0] == 0.25 && order[1] == 0.5 && order[2].is_nan());
        for (name, bytes) in &cols {
            let m = &meta["columns"][name];
            let size = type_size(m["type"].as_str().unwrap());
            assert_eq!(
                bytes.len() as u64,
                m["len"].as_u64().unwrap() * size as u64,
                "{name}"
            );
        }
    }

    #[test]
    fn detected_changes_are_embedded_for_their_charts() {
        let dir = run_folder(None);
        let (meta, _) = embedded(
            &fs::read_to_string(write_replay(dir.path(), None, &ReplayOptions::default()).unwrap())
                .unwrap(),
        );
        assert_eq!(meta["changes"], serde_json::json!([]));
        fs::write(
            dir.path().join("events_changes.csv"),
            "tick,name,metric,detector,direction,value,statistic\n1,rise,order,cusum,up,0.5,6\n",
        )
        .unwrap();
        let path = write_replay(dir.path(), None, &ReplayOptions::default()).unwrap();
        let (meta, _) = embedded(&fs::read_to_string(path).unwrap());
        assert_eq!(meta["changes"][0]["name"], "rise");
        assert_eq!(meta["changes"][0]["metric"], "order");
        assert_eq!(meta["changes"][0]["tick"], 1);
    }

    #[test]
    fn empty_snapshots_give_a_charts_only_page() {
        let dir = run_folder(Some(""));
        let path = write_replay(dir.path(), None, &ReplayOptions::default()).unwrap();
        let (meta, cols) = embedded(&fs::read_to_string(path).unwrap());
        assert!(meta["snapshots"].is_null());
        assert_eq!(meta["snapshots_note"], "snapshots.csv has no rows");
        assert!(cols.iter().all(|(n, _)| !n.starts_with("s.")));
        assert_eq!(col(&cols, "m.tick").len(), 3 * 8);
    }

    #[test]
    fn absent_snapshots_mean_snapshots_off_unless_listed() {
        let dir = run_folder(None);
        let out = dir.path().join("elsewhere.html");
        let path = write_replay(dir.path(), Some(&out), &ReplayOptions::default()).unwrap();
        assert_eq!(path, out);
        let (meta, _) = embedded(&fs::read_to_string(path).unwrap());
        assert_eq!(meta["snapshots_note"], "snapshots were off for this run");

        let listed = run_folder(Some(""));
        fs::remove_file(listed.path().join("snapshots.csv")).unwrap();
        let err = write_replay(listed.path(), None, &ReplayOptions::default()).unwrap_err();
        assert!(matches!(err, ReplayError::MissingFile { .. }));
        assert!(err.to_string().contains("snapshots.csv"), "{err}");
    }

    #[test]
    fn missing_required_files_are_named() {
        let dir = run_folder(None);
        fs::remove_file(dir.path().join("metrics.csv")).unwrap();
        let err = write_replay(dir.path(), None, &ReplayOptions::default()).unwrap_err();
        assert!(err.to_string().contains("metrics.csv"), "{err}");
        fs::remove_file(dir.path().join("manifest.json")).unwrap();
        let err = write_replay(dir.path(), None, &ReplayOptions::default()).unwrap_err();
        assert!(err.to_string().contains("manifest.json"), "{err}");
        let err =
            write_replay(&dir.path().join("nope"), None, &ReplayOptions::default()).unwrap_err();
        assert!(
            matches!(err, ReplayError::NotARunFolder { .. }) && err.to_string().contains("nope")
        );
    }

    #[test]
    fn out_directory_receives_replay_html_and_bad_input_leaves_no_partial() {
        let dir = run_folder(Some("0,0,0,1,1,,0\n"));
        let out = tempfile::tempdir().unwrap();
        let path = write_replay(dir.path(), Some(out.path()), &ReplayOptions::default()).unwrap();
        assert_eq!(path, out.path().join("replay.html"));

        let bad = run_folder(Some("0,0,0,1,1,,0\n"));
        let err = write_replay(
            bad.path(),
            Some(&bad.path().join("no-dir/r.html")),
            &ReplayOptions::default(),
        );
        assert!(matches!(err, Err(ReplayError::Write { .. })));
        let err = write_replay(
            bad.path(),
            None,
            &ReplayOptions::default().with_frame_stride(0),
        );
        assert!(matches!(
            err,
            Err(ReplayError::InvalidOption {
                option: "frame_stride",
                ..
            })
        ));
        assert!(!bad.path().join("replay.html").exists());
    }
}
