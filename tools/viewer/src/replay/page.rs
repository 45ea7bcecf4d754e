//! Assembling the page: the hand-written template with the run's data spliced in.

use std::io::{self, Write};

use serde_json::{Value, json};

use super::ReplayOptions;
use super::changes::Change;
use super::encode::{Base64Writer, Column};
use super::manifest::Manifest;
use super::metrics::Metrics;
use super::snapshots::Snapshots;

/// The page: HTML, CSS and JS, with no external resource so it opens offline.
const TEMPLATE: &str = include_str!("../../assets/replay.html");

/// Where the data `<script>` elements go; must occur exactly once in the template.
const PLACEHOLDER: &str = "<!--agora:replay-data-->";

/// Version of the embedded data layout, checked by the page.
const FORMAT: u32 = 1;

const fn find(haystack: &[u8], needle: &[u8]) -> usize {
    let mut i = 0;
    while i + needle.len() <= haystack.len() {
        let mut j = 0;
        while j < needle.len() && haystack[i + j] == needle[j] {
            j += 1;
        }
        if j == needle.len() {
            return i;
        }
        i += 1;
    }
    haystack.len()
}

/// Byte offset of the placeholder, found at compile time so a template edit that loses it
/// fails the build instead of producing a page without data.
const SPLIT: usize = find(TEMPLATE.as_bytes(), PLACEHOLDER.as_bytes());
const _: () = assert!(
    SPLIT < TEMPLATE.len(),
    "replay template lacks its data placeholder"
);

/// Writes the complete page for one run to `w`.
pub(super) fn write(
    w: &mut impl Write,
    manifest: &Manifest,
    metrics: &Metrics,
    changes: &[Change],
    snapshots: Option<&Snapshots>,
    snapshots_note: Option<&str>,
    options: &ReplayOptions,
) -> io::Result<()> {
    let mut columns: Vec<(String, Column<'_>)> =
        vec![("m.tick".to_owned(), Column::F64(&metrics.ticks))];
    for (i, values) in metrics.values.iter().enumerate() {
        columns.push((format!("m.{i}"), Column::F64(values)));
    }
    let snapshot_meta = match snapshots {
        Some(s) if s.frames() > 0 => {
            columns.extend([
                ("s.tick".to_owned(), Column::F64(&s.frame_ticks)),
                ("s.start".to_owned(), Column::Uint(&s.frame_starts)),
                ("s.x".to_owned(), Column::F32(&s.x)),
                ("s.y".to_owned(), Column::F32(&s.y)),
                ("s.population".to_owned(), Column::Uint(&s.population)),
                ("s.state".to_owned(), Column::Uint(&s.state)),
            ]);
            if s.has_heading {
                columns.push(("s.heading".to_owned(), Column::F32(&s.heading)));
            }
            if !s.ids_are_indices {
                columns.push(("s.agent".to_owned(), Column::Uint(&s.agent)));
            }
            json!({
                "frames": s.frames(),
                "rows": s.x.len(),
                "max_agents": s.max_agents(),
                "has_heading": s.has_heading,
                "has_ids": !s.ids_are_indices,
                "states": s.states,
                "populations": s.populations,
                "labels_truncated": s.labels_truncated,
                "bounds": s.bounds,
            })
        }
        _ => Value::Null,
    };
    let column_meta: serde_json::Map<String, Value> = columns
        .iter()
        .map(|(name, c)| {
            (
                name.clone(),
                json!({ "type": c.type_name(), "len": c.len() }),
            )
        })
        .collect();
    let meta = json!({
        "format": FORMAT,
        "manifest": manifest.raw,
        "options": {
            "fps": options.fps,
            "trail_length": options.trail_length,
            "color_by": options.color_by,
            "frame_stride": options.frame_stride,
            "max_trail": super::options::MAX_TRAIL,
        },
        "metrics": { "names": metrics.names, "rows": metrics.ticks.len() },
        "changes": changes,
        "snapshots": snapshot_meta,
        "snapshots_note": snapshots_note,
        "columns": column_meta,
    });

    let (head, tail) = TEMPLATE.split_at(SPLIT);
    w.write_all(head.as_bytes())?;
    w.write_all(b"<script type=\"application/json\" id=\"agora-meta\">")?;
    w.write_all(script_safe_json(&meta).as_bytes())?;
    w.write_all(b"</script>\n")?;
    for (name, column) in &columns {
        write!(
            w,
            "<script type=\"application/octet-stream\" id=\"agora-col-{name}\">"
        )?;
        let mut b64 = Base64Writer::new(&mut *w);
        column.write_le(&mut b64)?;
        b64.finish()?;
        w.write_all(b"</script>\n")?;
    }
    w.write_all(&tail.as_bytes()[PLACEHOLDER.len()..])
}

/// JSON text that cannot end its `<script>` element early: `<` only occurs inside JSON
/// strings, where `\u003c` means the same character.
fn script_safe_json(value: &Value) -> String {
    value.to_string().replace('<', "\\u003c")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholder_occurs_exactly_once() {
        assert_eq!(TEMPLATE.matches(PLACEHOLDER).count(), 1);
    }

    #[test]
    fn script_safe_json_round_trips_and_hides_closing_tags() {
        let v = json!({ "scenario_name": "</script><script>alert(1)</script><!--" });
        let text = script_safe_json(&v);
        assert!(!text.contains('<'));
        assert_eq!(serde_json::from_str::<Value>(&text).unwrap(), v);
    }
}
