//! A stable hash of the world: all agents' state in agent-id order, for determinism checks.
//!
//! The hash is FNV-1a over a fixed byte encoding (little-endian integers, f64 bit patterns),
//! so it is the same on every platform and every Rust release, unlike `std`'s hashers.

use crate::agent::{AgentId, AgentState, GridCell, Population, Position, Velocity};
use bevy_ecs::prelude::{Component, Entity, Resource, World};
use glam::DVec2;

/// 64-bit FNV-1a.
#[derive(Debug, Clone, Copy)]
pub struct StableHasher(u64);

impl Default for StableHasher {
    fn default() -> Self {
        StableHasher(0xcbf2_9ce4_8422_2325)
    }
}

impl StableHasher {
    /// A fresh hasher.
    pub fn new() -> StableHasher {
        StableHasher::default()
    }

    /// Mixes in bytes.
    #[inline]
    pub fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }

    /// Mixes in a `u64`.
    #[inline]
    pub fn write_u64(&mut self, v: u64) {
        self.write(&v.to_le_bytes());
    }

    /// Mixes in an `f64` by its bit pattern (so -0.0 and 0.0 differ, as they may in results).
    #[inline]
    pub fn write_f64(&mut self, v: f64) {
        self.write_u64(v.to_bits());
    }

    /// The hash so far.
    pub fn finish(&self) -> u64 {
        self.0
    }
}

/// State that contributes to the world digest. Implement it for a behavior's own components
/// and register them with [`crate::SimBuilder::digest_component`].
pub trait DigestState {
    /// Feeds the state into the hasher in a fixed order.
    fn digest(&self, h: &mut StableHasher);
}

impl DigestState for f64 {
    fn digest(&self, h: &mut StableHasher) {
        h.write_f64(*self);
    }
}

impl DigestState for u64 {
    fn digest(&self, h: &mut StableHasher) {
        h.write_u64(*self);
    }
}

impl DigestState for u32 {
    fn digest(&self, h: &mut StableHasher) {
        h.write_u64(u64::from(*self));
    }
}

impl DigestState for bool {
    fn digest(&self, h: &mut StableHasher) {
        h.write(&[u8::from(*self)]);
    }
}

impl DigestState for DVec2 {
    fn digest(&self, h: &mut StableHasher) {
        h.write_f64(self.x);
        h.write_f64(self.y);
    }
}

impl<T: DigestState> DigestState for [T] {
    fn digest(&self, h: &mut StableHasher) {
        h.write_u64(self.len() as u64);
        for x in self {
            x.digest(h);
        }
    }
}

impl<T: DigestState> DigestState for Vec<T> {
    fn digest(&self, h: &mut StableHasher) {
        self.as_slice().digest(h);
    }
}

impl<T: DigestState> DigestState for Option<T> {
    fn digest(&self, h: &mut StableHasher) {
        match self {
            None => h.write(&[0]),
            Some(x) => {
                h.write(&[1]);
                x.digest(h);
            }
        }
    }
}

type EntityDigestFn = fn(&World, Entity, &mut StableHasher);
type WorldDigestFn = fn(&World, &mut StableHasher);

/// Which extra components and resources the digest covers, registered by plug-ins.
#[derive(Resource, Default)]
pub(crate) struct DigestFns {
    pub(crate) entity: Vec<(std::any::TypeId, EntityDigestFn)>,
    pub(crate) world: Vec<(std::any::TypeId, WorldDigestFn)>,
}

pub(crate) fn component_digest<C: Component + DigestState>(
    world: &World,
    e: Entity,
    h: &mut StableHasher,
) {
    match world.get::<C>(e) {
        Some(c) => {
            h.write(&[1]);
            c.digest(h);
        }
        None => h.write(&[0]),
    }
}

pub(crate) fn resource_digest<R: Resource + DigestState>(world: &World, h: &mut StableHasher) {
    if let Some(r) = world.get_resource::<R>() {
        r.digest(h);
    }
}

/// The digest of every agent (in id order) and every registered resource.
pub fn world_digest(world: &mut World) -> u64 {
    let mut q = world.query::<(Entity, &AgentId)>();
    let world = &*world;
    let fns = world.get_resource::<DigestFns>();
    let entity_fns: Vec<EntityDigestFn> = fns
        .map(|f| f.entity.iter().map(|(_, f)| *f).collect())
        .unwrap_or_default();
    let world_fns: Vec<WorldDigestFn> = fns
        .map(|f| f.world.iter().map(|(_, f)| *f).collect())
        .unwrap_or_default();
    let mut h = StableHasher::new();
    h.write_u64(q.iter(world).len() as u64);
    let mut agent = |id: u32, e: Entity| {
        h.write_u64(u64::from(id));
        if let Some(p) = world.get::<Population>(e) {
            h.write_u64(u64::from(p.0));
        }
        if let Some(p) = world.get::<Position>(e) {
            p.0.digest(&mut h);
        }
        if let Some(v) = world.get::<Velocity>(e) {
            v.0.digest(&mut h);
        }
        if let Some(c) = world.get::<GridCell>(e) {
            h.write_u64(c.x as u64);
            h.write_u64(c.y as u64);
        }
        if let Some(s) = world.get::<AgentState>(e) {
            h.write_u64(u64::from(s.0));
        }
        for f in &entity_fns {
            f(world, e, &mut h);
        }
    };
    // Agents usually sit in one table in spawn order, which is id order: then they are
    // hashed as the query yields them, without a sorted copy (16 MB at a million agents,
    // taken when a run's memory is at its peak).
    if q.iter(world).map(|(_, id)| id.0).is_sorted() {
        for (e, id) in q.iter(world) {
            agent(id.0, e);
        }
    } else {
        let mut agents: Vec<(u32, Entity)> = q.iter(world).map(|(e, id)| (id.0, e)).collect();
        agents.sort_unstable_by_key(|&(id, _)| id);
        for (id, e) in agents {
            agent(id, e);
        }
    }
    for f in &world_fns {
        f(world, &mut h);
    }
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn world_of(order: &[u32]) -> World {
        let mut world = World::new();
        for &id in order {
            world.spawn((
                AgentId(id),
                Population(0),
                Position(DVec2::new(f64::from(id), 1.5)),
                Velocity(DVec2::new(0.5, f64::from(id))),
            ));
        }
        world
    }

    #[test]
    fn the_digest_follows_ids_not_storage_order() {
        let ordered = world_digest(&mut world_of(&[0, 1, 2, 3, 4]));
        assert_eq!(world_digest(&mut world_of(&[3, 0, 4, 2, 1])), ordered);
        assert_ne!(world_digest(&mut world_of(&[0, 1, 2, 3])), ordered);
    }

    #[test]
    fn fnv1a_matches_the_reference_vectors() {
        let mut h = StableHasher::new();
        h.write(b"");
        assert_eq!(h.finish(), 0xcbf2_9ce4_8422_2325);
        let mut h = StableHasher::new();
        h.write(b"a");
        assert_eq!(h.finish(), 0xaf63_dc4c_8601_ec8c);
        let mut h = StableHasher::new();
        h.write(b"foobar");
        assert_eq!(h.finish(), 0x8594_4171_f739_67e8);
    }
}
