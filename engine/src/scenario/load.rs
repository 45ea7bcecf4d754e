//! Loading: RON text to a resolved [`Scenario`], with positioned errors; JSON round trips for
//! overrides; writing the resolved scenario back as RON.

use super::overrides::{self, FieldPath};
use super::{Locator, Params, Placement, SCHEMA_VERSION, Scenario, ScenarioOf};
use crate::error::ScenarioError;
use crate::plugin::{Registry, ValidateCtx, unknown_name_message};
use crate::space::SpaceKind;
use ron::extensions::Extensions;
use ron::value::RawValue;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;
use std::path::Path;

/// Params as they appear in the file: the raw text, borrowed so its offset is known.
#[derive(Debug, Default)]
struct RawParams<'a>(Option<&'a RawValue>);

impl<'de: 'a, 'a> Deserialize<'de> for RawParams<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        <&'a RawValue>::deserialize(d).map(|r| RawParams(Some(r)))
    }
}

/// Params as RON text for writing the resolved scenario.
#[derive(Debug, Default)]
struct RonText(String);

impl Serialize for RonText {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match RawValue::from_ron(&self.0) {
            Ok(raw) => raw.serialize(s),
            Err(e) => Err(serde::ser::Error::custom(e)),
        }
    }
}

/// Where errors point: the origin, and a locator when the input is a file.
pub(super) struct ErrCtx<'a> {
    origin: &'a str,
    locator: Option<&'a Locator>,
}

impl ErrCtx<'_> {
    pub(super) fn at(&self, path: &str, message: impl Into<String>) -> ScenarioError {
        let mut e = ScenarioError::new(self.origin, message).at_field(path);
        if let Some((line, col)) = self.locator.and_then(|l| l.position_of(path)) {
            e = e.at(line, col);
        }
        e
    }
}

fn extensions_of(src: &str) -> Extensions {
    let mut ext = Extensions::empty();
    let mut rest = src.trim_start();
    while let Some(attr) = rest.strip_prefix("#![") {
        let Some(end) = attr.find(']') else { break };
        let inner = attr[..end].trim();
        if let Some(list) = inner
            .strip_prefix("enable(")
            .and_then(|s| s.strip_suffix(')'))
        {
            for name in list.split(',') {
                if let Some(e) = Extensions::from_ident(name.trim()) {
                    ext |= e;
                }
            }
        }
        rest = attr[end + 1..].trim_start();
    }
    ext
}

/// Turns ron's wording into ours: lowercase start, no trailing "instead", and for unknown
/// names the valid ones with the nearest match.
fn tidy_ron_message(code: &ron::Error) -> String {
    if let ron::Error::NoSuchEnumVariant {
        expected,
        found,
        outer,
    } = code
    {
        // `TopologySpec` reads as "topology variant" in the message.
        let kind = outer.as_deref().map_or_else(
            || "variant".to_owned(),
            |o| format!("{} variant", o.trim_end_matches("Spec").to_lowercase()),
        );
        return unknown_name_message(&kind, found, expected);
    }
    let msg = code.to_string();
    let msg = msg.trim_end_matches(" instead").to_owned();
    let mut chars = msg.chars();
    match chars.next() {
        Some(c) => c.to_lowercase().chain(chars).collect(),
        None => msg,
    }
}

fn spanned_error(
    origin: &str,
    locator: &Locator,
    err: &ron::error::SpannedError,
    line: usize,
    col: usize,
) -> ScenarioError {
    let mut e = ScenarioError::new(origin, tidy_ron_message(&err.code)).at(line, col);
    if let Some(path) = locator.path_at(line, col) {
        e = e.at_field(path);
    }
    e
}

impl Scenario {
    /// Reads and resolves a scenario file.
    pub fn load(path: &Path, registry: &Registry) -> Result<Scenario, ScenarioError> {
        let origin = path.display().to_string();
        let src = std::fs::read_to_string(path).map_err(|e| {
            let what = match e.kind() {
                std::io::ErrorKind::NotFound => "file not found".to_owned(),
                _ => format!("cannot read the file: {e}"),
            };
            ScenarioError::new(&origin, what)
        })?;
        Scenario::parse_at(&src, &origin, registry, Some(path))
    }

    /// Parses and resolves scenario text; `origin` names it in errors. Relative map paths are
    /// relative to the current directory.
    pub fn parse(src: &str, origin: &str, registry: &Registry) -> Result<Scenario, ScenarioError> {
        Scenario::parse_at(src, origin, registry, None)
    }

    /// [`Scenario::parse`] for text read from `source`.
    fn parse_at(
        src: &str,
        origin: &str,
        registry: &Registry,
        source: Option<&Path>,
    ) -> Result<Scenario, ScenarioError> {
        let locator = Locator::new(src);
        // Optional fields take plain values (`ticks: 100`) whether or not the file enables
        // `implicit_some`; `Some(100)` works too.
        let ext = extensions_of(src) | Extensions::IMPLICIT_SOME;
        let opts = ron::Options::default().with_default_extension(ext);
        let file: ScenarioOf<RawParams<'_>> = opts.from_str(src).map_err(|e| {
            spanned_error(origin, &locator, &e, e.span.start.line, e.span.start.col)
        })?;
        let ctx = ErrCtx {
            origin,
            locator: Some(&locator),
        };
        let mut scenario = file.map_params(|site, raw| -> Result<Params, ScenarioError> {
            let codec = registry
                .codec_for(site)
                .map_err(|m| ctx.at(&site.name_path(), m))?;
            let path = site.params_path();
            let Some(raw) = raw.0 else {
                return (codec.normalize)(&Value::Object(Default::default()))
                    .map(Params)
                    .map_err(|m| ctx.at(&path, m));
            };
            let text = raw.get_ron();
            let offset = text.as_ptr() as usize - src.as_ptr() as usize;
            (codec.parse_ron)(text, &opts).map(Params).map_err(|e| {
                // Positions inside the params text are relative to its first character.
                let (l0, c0) = locator.position(offset);
                let (l, c) = (e.span.start.line, e.span.start.col);
                let (line, col) = if l <= 1 {
                    (l0, c0 + c.saturating_sub(1))
                } else {
                    (l0 + l - 1, c)
                };
                let mut err = spanned_error(origin, &locator, &e, line, col);
                if err.field.is_none() {
                    err.field = Some(path.clone());
                }
                err
            })
        })?;
        scenario.source = source.map(Path::to_path_buf);
        fill_metric_params(&mut scenario, registry, &ctx)?;
        read_map_file(&mut scenario, &ctx)?;
        validate(&scenario, registry, &ctx)?;
        Ok(scenario)
    }

    /// The scenario in serde's data model, params included: the form overrides edit.
    pub fn to_json(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }

    /// Resolves a scenario from the JSON data model (after overrides); `origin` names the
    /// source in errors (for example `--set populations[0].count=-1`).
    pub fn from_json(
        value: Value,
        origin: &str,
        registry: &Registry,
    ) -> Result<Scenario, ScenarioError> {
        Scenario::from_json_at(value, origin, registry, None)
    }

    fn from_json_at(
        value: Value,
        origin: &str,
        registry: &Registry,
        source: Option<&Path>,
    ) -> Result<Scenario, ScenarioError> {
        let ctx = ErrCtx {
            origin,
            locator: None,
        };
        let scenario: Scenario = serde_path_to_error::deserialize(value).map_err(|e| {
            let path = e.path().to_string();
            let path = if path == "." { String::new() } else { path };
            ScenarioError::new(origin, e.into_inner().to_string()).at_field(path)
        })?;
        let mut scenario = scenario.map_params(|site, p| -> Result<Params, ScenarioError> {
            let codec = registry
                .codec_for(site)
                .map_err(|m| ctx.at(&site.name_path(), m))?;
            let raw = if p.0.is_null() {
                Value::Object(Default::default())
            } else {
                p.0.clone()
            };
            (codec.normalize)(&raw)
                .map(Params)
                .map_err(|m| ctx.at(&site.params_path(), m))
        })?;
        scenario.source = source.map(Path::to_path_buf);
        fill_metric_params(&mut scenario, registry, &ctx)?;
        read_map_file(&mut scenario, &ctx)?;
        validate(&scenario, registry, &ctx)?;
        Ok(scenario)
    }

    /// Applies `path=value` overrides and re-resolves; errors name the override.
    pub fn with_overrides(
        &self,
        overrides: &[(FieldPath, Value)],
        registry: &Registry,
    ) -> Result<Scenario, ScenarioError> {
        if overrides.is_empty() {
            return Ok(self.clone());
        }
        let mut json = self.to_json();
        for (path, value) in overrides {
            let origin = format!("override {path}={value}");
            overrides::set_path(&mut json, path, value.clone())
                .map_err(|e| ScenarioError::new(&origin, e.to_string()))?;
        }
        let origin = match overrides {
            [(path, value)] => format!("override {path}={value}"),
            _ => "overrides".to_owned(),
        };
        Scenario::from_json_at(json, &origin, registry, self.source.as_deref())
    }

    /// The resolved scenario as RON, every default written out; loading it gives back an
    /// equal scenario.
    pub fn to_ron(&self, registry: &Registry) -> Result<String, ScenarioError> {
        let err = |m: String| ScenarioError::new("resolved scenario", m);
        let out: ScenarioOf<RonText> = self.map_params(|site, p| {
            let codec = registry.codec_for(site).map_err(err)?;
            (codec.to_ron)(&p.0).map(RonText).map_err(err)
        })?;
        let pretty = ron::ser::PrettyConfig::new().struct_names(false);
        let body = ron::ser::to_string_pretty(&out, pretty).map_err(|e| err(e.to_string()))?;
        Ok(format!("#![enable(implicit_some)]\n{body}\n"))
    }
}

/// Every recorded metric (and the stop metric) gets explicit params, defaults included, so
/// the resolved scenario shows them.
fn fill_metric_params(
    s: &mut Scenario,
    registry: &Registry,
    ctx: &ErrCtx<'_>,
) -> Result<(), ScenarioError> {
    let mut names: Vec<(String, String)> = s
        .record
        .metrics
        .iter()
        .enumerate()
        .map(|(i, m)| (m.clone(), format!("record.metrics[{i}]")))
        .collect();
    if let Some(stop) = &s.stop {
        names.push((stop.metric.clone(), "stop.metric".to_owned()));
    }
    for (name, path) in names {
        let entry = registry.find_metric(&name).ok_or_else(|| {
            ctx.at(
                &path,
                unknown_name_message("metric", &name, &registry.names(crate::PluginKind::Metric)),
            )
        })?;
        if let std::collections::btree_map::Entry::Vacant(slot) = s.record.metric_params.entry(name)
        {
            let v = (entry.info.codec.normalize)(&Value::Object(Default::default()))
                .map_err(|m| ctx.at(&path, m))?;
            slot.insert(Params(v));
        }
    }
    Ok(())
}

fn validate(s: &Scenario, registry: &Registry, ctx: &ErrCtx<'_>) -> Result<(), ScenarioError> {
    if s.schema != SCHEMA_VERSION {
        return Err(ctx.at(
            "schema",
            format!("unsupported schema version {} (this version of Agora reads schema {SCHEMA_VERSION})", s.schema),
        ));
    }
    if s.ticks.is_none() && s.stop.is_none() {
        return Err(ctx.at(
            "",
            "give `ticks` (how many to run) or a `stop` condition, or both",
        ));
    }
    let w = &s.world;
    for (field, v) in [("world.width", w.width), ("world.height", w.height)] {
        if !(v.is_finite() && v > 0.0) {
            return Err(ctx.at(field, format!("must be a positive number, got {v}")));
        }
    }
    let grid = w.kind == SpaceKind::Grid;
    if grid {
        for (field, v) in [("world.width", w.width), ("world.height", w.height)] {
            if v.fract() != 0.0 || v > 65_536.0 {
                return Err(ctx.at(
                    field,
                    format!("a grid needs a whole number of cells up to 65536, got {v}"),
                ));
            }
        }
        for (i, &(x, y)) in w.obstacles.iter().enumerate() {
            if x < 0 || y < 0 || f64::from(x) >= w.width || f64::from(y) >= w.height {
                return Err(ctx.at(
                    &format!("world.obstacles[{i}]"),
                    format!(
                        "cell ({x}, {y}) is outside the {}x{} grid",
                        w.width, w.height
                    ),
                ));
            }
        }
        if let Some(super::MapSpec::Rows(rows)) = &w.map {
            let m = super::map::parse_rows(rows).map_err(|e| ctx.at("world.map", e))?;
            if f64::from(m.width) != w.width || f64::from(m.height) != w.height {
                return Err(ctx.at(
                    "world.map",
                    format!(
                        "the map is {}x{} cells but the world is {}x{}; set `width: {}.0, height: {}.0`",
                        m.width, m.height, w.width, w.height, m.width, m.height
                    ),
                ));
            }
        }
    } else {
        if w.map.is_some() {
            return Err(ctx.at("world.map", "a map needs `kind: Grid`"));
        }
        if w.one_per_cell {
            return Err(ctx.at(
                "world.one_per_cell",
                "one agent per cell needs `kind: Grid`",
            ));
        }
        if !w.obstacles.is_empty() {
            return Err(ctx.at(
                "world.obstacles",
                "obstacles are grid cells; they need `kind: Grid`",
            ));
        }
    }
    if s.populations.is_empty() {
        return Err(ctx.at("populations", "at least one population is needed"));
    }
    if s.populations.len() > usize::from(u16::MAX) {
        return Err(ctx.at("populations", "too many populations (at most 65535)"));
    }
    if s.agent_count() > u64::from(u32::MAX) {
        return Err(ctx.at("populations", "more than 4294967295 agents in total"));
    }
    if grid && w.one_per_cell {
        let free = (w.width * w.height) as u64 - w.blocked_cells().len() as u64;
        if s.agent_count() > free {
            return Err(ctx.at(
                "populations",
                format!(
                    "{} agents do not fit one per cell in {free} free cells",
                    s.agent_count()
                ),
            ));
        }
    }
    for (i, p) in s.populations.iter().enumerate() {
        let entry = registry.find_behavior(&p.behavior).ok_or_else(|| {
            ctx.at(
                &format!("populations[{i}].behavior"),
                unknown_name_message(
                    "behavior",
                    &p.behavior,
                    &registry.names(crate::PluginKind::Behavior),
                ),
            )
        })?;
        let vctx = ValidateCtx {
            world: w,
            count: u64::from(p.count),
            registry,
        };
        (entry.validate)(&p.params.0, &vctx)
            .map_err(|m| ctx.at(&format!("populations[{i}].params"), m))?;
        validate_placement(
            &p.placement,
            p.count,
            w,
            &format!("populations[{i}].placement"),
            ctx,
        )?;
    }
    let r = &s.record;
    if r.every == 0 {
        return Err(ctx.at("record.every", "must be at least 1 (record every N ticks)"));
    }
    if r.snapshots == Some(0) {
        return Err(ctx.at(
            "record.snapshots",
            "must be at least 1 (snapshot every N ticks), or None for off",
        ));
    }
    let mut seen = std::collections::BTreeSet::new();
    for (i, m) in r.metrics.iter().enumerate() {
        if !seen.insert(m) {
            return Err(ctx.at(
                &format!("record.metrics[{i}]"),
                format!("metric `{m}` is listed twice"),
            ));
        }
    }
    let vctx = ValidateCtx {
        world: w,
        count: s.agent_count(),
        registry,
    };
    for (name, params) in &r.metric_params {
        let entry = registry.find_metric(name).ok_or_else(|| {
            ctx.at(
                "record.metric_params",
                unknown_name_message("metric", name, &registry.names(crate::PluginKind::Metric)),
            )
        })?;
        (entry.validate)(&params.0, &vctx)
            .map_err(|m| ctx.at(&format!("record.metric_params.{name}"), m))?;
    }
    let sections = [
        s.allocation.as_ref().map(|a| {
            (
                crate::PluginKind::Protocol,
                &a.protocol,
                &a.params,
                "allocation",
            )
        }),
        s.conflicts
            .as_ref()
            .map(|c| (crate::PluginKind::Policy, &c.policy, &c.params, "conflicts")),
    ];
    for (kind, name, params, section) in sections.into_iter().flatten() {
        let entry = registry.find_mechanism(kind, name).ok_or_else(|| {
            ctx.at(
                &format!("{section}.{kind}"),
                unknown_name_message(&kind.to_string(), name, &registry.names(kind)),
            )
        })?;
        (entry.validate)(&params.0, &vctx).map_err(|m| ctx.at(&format!("{section}.params"), m))?;
    }
    validate_resources(s, ctx)?;
    if s.conflicts
        .as_ref()
        .is_some_and(|c| c.deadlock.patience == 0)
    {
        return Err(ctx.at(
            "conflicts.deadlock.patience",
            "must be at least 1 (ticks a deadlock lasts before a victim is chosen)",
        ));
    }
    if s.stop.as_ref().is_some_and(|stop| !stop.value.is_finite()) {
        return Err(ctx.at("stop.value", "must be a finite number"));
    }
    if let Some(tasks) = &s.tasks {
        crate::task::check(tasks, w.width, w.height, !grid).map_err(|(path, m)| {
            let path = if path.is_empty() {
                "tasks".to_owned()
            } else {
                format!("tasks.{path}")
            };
            ctx.at(&path, m)
        })?;
    }
    s.comms.check().map_err(|(path, m)| ctx.at(&path, m))?;
    crate::events::check_events(s).map_err(|(path, m)| ctx.at(&path, m))?;
    for (i, ev) in s.events.iter().enumerate() {
        if let crate::events::EventAction::Spawn {
            placement: Some(p),
            count,
            ..
        } = &ev.action
        {
            validate_placement(
                p,
                *count,
                &s.world,
                &format!("events[{i}].action.placement"),
                ctx,
            )?;
        }
    }
    super::record::validate(s, registry, ctx)
}

/// Reads a map given as a file into rows, so that the resolved scenario carries it.
fn read_map_file(s: &mut Scenario, ctx: &ErrCtx<'_>) -> Result<(), ScenarioError> {
    if let Some(super::MapSpec::File(name)) = &s.world.map {
        let path = super::map::map_path(name, s.source.as_deref());
        let m = super::map::read_map(&path).map_err(|e| ctx.at("world.map", e))?;
        s.world.map = Some(super::MapSpec::Rows(m.rows));
    }
    Ok(())
}

/// The `resources` table: names unique and not empty, capacities at least 1, cells inside a
/// grid world.
fn validate_resources(s: &Scenario, ctx: &ErrCtx<'_>) -> Result<(), ScenarioError> {
    let w = &s.world;
    for (i, r) in s.resources.iter().enumerate() {
        let path = format!("resources[{i}]");
        if r.name.trim().is_empty() {
            return Err(ctx.at(&format!("{path}.name"), "a resource needs a name"));
        }
        if s.resources[..i].iter().any(|o| o.name == r.name) {
            return Err(ctx.at(
                &format!("{path}.name"),
                format!("resource name `{}` is used twice", r.name),
            ));
        }
        if r.capacity == 0 {
            return Err(ctx.at(
                &format!("{path}.capacity"),
                "must be at least 1 (agents that can use it at once)",
            ));
        }
        if !r.cells.is_empty() && w.kind != SpaceKind::Grid {
            return Err(ctx.at(
                &format!("{path}.cells"),
                "resource cells need a grid world (`kind: Grid`); leave `cells` out for a resource usable anywhere",
            ));
        }
        for (k, &(x, y)) in r.cells.iter().enumerate() {
            if x < 0 || y < 0 || f64::from(x) >= w.width || f64::from(y) >= w.height {
                return Err(ctx.at(
                    &format!("{path}.cells[{k}]"),
                    format!(
                        "cell ({x}, {y}) is outside the {}x{} grid",
                        w.width, w.height
                    ),
                ));
            }
        }
    }
    Ok(())
}

fn validate_placement(
    p: &Placement,
    count: u32,
    w: &super::WorldSpec,
    path: &str,
    ctx: &ErrCtx<'_>,
) -> Result<(), ScenarioError> {
    let inside = |x: f64, y: f64| {
        x.is_finite()
            && y.is_finite()
            && (0.0..=w.width).contains(&x)
            && (0.0..=w.height).contains(&y)
    };
    match *p {
        Placement::Uniform => Ok(()),
        Placement::Point(x, y) if !inside(x, y) => Err(ctx.at(path, format!("point ({x}, {y}) is outside the world"))),
        Placement::Rect(x0, y0, x1, y1) if !(inside(x0, y0) && inside(x1, y1) && x0 < x1 && y0 < y1) => Err(ctx.at(
            path,
            format!("rect ({x0}, {y0}, {x1}, {y1}) must satisfy x0 < x1, y0 < y1 and lie inside the world"),
        )),
        Placement::Disc(x, y, r) if !(inside(x, y) && r.is_finite() && r > 0.0) => {
            Err(ctx.at(path, format!("disc centre ({x}, {y}) must be inside the world and its radius {r} positive")))
        }
        Placement::Positions(ref pts) => {
            if pts.len() != count as usize {
                return Err(ctx.at(path, format!("{} positions given for {count} agents", pts.len())));
            }
            match pts.iter().position(|&(x, y)| !inside(x, y)) {
                Some(i) => Err(ctx.at(&format!("{path}[{i}]"), "position is outside the world")),
                None => Ok(()),
            }
        }
        _ => Ok(()),
    }
}
