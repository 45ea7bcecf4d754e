//! `--dry-run`: the list of runs without running them.

use super::expand::SweepPlan;
use super::shard::Shard;
use super::table::{RowEncoder, value_text};
use std::io::{self, Write};

/// Writes the runs of `plan` (of `shard`, if given) as CSV: `index`, `cell`, `run_id`, one
/// column per swept path, `variant`, `seed`, `replication`.
pub fn write_plan(plan: &SweepPlan, shard: Option<Shard>, out: &mut impl Write) -> io::Result<()> {
    let mut enc = RowEncoder::new();
    let mut header: Vec<String> = vec!["index".into(), "cell".into(), "run_id".into()];
    header.extend(plan.columns.iter().map(ToString::to_string));
    header.extend(["variant", "seed", "replication"].map(String::from));
    out.write_all(enc.encode_strings(&header))?;
    let mut fields: Vec<String> = Vec::with_capacity(header.len());
    for run in plan
        .runs
        .iter()
        .filter(|r| shard.is_none_or(|s| s.contains(r.index)))
    {
        fields.clear();
        fields.push(run.index.to_string());
        fields.push(run.cell.to_string());
        fields.push(run.run_id.clone());
        fields.extend(run.params.iter().map(|(_, v)| value_text(v)));
        fields.push(run.variant.clone().unwrap_or_default());
        fields.push(run.seed.to_string());
        fields.push(run.replication.to_string());
        out.write_all(enc.encode_strings(&fields))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::expand::expand;
    use super::super::file::SweepFile;
    use super::*;
    use std::path::Path;

    #[test]
    fn lists_the_shard_runs_with_their_values() {
        let text = "(schema: 1, base: \"b.ron\", seed: 1, seeds: [4, 9], axes: [Values(path: \"world.boundary\", values: [Torus, Walls])])";
        let plan = expand(&SweepFile::parse(text, Path::new("s.ron")).unwrap()).unwrap();
        let mut out = Vec::new();
        write_plan(&plan, Some(Shard::new(1, 2).unwrap()), &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "index,cell,run_id,world.boundary,variant,seed,replication"
        );
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[1], format!("1,0,{},Torus,,9,1", plan.runs[1].run_id));
        assert_eq!(lines[2], format!("3,1,{},Walls,,9,1", plan.runs[3].run_id));
    }
}
