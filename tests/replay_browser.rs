//! Replays opened in headless Chromium: real runs made with `agora run` and `agora view`
//! (CSV and binary snapshots), and synthetic run folders that exercise the page's corners.
//! The page must report success, draw agents and charts, log nothing to the console, and
//! draw 10k agents in well under a 60 Hz frame.
//!
//! Chromium is a required test dependency (`AGORA_CHROMIUM`, else `/usr/bin/chromium`;
//! `tools/ci/install-deps.sh` installs Debian's `chromium`). Set `AGORA_REPLAY_EXAMPLE_PNG`
//! to a path to keep the screenshot of the real flocking run.

use std::collections::BTreeSet;
use std::f64::consts::TAU;
use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use agora_viewer::{ReplayOptions, write_replay};

/// Flags of every Chromium run: no sandbox (root in containers), software rendering, no
/// network, a 1280x800 viewport at device scale 1 so screenshot pixels are CSS pixels.
const CHROMIUM_FLAGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--force-device-scale-factor=1",
    "--window-size=1280,800",
    "--enable-logging=stderr",
    "--v=0",
];

const BROWSER_TIMEOUT: Duration = Duration::from_secs(180);

/// Browser runs are serialised: several at once on a small machine would distort the
/// frame-time measurement and risk the timeout.
static BROWSER: Mutex<()> = Mutex::new(());

fn chromium() -> PathBuf {
    let path = std::env::var_os("AGORA_CHROMIUM")
        .map_or_else(|| PathBuf::from("/usr/bin/chromium"), PathBuf::from);
    assert!(
        path.is_file(),
        "chromium not found at {}: the replay browser tests need it; run the project's \
         dependency install script (it installs Debian's `chromium` package) or set \
         AGORA_CHROMIUM to a Chromium binary",
        path.display()
    );
    path
}

struct BrowserRun {
    stdout: String,
    stderr: String,
}

fn run_chromium(url: &str, extra: &[&str]) -> BrowserRun {
    let _guard = BROWSER.lock().unwrap_or_else(|e| e.into_inner());
    let profile = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let (out_path, err_path) = (work.path().join("stdout"), work.path().join("stderr"));
    let mut child = Command::new(chromium())
        .args(CHROMIUM_FLAGS)
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(extra)
        .arg(url)
        .stdin(Stdio::null())
        .stdout(File::create(&out_path).unwrap())
        .stderr(File::create(&err_path).unwrap())
        .spawn()
        .expect("chromium failed to start");
    let started = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if started.elapsed() > BROWSER_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium did not finish {url} within {BROWSER_TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    BrowserRun {
        stdout: fs::read_to_string(out_path).unwrap(),
        stderr: fs::read_to_string(err_path).unwrap(),
    }
}

/// Console lines the page produced; the page logs only on error, so any is a failure.
fn page_console_errors(stderr: &str, page: &Path) -> Vec<String> {
    let page_url = format!("file://{}", page.display());
    stderr
        .lines()
        .filter(|l| l.contains("Uncaught") || (l.contains(":CONSOLE") && l.contains(&page_url)))
        .map(str::to_owned)
        .collect()
}

fn body_attr(dom: &str, name: &str) -> Option<String> {
    let body = &dom[dom.find("<body")?..];
    let body = &body[..body.find('>')?];
    let key = format!(" {name}=\"");
    let start = body.find(&key)? + key.len();
    Some(body[start..start + body[start..].find('"')?].to_owned())
}

fn title(dom: &str) -> &str {
    let start = dom.find("<title>").map_or(0, |i| i + "<title>".len());
    let end = dom[start..].find("</title>").map_or(start, |i| start + i);
    &dom[start..end]
}

/// Loads `page` with `--dump-dom` and checks status, console and the reported counts.
fn load_ok(page: &Path, fragment: &str, virtual_time: bool, expect_title: &str) -> String {
    let url = format!("file://{}{fragment}", page.display());
    let mut extra = vec!["--dump-dom"];
    if virtual_time {
        extra.push("--virtual-time-budget=5000");
    }
    let run = run_chromium(&url, &extra);
    let dom = run.stdout;
    assert_eq!(
        body_attr(&dom, "data-status").as_deref(),
        Some("ok"),
        "page status is not ok; title {:?}; stderr:\n{}",
        title(&dom),
        run.stderr
    );
    assert_eq!(title(&dom), expect_title);
    let errors = page_console_errors(&run.stderr, page);
    assert!(
        errors.is_empty(),
        "page logged to the console:\n{}",
        errors.join("\n")
    );
    dom
}

// ---- synthetic runs -------------------------------------------------------------------

fn splitmix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A fixed pseudo-random number in [0, 1) for (`key`, `salt`).
fn unit(key: u64, salt: u64) -> f64 {
    (splitmix(key.wrapping_mul(0x1000_0000_01B3) ^ salt) >> 11) as f64 / (1u64 << 53) as f64
}

/// Roughly normal, mean 0, sd 1: sum of four uniforms, rescaled.
fn normalish(key: u64, salt: u64) -> f64 {
    ((0..4).map(|k| unit(key, salt * 8 + k)).sum::<f64>() - 2.0) * 1.732
}

const WORLD: f64 = 100.0;
const FLOCKS: u64 = 7;

/// Flock `k`'s centre and heading at `t`: a Lissajous path, so trails curve and cross.
fn flock(k: u64, t: f64) -> (f64, f64, f64) {
    let r = 18.0 + 16.0 * unit(k, 1);
    let w = (0.006 + 0.01 * unit(k, 2)) * if k.is_multiple_of(2) { 1.0 } else { -1.0 };
    let (p, q) = (unit(k, 3) * TAU, unit(k, 4) * TAU);
    let x = 50.0 + r * (w * t + p).cos();
    let y = 50.0 + r * (1.4 * w * t + q).sin();
    let (vx, vy) = (
        -r * w * (w * t + p).sin(),
        1.4 * r * w * (1.4 * w * t + q).cos(),
    );
    (x, y, vy.atan2(vx))
}

/// Agent `i` at tick `t`: (population, x, y, heading, state).
fn agent(i: u64, t: f64) -> (u32, f64, f64, f64, u32) {
    let predator = i.is_multiple_of(97);
    let k = i % FLOCKS;
    let lag = if predator { 25.0 } else { 0.0 };
    let (cx, cy, ch) = flock(k, t - lag);
    let phase = unit(i, 5) * TAU;
    let turn = (0.05 * t + phase).sin();
    let heading = ch + 0.35 * turn;
    let (along, across) = (normalish(i, 6) * 4.5, normalish(i, 7) * 2.2 + 0.8 * turn);
    let x = (cx + along * ch.cos() - across * ch.sin()).rem_euclid(WORLD);
    let y = (cy + along * ch.sin() + across * ch.cos()).rem_euclid(WORLD);
    let state = if predator {
        2
    } else {
        u32::from(turn.abs() > 0.6)
    };
    (u32::from(predator), x, y, heading, state)
}

/// Writes a flocking-like run folder: `agents` agents, `frames` snapshots `every` ticks
/// apart, metrics `polarization` and `turning_fraction` at every tick.
fn write_flocking_run(dir: &Path, agents: u64, frames: u64, every: u64) -> io::Result<()> {
    let ticks = (frames - 1) * every;
    let predators = agents.div_ceil(97);
    let manifest = serde_json::json!({
        "agora_version": "0.1.0", "git_revision": "5f3a9c1",
        "scenario_name": "flocking-demo", "scenario_file": "scenarios/flocking.ron",
        "seed": 42, "threads": 1, "ticks": ticks, "stopped_by": "ticks",
        "status": "ok", "error": null, "wall_time_s": 1.84, "digest": "9c1e44a07b3d2f65",
        "world": { "kind": "continuous", "width": WORLD, "height": WORLD, "boundary": "torus",
                   "obstacles": [[12.0, 86.0], [88.0, 14.0]] },
        "populations": [
            { "index": 0, "behavior": "flocking", "count": agents - predators },
            { "index": 1, "behavior": "predator", "count": predators }
        ],
        "files": ["metrics.csv", "snapshots.csv", "summary.json", "scenario.ron"]
    });
    fs::write(dir.join("manifest.json"), manifest.to_string())?;

    let mut metrics = BufWriter::new(File::create(dir.join("metrics.csv"))?);
    writeln!(metrics, "tick,polarization,turning_fraction")?;
    for t in 0..=ticks {
        let (mut hx, mut hy, mut turning) = (0.0, 0.0, 0u64);
        for i in 0..agents {
            let (_, _, _, h, s) = agent(i, t as f64);
            hx += h.cos();
            hy += h.sin();
            turning += u64::from(s == 1);
        }
        let n = agents as f64;
        writeln!(metrics, "{t},{},{}", hx.hypot(hy) / n, turning as f64 / n)?;
    }
    metrics.flush()?;

    let mut snaps = BufWriter::new(File::create(dir.join("snapshots.csv"))?);
    writeln!(snaps, "tick,agent,population,x,y,heading,state")?;
    for f in 0..frames {
        let t = f * every;
        for i in 0..agents {
            let (p, x, y, h, s) = agent(i, t as f64);
            writeln!(snaps, "{t},{i},{p},{x:.4},{y:.4},{h:.4},{s}")?;
        }
    }
    snaps.flush()
}

// ---- screenshot analysis --------------------------------------------------------------

struct Image {
    width: usize,
    height: usize,
    rgb: Vec<[u8; 3]>,
}

fn read_png(path: &Path) -> Image {
    let decoder = png::Decoder::new(File::open(path).unwrap());
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    assert_eq!(info.bit_depth, png::BitDepth::Eight);
    let channels = match info.color_type {
        png::ColorType::Rgb => 3,
        png::ColorType::Rgba => 4,
        other => panic!("unexpected screenshot colour type {other:?}"),
    };
    let rgb = buf[..info.buffer_size()]
        .chunks_exact(channels)
        .map(|p| [p[0], p[1], p[2]])
        .collect();
    Image {
        width: info.width as usize,
        height: info.height as usize,
        rgb,
    }
}

/// `x,y,w,h` in CSS pixels (= screenshot pixels at scale 1).
fn parse_rect(text: &str) -> [usize; 4] {
    let v: Vec<usize> = text.split(',').map(|s| s.trim().parse().unwrap()).collect();
    [v[0], v[1], v[2], v[3]]
}

fn hex_rgb(hex: &str) -> [u8; 3] {
    let n = u32::from_str_radix(hex.trim().trim_start_matches('#'), 16).unwrap();
    [(n >> 16) as u8, (n >> 8) as u8, n as u8]
}

fn region(img: &Image, [x, y, w, h]: [usize; 4]) -> Vec<[u8; 3]> {
    let mut out = Vec::with_capacity(w * h);
    for row in y..(y + h).min(img.height) {
        for col in x..(x + w).min(img.width) {
            out.push(img.rgb[row * img.width + col]);
        }
    }
    out
}

fn near(a: [u8; 3], b: [u8; 3], tolerance: i32) -> bool {
    a.iter()
        .zip(&b)
        .all(|(&p, &q)| (i32::from(p) - i32::from(q)).abs() <= tolerance)
}

fn count_near(pixels: &[[u8; 3]], colour: [u8; 3], tolerance: i32) -> usize {
    pixels
        .iter()
        .filter(|&&p| near(p, colour, tolerance))
        .count()
}

// ---- real runs ------------------------------------------------------------------------

fn agora(args: &[&str]) {
    let out = Command::new(env!("CARGO_BIN_EXE_agora"))
        .args(args)
        .output()
        .expect("the agora binary runs");
    assert!(
        out.status.success(),
        "agora {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn scenario_path(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../scenarios")
        .join(name)
        .display()
        .to_string()
}

/// Screenshot checks shared by the real-run tests: the page is not blank, every population
/// colour covers part of the world view, and the charts carry their line colours.
fn check_screenshot(png_path: &Path, dom: &str, populations: usize, charts_drawn: usize) {
    let img = read_png(png_path);
    assert_eq!((img.width, img.height), (1280, 800));
    let distinct: BTreeSet<[u8; 3]> = img.rgb.iter().copied().collect();
    assert!(
        distinct.len() > 1000,
        "only {} colours: blank page?",
        distinct.len()
    );
    let world = parse_rect(&body_attr(dom, "data-world-rect").unwrap());
    let charts = parse_rect(&body_attr(dom, "data-charts-rect").unwrap());
    let palette: Vec<[u8; 3]> = body_attr(dom, "data-palette")
        .unwrap()
        .split(',')
        .map(hex_rgb)
        .collect();
    let world_px = region(&img, world);
    for (i, &colour) in palette.iter().take(populations).enumerate() {
        let n = count_near(&world_px, colour, 6);
        assert!(
            n >= 200,
            "population {i} colour {colour:?} covers only {n} pixels"
        );
    }
    let chart_colours: Vec<[u8; 3]> = body_attr(dom, "data-chart-colors")
        .unwrap()
        .split(',')
        .map(hex_rgb)
        .collect();
    let chart_px = region(&img, charts);
    for (i, &colour) in chart_colours.iter().take(charts_drawn).enumerate() {
        let n = count_near(&chart_px, colour, 24);
        assert!(
            n >= 100,
            "chart {i} colour {colour:?} covers only {n} pixels"
        );
    }
}

#[test]
fn real_flocking_run_replays_in_the_browser() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("flocking");
    let run_s = run.to_str().unwrap();
    agora(&[
        "run",
        &scenario_path("flocking_replay.ron"),
        "--ticks",
        "200",
        "--out",
        run_s,
        "-q",
    ]);
    agora(&["view", run_s, "--color-by", "population", "-q"]);
    let page = run.join("replay.html");
    let html = fs::read_to_string(&page).unwrap();
    assert!(
        html.contains(r#""name":"order""#),
        "the detector's change is embedded for the chart marker"
    );
    let fragment = "#frame=90";
    // 200 ticks, snapshots every 2: frames 0, 2, ..., 200; 6 metric columns.
    let dom = load_ok(
        &page,
        fragment,
        true,
        "agora replay: ok frames=101 agents=1200 charts=6",
    );
    assert!(
        dom.contains("flocking-replay") && dom.contains("north"),
        "manifest panel"
    );
    let shots = tempfile::tempdir().unwrap();
    let png_path = shots.path().join("replay.png");
    let url = format!("file://{}{fragment}", page.display());
    let shot = run_chromium(
        &url,
        &[
            "--virtual-time-budget=5000",
            &format!("--screenshot={}", png_path.display()),
        ],
    );
    let errors = page_console_errors(&shot.stderr, &page);
    assert!(errors.is_empty(), "console:\n{}", errors.join("\n"));
    if let Some(example) = std::env::var_os("AGORA_REPLAY_EXAMPLE_PNG") {
        fs::copy(&png_path, example).unwrap();
    }
    check_screenshot(&png_path, &dom, 3, 2);
}

#[test]
fn binary_snapshots_replay_like_csv_ones() {
    let dir = tempfile::tempdir().unwrap();
    let mut titles = Vec::new();
    for format in ["Csv", "Binary"] {
        let run = dir.path().join(format);
        let run_s = run.to_str().unwrap();
        agora(&[
            "run",
            &scenario_path("vicsek.ron"),
            "--ticks",
            "100",
            "--set",
            "record.snapshots=10",
            "--set",
            &format!("record.snapshot_format={format}"),
            "--out",
            run_s,
            "-q",
        ]);
        agora(&["view", run_s, "-q"]);
        let page = run.join("replay.html");
        let dom = load_ok(
            &page,
            "#frame=5",
            true,
            "agora replay: ok frames=11 agents=400 charts=4",
        );
        titles.push(title(&dom).to_owned());
        // The embedded columns are the same numbers whichever file they came from.
        let html = fs::read_to_string(&page).unwrap();
        let start = html.find("id=\"agora-col-s.x\">").unwrap();
        let end = start + html[start..].find("</script>").unwrap();
        titles.push(html[start..end].to_owned());
    }
    assert_eq!(titles[0], titles[2]);
    assert!(
        titles[1] == titles[3],
        "snapshot x columns differ between formats"
    );
}

// ---- synthetic run folders --------------------------------------------------------------

#[test]
fn flocking_replay_draws_agents_and_charts() {
    let dir = tempfile::tempdir().unwrap();
    write_flocking_run(dir.path(), 2000, 60, 5).unwrap();
    let page = write_replay(dir.path(), None, &ReplayOptions::default()).unwrap();

    let fragment = "#frame=40";
    let dom = load_ok(
        &page,
        fragment,
        true,
        "agora replay: ok frames=60 agents=2000 charts=2",
    );
    assert_eq!(body_attr(&dom, "data-frames").as_deref(), Some("60"));
    assert_eq!(body_attr(&dom, "data-agents").as_deref(), Some("2000"));
    assert!(
        dom.contains("flocking-demo") && dom.contains("9c1e44a07b3d2f65"),
        "manifest panel"
    );
    assert!(
        !dom.contains("id=\"agora-col-"),
        "data elements are removed once decoded"
    );
    let world = parse_rect(&body_attr(&dom, "data-world-rect").unwrap());
    let charts = parse_rect(&body_attr(&dom, "data-charts-rect").unwrap());
    let palette: Vec<[u8; 3]> = body_attr(&dom, "data-palette")
        .unwrap()
        .split(',')
        .map(hex_rgb)
        .collect();
    let chart_colours: Vec<[u8; 3]> = body_attr(&dom, "data-chart-colors")
        .unwrap()
        .split(',')
        .map(hex_rgb)
        .collect();

    let shots = tempfile::tempdir().unwrap();
    let png_path = shots.path().join("replay.png");
    let url = format!("file://{}{fragment}", page.display());
    let run = run_chromium(
        &url,
        &[
            "--virtual-time-budget=5000",
            &format!("--screenshot={}", png_path.display()),
        ],
    );
    let errors = page_console_errors(&run.stderr, &page);
    assert!(
        errors.is_empty(),
        "page logged to the console:\n{}",
        errors.join("\n")
    );
    if let Some(example) = std::env::var_os("AGORA_REPLAY_EXAMPLE_PNG") {
        fs::copy(&png_path, example).unwrap();
    }
    let img = read_png(&png_path);
    assert_eq!((img.width, img.height), (1280, 800));

    let distinct: BTreeSet<[u8; 3]> = img.rgb.iter().copied().collect();
    assert!(
        distinct.len() > 1000,
        "only {} distinct colours: blank page?",
        distinct.len()
    );

    assert!(
        world[2] > 400 && world[3] > 300,
        "world canvas too small: {world:?}"
    );
    let world_px = region(&img, world);
    // States 0 (aligned), 1 (turning) and 2 (predators) all occur in frame 40.
    for (state, &colour) in palette.iter().take(3).enumerate() {
        let n = count_near(&world_px, colour, 6);
        assert!(
            n >= 40,
            "state {state} colour {colour:?} covers only {n} pixels of the world view"
        );
    }
    let agent_px: usize = palette
        .iter()
        .take(3)
        .map(|&c| count_near(&world_px, c, 6))
        .sum();
    assert!(agent_px > 4000, "agents cover only {agent_px} pixels");

    assert!(
        charts[2] > 200 && charts[3] > 150,
        "chart area too small: {charts:?}"
    );
    let chart_px = region(&img, charts);
    let mut counts = std::collections::BTreeMap::new();
    for &p in &chart_px {
        *counts.entry(p).or_insert(0usize) += 1;
    }
    let panel = counts
        .into_iter()
        .max_by_key(|&(_, n)| n)
        .map(|(p, _)| p)
        .unwrap();
    let inked = chart_px.iter().filter(|&&p| !near(p, panel, 10)).count();
    assert!(
        inked * 50 > chart_px.len(),
        "charts nearly empty: {inked} of {} pixels",
        chart_px.len()
    );
    for (i, &colour) in chart_colours.iter().take(2).enumerate() {
        let n = count_near(&chart_px, colour, 24);
        assert!(
            n >= 100,
            "chart {i} line colour {colour:?} covers only {n} pixels"
        );
    }
}

#[test]
fn metrics_only_run_shows_charts_and_a_note() {
    let dir = tempfile::tempdir().unwrap();
    write_flocking_run(dir.path(), 50, 3, 20).unwrap();
    fs::remove_file(dir.path().join("snapshots.csv")).unwrap();
    let manifest = fs::read_to_string(dir.path().join("manifest.json")).unwrap();
    fs::write(
        dir.path().join("manifest.json"),
        manifest.replace("\"snapshots.csv\",", ""),
    )
    .unwrap();
    let page = write_replay(dir.path(), None, &ReplayOptions::default()).unwrap();
    let dom = load_ok(
        &page,
        "",
        true,
        "agora replay: ok frames=0 agents=0 charts=2",
    );
    assert!(dom.contains("snapshots were off for this run"));
}

#[test]
fn grid_world_without_headings_loads() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = serde_json::json!({
        "scenario_name": "grid-demo", "seed": 1, "ticks": 9, "status": "failed",
        "error": "stopped early", "digest": "00",
        "world": { "kind": "grid", "width": 30.0, "height": 20.0, "boundary": "walls",
                   "obstacles": [[3, 4], [3, 5], [10, 10]] },
        "files": ["metrics.csv", "snapshots.csv"]
    });
    fs::write(dir.path().join("manifest.json"), manifest.to_string()).unwrap();
    let mut metrics = String::from("tick,occupied\n");
    let mut snaps = String::from("tick,agent,population,x,y,heading,state\n");
    for t in 0..10u64 {
        metrics.push_str(&format!(
            "{t},{}\n",
            if t == 4 { f64::NAN } else { t as f64 }
        ));
        // Agent 5 leaves after tick 4: later frames have fewer rows, ids no longer 0..n.
        for a in (0..40u64).filter(|&a| t <= 4 || a != 5) {
            let (x, y) = ((a * 7 + t) % 30, (a * 3) % 20);
            snaps.push_str(&format!("{t},{a},{},{x},{y},,{}\n", a % 2, a % 3));
        }
    }
    fs::write(dir.path().join("metrics.csv"), metrics).unwrap();
    fs::write(dir.path().join("snapshots.csv"), snaps).unwrap();
    let page = write_replay(dir.path(), None, &ReplayOptions::default()).unwrap();
    let dom = load_ok(
        &page,
        "#frame=9",
        true,
        "agora replay: ok frames=10 agents=40 charts=1",
    );
    assert!(dom.contains("stopped early"), "the manifest error is shown");
}

#[test]
fn bad_data_and_script_errors_set_an_error_status() {
    let dir = tempfile::tempdir().unwrap();
    write_flocking_run(dir.path(), 50, 3, 5).unwrap();
    let page = write_replay(dir.path(), None, &ReplayOptions::default()).unwrap();
    let html = fs::read_to_string(&page).unwrap();
    let cases = [
        (
            "bad-format.html",
            html.replacen("\"format\":1", "\"format\":99", 1),
            "error: unsupported data format 99",
        ),
        (
            "late-throw.html",
            html.replacen("</body>", "<script>missingFunction();</script></body>", 1),
            "error: Uncaught ReferenceError: missingFunction is not defined",
        ),
    ];
    for (name, text, expected) in cases {
        let broken = dir.path().join(name);
        fs::write(&broken, text).unwrap();
        let url = format!("file://{}", broken.display());
        let run = run_chromium(&url, &["--dump-dom", "--virtual-time-budget=5000"]);
        let status = body_attr(&run.stdout, "data-status").unwrap_or_default();
        assert!(status.starts_with(expected), "{name}: status {status:?}");
        assert!(
            title(&run.stdout).starts_with("agora replay: error"),
            "{name}"
        );
    }
}

#[test]
#[expect(
    clippy::print_stderr,
    reason = "the measured frame time is the test's report"
)]
fn ten_thousand_agents_draw_well_within_a_frame() {
    let dir = tempfile::tempdir().unwrap();
    write_flocking_run(dir.path(), 10_000, 100, 5).unwrap();
    let page = write_replay(dir.path(), None, &ReplayOptions::default()).unwrap();
    let size = fs::metadata(&page).unwrap().len();
    // The bench draws synchronously during load; virtual time would make the clock lie.
    let dom = load_ok(
        &page,
        "#bench=100",
        false,
        "agora replay: ok frames=100 agents=10000 charts=2",
    );
    let mean: f64 = body_attr(&dom, "data-draw-ms").unwrap().parse().unwrap();
    let worst: f64 = body_attr(&dom, "data-draw-max-ms")
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(body_attr(&dom, "data-draw-samples").as_deref(), Some("100"));
    eprintln!(
        "10k agents x 100 frames: page {size} bytes, draw mean {mean:.2} ms, worst {worst:.2} ms"
    );
    assert!(mean > 0.0, "the page measured no draw time");
    assert!(
        mean < 16.0,
        "mean draw time {mean} ms is not within a 60 Hz frame"
    );
}
