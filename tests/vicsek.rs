//! The published shape of the Vicsek transition (Vicsek et al. 1995, Phys. Rev. Lett. 75,
//! 1226, Fig. 2a, N = 400 at density 4): the order parameter is near 1 for small noise,
//! falls as the noise grows, and is of order `1/sqrt(N)` at `eta = 2 pi`, with a transition
//! in between.

use agora_engine::{Scenario, Sim, SimOptions};
use std::path::Path;

/// Noise levels, the ticks to run, and from which tick the order parameter is averaged.
const NOISES: [f64; 7] = [0.1, 1.0, 2.0, 3.0, 4.0, 5.0, std::f64::consts::TAU];

fn mean_order(noise: f64, ticks: u64, from: u64) -> f64 {
    let registry = agora_agents::registry();
    let base = Scenario::load(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios/vicsek.ron"),
        &registry,
    )
    .expect("scenarios/vicsek.ron loads");
    let overrides = [
        format!("populations[0].params.noise={noise}"),
        format!("ticks={ticks}"),
        "record.metrics=[\"polarization\"]".to_owned(),
        "record.detect=[]".to_owned(),
    ];
    let overrides: Vec<_> = overrides
        .iter()
        .map(|s| agora_engine::scenario::overrides::parse_assignment(s).unwrap())
        .collect();
    let scenario = base.with_overrides(&overrides, &registry).unwrap();
    let mut sim = Sim::new(&scenario, &registry, SimOptions::default()).unwrap();
    let (mut sum, mut n) = (0.0, 0u32);
    while sim.tick() < ticks {
        sim.step().unwrap();
        if sim.tick() >= from && sim.tick().is_multiple_of(10) {
            sum += sim.metrics_now()[0].1;
            n += 1;
        }
    }
    sum / f64::from(n)
}

#[test]
fn order_parameter_follows_the_published_curve() {
    // 2000 ticks from random headings: the order parameter settles within a few hundred at
    // every noise level here; the second half is averaged (100 samples).
    let (ticks, from) = (2000, 1000);
    let phi: Vec<f64> = NOISES
        .iter()
        .map(|&eta| mean_order(eta, ticks, from))
        .collect();
    let table = NOISES
        .iter()
        .zip(&phi)
        .map(|(eta, p)| format!("eta {eta:.2}: {p:.3}"))
        .collect::<Vec<_>>()
        .join(", ");
    let n = 400f64;
    assert!(phi[0] > 0.95, "nearly ordered at eta -> 0; got {table}");
    for w in phi.windows(2) {
        // Above the transition the values sit at the noise floor and may tie.
        assert!(
            w[1] < w[0] + 0.02,
            "order must fall as noise grows; got {table}"
        );
    }
    for w in phi[..6].windows(2) {
        assert!(
            w[1] < w[0] - 0.03,
            "a visible fall below eta = 5; got {table}"
        );
    }
    let last = phi[NOISES.len() - 1];
    assert!(
        last < 3.0 / n.sqrt() && last > 0.3 / n.sqrt(),
        "of order 1/sqrt(N) = {:.3} at eta = 2 pi; got {table}",
        1.0 / n.sqrt()
    );
    assert!(
        phi.iter().any(|&p| p > 0.3 && p < 0.7),
        "a transition between order and disorder; got {table}"
    );
}
