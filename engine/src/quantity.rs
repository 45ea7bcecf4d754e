//! Named per-agent quantities: the numbers that distribution metrics (Gini, Jain) summarise.
//!
//! A metric that works "over any per-agent quantity" names the quantity in its params
//! (`gini: (of: ["speed", "wealth"])`). The quantities are plug-ins like behaviors and
//! metrics: a type with a stable `NAME`, registered in `register_all`, so that scenarios are
//! checked against the list and `agora list` shows it. A behavior that has a number worth
//! measuring (energy, wealth, messages sent) adds a quantity for it next to itself.

use bevy_ecs::prelude::{Resource, World};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// A per-agent number, by name.
///
/// ```
/// use agora_engine::prelude::*;
/// use agora_engine::AgentQuantity;
/// use serde::{Deserialize, Serialize};
///
/// /// Distance from the world's centre.
/// #[derive(Clone, Debug, Default, Serialize, Deserialize)]
/// struct Eccentricity;
///
/// impl AgentQuantity for Eccentricity {
///     const NAME: &'static str = "eccentricity";
///     const SUMMARY: &'static str = "Distance from the centre of the world.";
///     fn collect(&mut self, world: &mut World, out: &mut Vec<(u32, f64)>) {
///         let space = world.resource::<Space>().clone();
///         let centre = DVec2::new(space.width / 2.0, space.height / 2.0);
///         let mut q = world.query::<(&AgentId, &Position)>();
///         out.extend(q.iter(world).map(|(id, p)| (id.0, space.delta(centre, p.0).length())));
///     }
/// }
/// // In `register_all`: `registry.quantity::<Eccentricity>();`
/// ```
pub trait AgentQuantity: Default + Serialize + DeserializeOwned + Send + Sync + 'static {
    /// The name metrics use (`of: ["speed"]`); stable, unique, snake_case.
    const NAME: &'static str;
    /// One line for `agora list`, with the unit.
    const SUMMARY: &'static str;

    /// Pushes `(agent id, value)` for every agent that has the quantity, in any order (users
    /// sort by id). Agents without it are left out. Read the world only; `self` may keep
    /// scratch buffers between calls.
    fn collect(&mut self, world: &mut World, out: &mut Vec<(u32, f64)>);
}

/// A quantity instance, as metrics hold it.
pub trait QuantitySource: Send + Sync {
    /// See [`AgentQuantity::collect`].
    fn collect(&mut self, world: &mut World, out: &mut Vec<(u32, f64)>);
}

impl<Q: AgentQuantity> QuantitySource for Q {
    fn collect(&mut self, world: &mut World, out: &mut Vec<(u32, f64)>) {
        AgentQuantity::collect(self, world, out);
    }
}

pub(crate) type MakeQuantityFn = fn() -> Box<dyn QuantitySource>;

pub(crate) fn make_quantity<Q: AgentQuantity>() -> Box<dyn QuantitySource> {
    Box::new(Q::default())
}

/// The registered quantities, available to metrics at run time as a resource.
#[derive(Resource, Clone, Default)]
pub struct Quantities {
    pub(crate) entries: Vec<(&'static str, MakeQuantityFn)>,
}

impl std::fmt::Debug for Quantities {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.entries.iter().map(|(n, _)| n))
            .finish()
    }
}

impl Quantities {
    /// Registered names, in registration order.
    pub fn names(&self) -> Vec<&'static str> {
        self.entries.iter().map(|(n, _)| *n).collect()
    }

    /// A fresh instance of quantity `name`.
    pub fn make(&self, name: &str) -> Option<Box<dyn QuantitySource>> {
        self.entries
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, make)| make())
    }
}

/// Collects quantity `name` for every agent, sorted by agent id; `None` when no such quantity
/// is registered. For metrics that compute it once; keep a [`QuantitySource`] from
/// [`Quantities::make`] to reuse its buffers.
pub fn collect_quantity(world: &mut World, name: &str) -> Option<Vec<(u32, f64)>> {
    let mut source = world.get_resource::<Quantities>()?.make(name)?;
    let mut out = Vec::new();
    source.collect(world, &mut out);
    out.sort_unstable_by_key(|&(id, _)| id);
    Some(out)
}
