//! Goal-oriented action planning: A* over world states made of up to 64 named boolean facts.
//!
//! A state is a `u64` bitmask (bit `i` is fact `i`, in declaration order). An action applies
//! when its preconditions hold and sets its effect facts; a plan is a cheapest sequence of
//! actions from a start state to any state satisfying the goal condition.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, HashMap};

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Most facts a domain may declare: one bit each in a `u64` state.
pub const MAX_FACTS: usize = 64;

/// Default for [`GoapPlanner::node_limit`]: generous for hand-written behaviour domains (which
/// rarely reach a thousand states) while bounding a mistaken query to a few milliseconds.
pub const DEFAULT_NODE_LIMIT: usize = 100_000;

/// Errors from building a domain, naming facts, or planning.
#[derive(Debug, Clone, PartialEq, Error)]
#[non_exhaustive]
pub enum GoapError {
    /// A fact name is not declared in the domain.
    #[error("unknown fact `{name}` in {context}: expected one of [{valid}]")]
    UnknownFact {
        /// The unknown name.
        name: String,
        /// Where it appeared, e.g. "preconditions of action `harvest`".
        context: String,
        /// Declared fact names, comma separated.
        valid: String,
    },
    /// A fact is declared twice.
    #[error("duplicate fact `{name}`: expected fact names to be unique")]
    DuplicateFact {
        /// The repeated name.
        name: String,
    },
    /// Two actions share a name.
    #[error("duplicate action `{name}`: expected action names to be unique")]
    DuplicateAction {
        /// The repeated name.
        name: String,
    },
    /// More facts than fit in a `u64` state.
    #[error("domain declares {count} facts, expected at most {MAX_FACTS}")]
    TooManyFacts {
        /// Number declared.
        count: usize,
    },
    /// An action cost is zero, negative, infinite or NaN.
    #[error("action `{action}` has cost {cost}, expected a finite value > 0")]
    InvalidCost {
        /// The action's name.
        action: String,
        /// The rejected cost.
        cost: f64,
    },
    /// A start state sets bits for facts the domain does not declare.
    #[error("state {state:#x} sets bits beyond the {facts} declared facts")]
    InvalidState {
        /// The rejected state.
        state: u64,
        /// Number of declared facts.
        facts: usize,
    },
    /// Every state reachable from the start was explored without satisfying the goal.
    #[error("no plan reaches the goal: all {explored} reachable states were explored")]
    NoPlan {
        /// Number of states expanded.
        explored: usize,
    },
    /// The search expanded `limit` states without finding a plan; one may still exist.
    #[error("planning stopped after expanding {limit} states: expected a larger node limit")]
    NodeLimit {
        /// The limit that was hit.
        limit: usize,
    },
}

/// A partial assignment of facts: the facts in `mask` must have (or are given) the values in
/// `values`. Used for preconditions, effects and goals.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct FactValues {
    mask: u64,
    values: u64,
}

impl FactValues {
    /// Bits of the facts this assignment mentions.
    pub fn mask(&self) -> u64 {
        self.mask
    }

    /// Required or assigned values of the mentioned facts (always a subset of `mask`).
    pub fn values(&self) -> u64 {
        self.values
    }

    /// Whether every mentioned fact has its value in `state`.
    pub fn holds_in(&self, state: u64) -> bool {
        state & self.mask == self.values
    }

    /// `state` with the mentioned facts set to their values.
    pub fn apply_to(&self, state: u64) -> u64 {
        (state & !self.mask) | self.values
    }

    /// How many mentioned facts differ in `state`.
    pub fn unmet(&self, state: u64) -> u32 {
        ((state ^ self.values) & self.mask).count_ones()
    }
}

/// Serialized form of an action, e.g.
/// `(name: "harvest", pre: {"at_food": true}, effects: {"carrying": true}, cost: 1.0)`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GoapActionSpec {
    /// Unique action name.
    pub name: String,
    /// Facts that must have these values for the action to apply. Default: none.
    #[serde(default)]
    pub pre: BTreeMap<String, bool>,
    /// Facts set by the action. Default: none.
    #[serde(default)]
    pub effects: BTreeMap<String, bool>,
    /// Cost of performing the action; finite and `> 0`. Required.
    pub cost: f64,
}

/// Serialized form of a domain: `(facts: [...], actions: [...])`. Validate it with
/// [`GoapDomain::new`], or deserialize a [`GoapDomain`] directly.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GoapDomainSpec {
    /// Fact names, bit 0 first; at most [`MAX_FACTS`], unique.
    pub facts: Vec<String>,
    /// Available actions. Default: none.
    #[serde(default)]
    pub actions: Vec<GoapActionSpec>,
}

/// A validated action.
#[derive(Debug, Clone, PartialEq)]
pub struct GoapAction {
    name: String,
    pre: FactValues,
    effects: FactValues,
    cost: f64,
}

impl GoapAction {
    /// The action's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its preconditions.
    pub fn pre(&self) -> FactValues {
        self.pre
    }

    /// Its effects.
    pub fn effects(&self) -> FactValues {
        self.effects
    }

    /// Its cost (finite, `> 0`).
    pub fn cost(&self) -> f64 {
        self.cost
    }

    /// Whether the action's preconditions hold in `state`.
    pub fn applies_to(&self, state: u64) -> bool {
        self.pre.holds_in(state)
    }
}

/// A validated planning domain. Deserializing one runs the same validation as
/// [`GoapDomain::new`], so a bad domain file fails at load time with a message naming the
/// offending fact or action.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(try_from = "GoapDomainSpec")]
pub struct GoapDomain {
    facts: Vec<String>,
    actions: Vec<GoapAction>,
}

impl TryFrom<GoapDomainSpec> for GoapDomain {
    type Error = GoapError;

    fn try_from(spec: GoapDomainSpec) -> Result<Self, GoapError> {
        Self::new(spec)
    }
}

impl GoapDomain {
    /// Validates `spec`: at most [`MAX_FACTS`] unique facts, unique action names, known fact
    /// names in every precondition and effect, and finite positive costs.
    pub fn new(spec: GoapDomainSpec) -> Result<Self, GoapError> {
        if spec.facts.len() > MAX_FACTS {
            return Err(GoapError::TooManyFacts {
                count: spec.facts.len(),
            });
        }
        let mut seen = BTreeSet::new();
        for fact in &spec.facts {
            if !seen.insert(fact.as_str()) {
                return Err(GoapError::DuplicateFact { name: fact.clone() });
            }
        }
        let mut domain = Self {
            facts: spec.facts,
            actions: Vec::with_capacity(spec.actions.len()),
        };
        let mut names = BTreeSet::new();
        for action in spec.actions {
            if !names.insert(action.name.clone()) {
                return Err(GoapError::DuplicateAction { name: action.name });
            }
            if !(action.cost.is_finite() && action.cost > 0.0) {
                return Err(GoapError::InvalidCost {
                    action: action.name,
                    cost: action.cost,
                });
            }
            let pre = domain.assignment(action.pre, || {
                format!("preconditions of action `{}`", action.name)
            })?;
            let effects = domain.assignment(action.effects, || {
                format!("effects of action `{}`", action.name)
            })?;
            domain.actions.push(GoapAction {
                name: action.name,
                pre,
                effects,
                cost: action.cost,
            });
        }
        Ok(domain)
    }

    /// Declared fact names, bit 0 first.
    pub fn facts(&self) -> &[String] {
        &self.facts
    }

    /// Actions in declaration order; plans refer to them by index.
    pub fn actions(&self) -> &[GoapAction] {
        &self.actions
    }

    /// Bit index of the fact called `name`.
    pub fn fact_index(&self, name: &str) -> Option<usize> {
        self.facts.iter().position(|f| f == name)
    }

    /// Index of the action called `name`.
    pub fn action_index(&self, name: &str) -> Option<usize> {
        self.actions.iter().position(|a| a.name == name)
    }

    /// The state in which exactly the named facts are true.
    pub fn state<S: AsRef<str>>(&self, true_facts: &[S]) -> Result<u64, GoapError> {
        let pairs = true_facts.iter().map(|name| (name.as_ref(), true));
        Ok(self.assignment(pairs, || "state".to_owned())?.values)
    }

    /// A goal or condition from `(fact, value)` pairs (a later pair for the same fact wins).
    pub fn condition<S: AsRef<str>>(
        &self,
        pairs: impl IntoIterator<Item = (S, bool)>,
    ) -> Result<FactValues, GoapError> {
        self.assignment(pairs, || "condition".to_owned())
    }

    /// Names of a plan's actions, in order (indices outside the domain are skipped).
    pub fn action_names<'a>(&'a self, plan: &'a Plan) -> impl Iterator<Item = &'a str> + 'a {
        plan.actions
            .iter()
            .filter_map(|&i| self.actions.get(i).map(GoapAction::name))
    }

    /// Plans with a fresh [`GoapPlanner`] using [`DEFAULT_NODE_LIMIT`]; see
    /// [`GoapPlanner::plan`].
    pub fn plan(&self, start: u64, goal: &FactValues) -> Result<Plan, GoapError> {
        GoapPlanner::new().plan(self, start, goal)
    }

    fn assignment<S: AsRef<str>>(
        &self,
        pairs: impl IntoIterator<Item = (S, bool)>,
        context: impl Fn() -> String,
    ) -> Result<FactValues, GoapError> {
        let mut out = FactValues::default();
        for (name, value) in pairs {
            let name = name.as_ref();
            let bit = self
                .fact_index(name)
                .ok_or_else(|| GoapError::UnknownFact {
                    name: name.to_owned(),
                    context: context(),
                    valid: self.facts.join(", "),
                })?;
            out.mask |= 1 << bit;
            out.values &= !(1 << bit);
            out.values |= u64::from(value) << bit;
        }
        Ok(out)
    }
}

/// A plan: action indices into [`GoapDomain::actions`], in execution order, and their total
/// cost.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Plan {
    /// Actions to perform, first to last (empty when the start already satisfies the goal).
    pub actions: Vec<usize>,
    /// Sum of the actions' costs.
    pub cost: f64,
}

#[derive(Debug, Clone, Copy)]
struct Node {
    g: f64,
    parent: u32,
    action: u32,
    closed: bool,
}

/// Open-list entry: lowest `f`, then highest `g`, then lowest state bits, then lowest node id.
#[derive(Debug, Clone, Copy)]
struct Entry {
    f: f64,
    g: f64,
    state: u64,
    node: u32,
}

impl Ord for Entry {
    fn cmp(&self, other: &Self) -> Ordering {
        other
            .f
            .total_cmp(&self.f)
            .then_with(|| self.g.total_cmp(&other.g))
            .then_with(|| other.state.cmp(&self.state))
            .then_with(|| other.node.cmp(&self.node))
    }
}

impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Entry {}

/// Reusable A* planner over fact states. Keeping one per agent (or per worker) avoids
/// reallocating its tables on every query.
#[derive(Debug, Clone)]
pub struct GoapPlanner {
    /// Most states expanded before giving up with [`GoapError::NodeLimit`]. Default:
    /// [`DEFAULT_NODE_LIMIT`].
    pub node_limit: usize,
    nodes: Vec<Node>,
    /// Looked up only, never iterated, so hash order cannot reach the result.
    index: HashMap<u64, u32>,
    open: BinaryHeap<Entry>,
}

impl Default for GoapPlanner {
    fn default() -> Self {
        Self::new()
    }
}

impl GoapPlanner {
    /// A planner with [`DEFAULT_NODE_LIMIT`].
    pub fn new() -> Self {
        Self::with_node_limit(DEFAULT_NODE_LIMIT)
    }

    /// A planner that expands at most `node_limit` states per query.
    pub fn with_node_limit(node_limit: usize) -> Self {
        Self {
            node_limit,
            nodes: Vec::new(),
            index: HashMap::new(),
            open: BinaryHeap::new(),
        }
    }

    /// Finds a cheapest plan from `start` to a state satisfying `goal`.
    ///
    /// The heuristic is `ceil(unmet / k) * c_min`, where `unmet` counts goal facts that differ,
    /// `k` is the most goal facts one action sets and `c_min` the cheapest action cost. (The
    /// simpler `unmet * c_min` overestimates when one action sets several goal facts.) It is
    /// consistent, so the first goal state expanded is optimal. Among equal-cost plans the
    /// result is fixed by the open-list order (lowest `f`, highest `g`, lowest state bits), with
    /// actions tried in declaration order and a state's parent replaced only by a strictly
    /// cheaper one.
    pub fn plan(
        &mut self,
        domain: &GoapDomain,
        start: u64,
        goal: &FactValues,
    ) -> Result<Plan, GoapError> {
        let facts = domain.facts.len();
        if facts < MAX_FACTS && start >> facts != 0 {
            return Err(GoapError::InvalidState {
                state: start,
                facts,
            });
        }
        let min_cost = domain
            .actions
            .iter()
            .map(|a| a.cost)
            .fold(f64::INFINITY, f64::min);
        let per_action = domain
            .actions
            .iter()
            .map(|a| (a.effects.mask & goal.mask).count_ones())
            .max()
            .unwrap_or(0);
        let heuristic = |state: u64| -> f64 {
            let unmet = goal.unmet(state);
            if unmet == 0 || per_action == 0 {
                0.0
            } else {
                f64::from(unmet.div_ceil(per_action)) * min_cost
            }
        };

        self.nodes.clear();
        self.index.clear();
        self.open.clear();
        self.nodes.push(Node {
            g: 0.0,
            parent: u32::MAX,
            action: 0,
            closed: false,
        });
        self.index.insert(start, 0);
        self.open.push(Entry {
            f: heuristic(start),
            g: 0.0,
            state: start,
            node: 0,
        });
        let mut expanded = 0;

        while let Some(entry) = self.open.pop() {
            let id = entry.node as usize;
            if self.nodes[id].closed {
                continue;
            }
            if goal.holds_in(entry.state) {
                return Ok(self.reconstruct(entry.node));
            }
            if expanded >= self.node_limit {
                return Err(GoapError::NodeLimit {
                    limit: self.node_limit,
                });
            }
            self.nodes[id].closed = true;
            expanded += 1;
            for (a, action) in domain.actions.iter().enumerate() {
                if !action.applies_to(entry.state) {
                    continue;
                }
                let next = action.effects.apply_to(entry.state);
                let g = entry.g + action.cost;
                let slot = match self.index.get(&next) {
                    Some(&existing) => {
                        let node = &mut self.nodes[existing as usize];
                        if node.closed || g >= node.g {
                            continue;
                        }
                        node.g = g;
                        node.parent = entry.node;
                        node.action = a as u32;
                        existing
                    }
                    None => {
                        let new_id = self.nodes.len() as u32;
                        self.nodes.push(Node {
                            g,
                            parent: entry.node,
                            action: a as u32,
                            closed: false,
                        });
                        self.index.insert(next, new_id);
                        new_id
                    }
                };
                self.open.push(Entry {
                    f: g + heuristic(next),
                    g,
                    state: next,
                    node: slot,
                });
            }
        }
        Err(GoapError::NoPlan { explored: expanded })
    }

    fn reconstruct(&self, goal_node: u32) -> Plan {
        let mut actions = Vec::new();
        let mut at = goal_node;
        while self.nodes[at as usize].parent != u32::MAX {
            let node = self.nodes[at as usize];
            actions.push(node.action as usize);
            at = node.parent;
        }
        actions.reverse();
        Plan {
            actions,
            cost: self.nodes[goal_node as usize].g,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn domain(src: &str) -> GoapDomain {
        ron::from_str(src).unwrap()
    }

    fn names(domain: &GoapDomain, plan: &Plan) -> Vec<String> {
        domain.action_names(plan).map(str::to_owned).collect()
    }

    /// Replays a plan, checking every precondition, the goal and the cost.
    fn check_plan(domain: &GoapDomain, start: u64, goal: &FactValues, plan: &Plan) {
        let mut state = start;
        let mut cost = 0.0;
        for &a in &plan.actions {
            let action = &domain.actions()[a];
            assert!(
                action.applies_to(state),
                "{} not applicable in {state:#b}",
                action.name()
            );
            state = action.effects().apply_to(state);
            cost += action.cost();
        }
        assert!(goal.holds_in(state));
        assert!((cost - plan.cost).abs() < 1e-9);
    }

    const CAMP: &str = r#"(
        facts: ["has_axe", "has_wood", "fire", "at_shed"],
        actions: [
            (name: "light", pre: {"has_wood": true}, effects: {"fire": true, "has_wood": false}, cost: 1.0),
            (name: "chop", pre: {"has_axe": true}, effects: {"has_wood": true}, cost: 2.0),
            (name: "take_axe", pre: {"at_shed": true}, effects: {"has_axe": true}, cost: 1.0),
            (name: "walk_to_shed", effects: {"at_shed": true}, cost: 3.0),
        ],
    )"#;

    #[test]
    fn ordering_is_required() {
        let d = domain(CAMP);
        let goal = d.condition([("fire", true)]).unwrap();
        let plan = d.plan(0, &goal).unwrap();
        assert_eq!(
            names(&d, &plan),
            ["walk_to_shed", "take_axe", "chop", "light"]
        );
        assert_eq!(plan.cost, 7.0);
        check_plan(&d, 0, &goal, &plan);
        // Already holding the axe skips the first two steps.
        let start = d.state(&["has_axe"]).unwrap();
        let plan = d.plan(start, &goal).unwrap();
        assert_eq!(names(&d, &plan), ["chop", "light"]);
        // A satisfied goal needs no actions.
        let plan = d.plan(d.state(&["fire"]).unwrap(), &goal).unwrap();
        assert_eq!(
            plan,
            Plan {
                actions: vec![],
                cost: 0.0
            }
        );
    }

    #[test]
    fn cheaper_longer_plan_wins() {
        let d = domain(
            r#"(
            facts: ["fed", "at_field", "has_grain", "has_bread"],
            actions: [
                (name: "buy_meal", effects: {"fed": true}, cost: 10.0),
                (name: "go_field", effects: {"at_field": true}, cost: 1.0),
                (name: "harvest", pre: {"at_field": true}, effects: {"has_grain": true}, cost: 1.0),
                (name: "bake", pre: {"has_grain": true}, effects: {"has_bread": true, "has_grain": false}, cost: 2.0),
                (name: "eat", pre: {"has_bread": true}, effects: {"fed": true, "has_bread": false}, cost: 1.0),
            ],
        )"#,
        );
        let goal = d.condition([("fed", true)]).unwrap();
        let plan = d.plan(0, &goal).unwrap();
        assert_eq!(names(&d, &plan), ["go_field", "harvest", "bake", "eat"]);
        assert_eq!(plan.cost, 5.0);
        check_plan(&d, 0, &goal, &plan);
    }

    #[test]
    fn multi_effect_action_keeps_heuristic_admissible() {
        // Optimal: prepare (1.0) then set_all (1.5) = 2.5. The estimate `unmet * c_min` would
        // put the prepared state at f = 1 + 3 = 4 and return the three singles (3.0) first.
        let d = domain(
            r#"(
            facts: ["a", "b", "c", "ready"],
            actions: [
                (name: "set_a", effects: {"a": true}, cost: 1.0),
                (name: "set_b", effects: {"b": true}, cost: 1.0),
                (name: "set_c", effects: {"c": true}, cost: 1.0),
                (name: "prepare", effects: {"ready": true}, cost: 1.0),
                (name: "set_all", pre: {"ready": true}, effects: {"a": true, "b": true, "c": true}, cost: 1.5),
            ],
        )"#,
        );
        let goal = d
            .condition([("a", true), ("b", true), ("c", true)])
            .unwrap();
        let plan = d.plan(0, &goal).unwrap();
        assert_eq!(names(&d, &plan), ["prepare", "set_all"]);
        assert_eq!(plan.cost, 2.5);
    }

    #[test]
    fn impossible_goal_is_no_plan() {
        let d = domain(CAMP);
        // Fire needs wood, wood needs the axe, the axe needs the shed, and nothing ever leaves
        // the shed.
        let goal = d
            .condition([("fire", true), ("has_wood", true), ("at_shed", false)])
            .unwrap();
        let err = d.plan(0, &goal).unwrap_err();
        assert!(
            matches!(err, GoapError::NoPlan { explored } if explored > 0),
            "{err:?}"
        );
    }

    #[test]
    fn node_limit_stops_search() {
        let facts: Vec<String> = (0..20).map(|i| format!("f{i}")).collect();
        let mut actions: Vec<GoapActionSpec> = facts
            .iter()
            .map(|f| GoapActionSpec {
                name: format!("set_{f}"),
                pre: BTreeMap::new(),
                effects: BTreeMap::from([(f.clone(), true)]),
                cost: 1.0,
            })
            .collect();
        actions.push(GoapActionSpec {
            name: "never".into(),
            pre: BTreeMap::from([("f0".into(), false), ("f1".into(), true)]),
            effects: BTreeMap::new(),
            cost: 1.0,
        });
        let d = GoapDomain::new(GoapDomainSpec { facts, actions }).unwrap();
        // Unreachable goal in a 2^20-state space: f0 can only ever become true.
        let goal = d.condition([("f0", false), ("f19", true)]).unwrap();
        let start = d.state(&["f0"]).unwrap();
        let mut planner = GoapPlanner::with_node_limit(500);
        assert_eq!(
            planner.plan(&d, start, &goal),
            Err(GoapError::NodeLimit { limit: 500 })
        );
        // The same planner still answers reachable queries afterwards.
        let goal = d.condition([("f19", true)]).unwrap();
        let plan = planner.plan(&d, start, &goal).unwrap();
        assert_eq!(names(&d, &plan), ["set_f19"]);
    }

    #[test]
    fn documented_example_parses() {
        let d = domain(
            r#"(facts: ["at_food", "carrying"], actions: [(name: "harvest", pre: {"at_food": true}, effects: {"carrying": true}, cost: 1.0)])"#,
        );
        assert_eq!(d.facts(), ["at_food", "carrying"]);
        let harvest = &d.actions()[0];
        assert_eq!((harvest.pre().mask(), harvest.pre().values()), (0b01, 0b01));
        assert_eq!(
            (harvest.effects().mask(), harvest.effects().values()),
            (0b10, 0b10)
        );
        let goal = d.condition([("carrying", true)]).unwrap();
        assert_eq!(
            d.plan(d.state(&["at_food"]).unwrap(), &goal)
                .unwrap()
                .actions,
            vec![0]
        );
        assert!(matches!(
            d.plan(0, &goal),
            Err(GoapError::NoPlan { explored: 1 })
        ));
    }

    #[test]
    fn validation_errors_are_typed_and_descriptive() {
        let parse = |src: &str| ron::from_str::<GoapDomain>(src).unwrap_err().to_string();
        let unknown = parse(
            r#"(facts: ["at_food", "carrying"], actions: [(name: "harvest", pre: {"at_fod": true}, cost: 1.0)])"#,
        );
        assert!(unknown.contains("unknown fact `at_fod`"), "{unknown}");
        assert!(
            unknown.contains("preconditions of action `harvest`"),
            "{unknown}"
        );
        assert!(unknown.contains("[at_food, carrying]"), "{unknown}");
        let field = parse(r#"(facts: [], actions: [(name: "x", cost: 1.0, price: 2.0)])"#);
        assert!(field.contains("price"), "{field}");
        let field = parse(r#"(facts: [], goals: [])"#);
        assert!(field.contains("goals"), "{field}");

        let spec = |facts: Vec<&str>, actions: Vec<(&str, f64)>| GoapDomainSpec {
            facts: facts.into_iter().map(String::from).collect(),
            actions: actions
                .into_iter()
                .map(|(name, cost)| GoapActionSpec {
                    name: name.into(),
                    pre: BTreeMap::new(),
                    effects: BTreeMap::new(),
                    cost,
                })
                .collect(),
        };
        assert_eq!(
            GoapDomain::new(spec(vec!["a"], vec![("x", 1.0), ("x", 2.0)])),
            Err(GoapError::DuplicateAction { name: "x".into() })
        );
        assert_eq!(
            GoapDomain::new(spec(vec!["a", "a"], vec![])),
            Err(GoapError::DuplicateFact { name: "a".into() })
        );
        for cost in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            let err = GoapDomain::new(spec(vec!["a"], vec![("x", cost)])).unwrap_err();
            assert!(matches!(err, GoapError::InvalidCost { ref action, .. } if action == "x"));
        }
        let many: Vec<String> = (0..65).map(|i| format!("f{i}")).collect();
        let err = GoapDomain::new(GoapDomainSpec {
            facts: many.clone(),
            actions: vec![],
        });
        assert_eq!(err, Err(GoapError::TooManyFacts { count: 65 }));
        let full = GoapDomain::new(GoapDomainSpec {
            facts: many[..64].to_vec(),
            actions: vec![],
        });
        let full = full.unwrap();
        assert_eq!(full.state(&["f63"]), Ok(1 << 63));
        assert!(full.plan(u64::MAX, &FactValues::default()).is_ok());

        let d = domain(CAMP);
        assert!(matches!(
            d.state(&["fyre"]),
            Err(GoapError::UnknownFact { .. })
        ));
        assert_eq!(
            d.plan(1 << 4, &FactValues::default()),
            Err(GoapError::InvalidState {
                state: 16,
                facts: 4
            })
        );
    }

    /// Exhaustive Dijkstra over all 2^k states.
    fn brute_force(domain: &GoapDomain, start: u64, goal: &FactValues) -> Option<f64> {
        let n = 1usize << domain.facts().len();
        let mut dist = vec![f64::INFINITY; n];
        let mut done = vec![false; n];
        dist[start as usize] = 0.0;
        loop {
            let next = (0..n)
                .filter(|&s| !done[s] && dist[s].is_finite())
                .min_by(|&a, &b| dist[a].total_cmp(&dist[b]));
            let Some(s) = next else { break };
            done[s] = true;
            for action in domain.actions() {
                if action.applies_to(s as u64) {
                    let t = action.effects().apply_to(s as u64) as usize;
                    dist[t] = dist[t].min(dist[s] + action.cost());
                }
            }
        }
        (0..n)
            .filter(|&s| goal.holds_in(s as u64))
            .map(|s| dist[s])
            .fold(None, |best, d| {
                if d.is_finite() {
                    Some(best.map_or(d, |b: f64| b.min(d)))
                } else {
                    best
                }
            })
    }

    type RandomAction = (Vec<Option<bool>>, Vec<Option<bool>>, f64);

    /// Small domains: sparse preconditions (so actions apply), dense effects (so one action
    /// often sets several goal facts, where a careless heuristic overestimates), costs chosen
    /// so that longer plans regularly beat shorter ones.
    fn arb_problem() -> impl Strategy<Value = (usize, Vec<RandomAction>, u64, Vec<Option<bool>>)> {
        (1usize..=7).prop_flat_map(|k| {
            let fact =
                |none: u32| prop_oneof![none => Just(None), 1 => any::<bool>().prop_map(Some)];
            let assignment = move |none: u32| proptest::collection::vec(fact(none), k);
            let cost = prop_oneof![Just(1.0), Just(1.5), Just(2.0), Just(2.5), Just(4.0)];
            let action = (assignment(4), assignment(1), cost);
            let goal_fact =
                prop_oneof![2 => Just(None), 5 => Just(Some(true)), 1 => Just(Some(false))];
            let goal = proptest::collection::vec(goal_fact, k);
            let start = prop_oneof![Just(0), 0..(1u64 << k)];
            (
                Just(k),
                proptest::collection::vec(action, 1..14),
                start,
                goal,
            )
        })
    }

    fn build(k: usize, actions: &[RandomAction]) -> GoapDomain {
        let facts: Vec<String> = (0..k).map(|i| format!("f{i}")).collect();
        let to_map = |values: &[Option<bool>]| {
            values
                .iter()
                .enumerate()
                .filter_map(|(i, v)| v.map(|v| (format!("f{i}"), v)))
                .collect::<BTreeMap<_, _>>()
        };
        let actions = actions
            .iter()
            .enumerate()
            .map(|(i, (pre, effects, cost))| GoapActionSpec {
                name: format!("a{i}"),
                pre: to_map(pre),
                effects: to_map(effects),
                cost: *cost,
            })
            .collect();
        GoapDomain::new(GoapDomainSpec { facts, actions }).unwrap()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1000))]

        #[test]
        fn plan_cost_is_optimal((k, actions, start, goal) in arb_problem()) {
            let d = build(k, &actions);
            let goal = d
                .condition(goal.iter().enumerate().filter_map(|(i, v)| v.map(|v| (format!("f{i}"), v))))
                .unwrap();
            let expected = brute_force(&d, start, &goal);
            let mut planner = GoapPlanner::new();
            match (planner.plan(&d, start, &goal), expected) {
                (Ok(plan), Some(cost)) => {
                    prop_assert!((plan.cost - cost).abs() < 1e-9, "{} vs {}", plan.cost, cost);
                    check_plan(&d, start, &goal, &plan);
                    prop_assert_eq!(planner.plan(&d, start, &goal), Ok(plan));
                }
                (Err(GoapError::NoPlan { .. }), None) => {}
                (got, want) => prop_assert!(false, "planner {:?} vs brute force {:?}", got, want),
            }
        }
    }
}
