//! `vicsek`: the self-propelled particles of Vicsek, Czirók, Ben-Jacob, Cohen & Shochet
//! (1995), "Novel type of phase transition in a system of self-driven particles", Phys. Rev.
//! Lett. 75, 1226.
//!
//! Every particle moves at constant speed `v`; each tick it takes the mean direction of the
//! particles within `radius` (itself included) plus a uniform random angle in
//! `[-noise/2, noise/2]`:
//!
//! `theta_i(t+1) = arg( sum_{|x_j - x_i| <= r} e^{i theta_j(t)} ) + U(-eta/2, eta/2)`,
//! `x_i(t+1) = x_i(t) + v e^{i theta_i(t+1)}`
//!
//! in a periodic box. The order parameter is the `polarization` metric. All particles update
//! simultaneously from the previous tick's positions and headings; the position step uses the
//! new heading (the "forward" update most implementations use; the 1995 text can be read
//! either way, and both give the same phase diagram).

use agora_engine::prelude::*;
use serde::{Deserialize, Serialize};
use std::f64::consts::TAU;

/// Scenario: `(behavior: "vicsek", count: 400, params: (speed: 0.03, radius: 1.0, noise: 2.0))`.
/// The published figures use `speed: 0.03`, `radius: 1.0`, and density `N / L^2` from 0.1 to
/// 4 (`scenarios/vicsek.ron`: N = 400 in a 10x10 box).
#[derive(Component, Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Vicsek {
    /// Distance moved per tick, `v` (default 0.03).
    pub speed: f64,
    /// Interaction radius `r` (default 1.0).
    pub radius: f64,
    /// Noise amplitude `eta` in radians, from 0 (none) to `2 pi` (a fully random heading);
    /// default 2.0.
    pub noise: f64,
}

impl Default for Vicsek {
    fn default() -> Self {
        Vicsek {
            speed: 0.03,
            radius: 1.0,
            noise: 2.0,
        }
    }
}

/// Positions and unit headings of every particle at the start of the tick.
#[derive(Resource, Default)]
struct VicsekIndex {
    grid: UniformGrid<DVec2>,
    radius: f64,
}

impl Behavior for Vicsek {
    const NAME: &'static str = "vicsek";
    const SUMMARY: &'static str =
        "Vicsek (1995) particles: constant speed, align with neighbours within r, plus noise.";

    fn build(sim: &mut SimBuilder) {
        let radius = sim
            .populations_of(Self::NAME)
            .iter()
            .filter_map(|&i| {
                serde_json::from_value::<Vicsek>(
                    sim.scenario().populations[i as usize].params.0.clone(),
                )
                .ok()
            })
            .map(|v| v.radius)
            .fold(0.0, f64::max);
        sim.insert_resource(VicsekIndex {
            grid: UniformGrid::new(),
            radius,
        });
        sim.add_systems(Phase::Sense, index_particles)
            .add_systems(Phase::Decide, align)
            .add_systems(Phase::Act, advance);
    }

    fn validate(&self, ctx: &ValidateCtx) -> Result<(), String> {
        if ctx.world.kind != SpaceKind::Continuous {
            return Err("vicsek needs a continuous world (`kind: Continuous`)".into());
        }
        for (name, v) in [("speed", self.speed), ("radius", self.radius)] {
            if !(v.is_finite() && v >= 0.0) {
                return Err(format!("`{name}` must be a non-negative number, got {v}"));
            }
        }
        if !(self.noise.is_finite() && (0.0..=TAU).contains(&self.noise)) {
            return Err(format!(
                "`noise` is an angle between 0 and 2 pi (6.283...), got {}",
                self.noise
            ));
        }
        Ok(())
    }

    /// Headings start uniformly at random, drawn from the particle's own stream.
    fn spawn(&self, agent: &mut AgentSpawn) {
        let theta = agent.rng().unit_f64() * TAU;
        agent.insert(Velocity(DVec2::from_angle(theta) * self.speed));
    }
}

fn index_particles(
    space: Res<Space>,
    mut index: ResMut<VicsekIndex>,
    particles: Query<(&AgentId, &Position, &Velocity), With<Vicsek>>,
) {
    let index = &mut *index;
    let tables = QueryTables::new(
        particles
            .contiguous_iter()
            .expect("every Vicsek component is stored in tables")
            .map(|(ids, pos, vel)| Particles(ids, pos, vel)),
    );
    index.grid.rebuild_indexed(&space, index.radius, &tables);
}

/// One ECS table's particles: ids, positions and velocities.
struct Particles<'w>(&'w [AgentId], &'w [Position], &'w [Velocity]);

impl TableRows for Particles<'_> {
    /// The heading.
    type Data = DVec2;

    fn rows(&self) -> usize {
        self.0.len()
    }

    #[inline(always)]
    fn item(&self, r: usize) -> GridItem<DVec2> {
        GridItem {
            pos: self.1[r].0,
            id: self.0[r].0,
            // A particle at speed 0 still has a direction to contribute: keep +x.
            data: self.2[r].0.try_normalize().unwrap_or(DVec2::X),
        }
    }
}

fn align(
    tick: Res<Tick>,
    rng: Res<SimRng>,
    index: Res<VicsekIndex>,
    mut particles: Query<(&AgentId, &Position, &mut Velocity, &Vicsek)>,
) {
    particles.par_iter_mut().for_each(|(id, pos, mut vel, p)| {
        let mut sum = DVec2::ZERO;
        index.grid.for_each_within(pos.0, p.radius, |other, _, _| {
            sum += other.data;
        });
        let own = vel.0.try_normalize().unwrap_or(DVec2::X);
        let mean = sum.try_normalize().unwrap_or(own);
        let u = rng.agent(id.0, tick.0, Purpose::DECIDE).unit_f64();
        let turn = p.noise * (u - 0.5);
        vel.0 = DVec2::from_angle(turn).rotate(mean) * p.speed;
    });
}

fn advance(space: Res<Space>, mut particles: Query<(&mut Position, &Velocity), With<Vicsek>>) {
    particles.par_iter_mut().for_each(|(mut pos, vel)| {
        pos.0 = space.wrap(pos.0 + vel.0);
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(noise: f64, ticks: u64) -> (f64, u64) {
        let registry = crate::registry();
        let src = format!(
            "#![enable(implicit_some)]
            (schema: 1, seed: 3, ticks: {ticks},
             world: (width: 5.0, height: 5.0),
             populations: [(behavior: \"vicsek\", count: 100, params: (speed: 0.05, noise: {noise}))],
             record: (metrics: [\"polarization\"]))"
        );
        let scenario = Scenario::parse(&src, "vicsek.ron", &registry).unwrap();
        let mut sim = Sim::new(&scenario, &registry, SimOptions::default()).unwrap();
        sim.run().unwrap();
        let summary = sim.finish().unwrap();
        (summary.metrics[0].1, summary.digest)
    }

    #[test]
    fn without_noise_a_dense_group_aligns_and_runs_are_reproducible() {
        let (phi, digest) = run(0.0, 300);
        assert!(phi > 0.99, "order {phi}");
        assert_eq!(run(0.0, 300).1, digest);
        let (disordered, _) = run(TAU, 300);
        assert!(disordered < 0.4, "order {disordered} at full noise");
    }

    #[test]
    fn speed_is_constant() {
        let registry = crate::registry();
        let scenario = Scenario::parse(
            "#![enable(implicit_some)]
            (schema: 1, seed: 1, ticks: 5, world: (width: 8.0, height: 8.0),
             populations: [(behavior: \"vicsek\", count: 50, params: (speed: 0.2))])",
            "v.ron",
            &registry,
        )
        .unwrap();
        let mut sim = Sim::new(&scenario, &registry, SimOptions::default()).unwrap();
        sim.run().unwrap();
        let mut q = sim.world_mut().query::<&Velocity>();
        for v in q.iter(sim.world()) {
            assert!((v.0.length() - 0.2).abs() < 1e-12);
        }
    }

    #[test]
    fn noise_beyond_two_pi_is_rejected() {
        let err = Scenario::parse(
            "#![enable(implicit_some)]
            (schema: 1, seed: 1, ticks: 5, world: (width: 8.0, height: 8.0),
             populations: [(behavior: \"vicsek\", count: 5, params: (noise: 7.0))])",
            "v.ron",
            &crate::registry(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("2 pi"), "{err}");
    }
}
