//! Which process of a distributed launch this is, from the environment its
//! launcher sets: torchrun's (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR,
//! MASTER_PORT; TORCHELASTIC_* under its agent), or Slurm's srun
//! (SLURM_PROCID, SLURM_NTASKS, SLURM_LOCALID; the master from MASTER_ADDR /
//! MASTER_PORT or else the job's first node and a port from the job id).

use crate::error::{usage, Result};

/// This process's place in a distributed run.
#[derive(Debug, Clone, PartialEq)]
pub struct Launch {
    pub rank: usize,
    pub world: usize,
    /// The process's index on its machine: it picks cuda:LOCAL_RANK.
    pub local_rank: usize,
    /// How many of the run's processes share this machine, where the
    /// launcher says (torchrun's LOCAL_WORLD_SIZE; Slurm's
    /// SLURM_NTASKS_PER_NODE, else this node's entry of
    /// SLURM_STEP_TASKS_PER_NODE or SLURM_TASKS_PER_NODE at SLURM_NODEID);
    /// None when it does not.
    pub local_world: Option<usize>,
    /// Where the rendezvous store is served (rank 0's host).
    pub host: String,
    pub port: u16,
    /// torchrun's agent serves the store (TORCHELASTIC_USE_AGENT_STORE):
    /// every rank connects to it; otherwise rank 0 serves it.
    pub agent_store: bool,
    /// TORCHELASTIC_RESTART_COUNT: how often torchrun restarted the group.
    pub restart: u64,
    /// The variables that made this a distributed run, for messages.
    pub source: &'static str,
}

/// First port of those derived from SLURM_JOB_ID when MASTER_PORT is unset
/// (one of 10000 ports, so concurrent jobs rarely collide).
pub const SLURM_PORT_BASE: u64 = 20000;

/// The launch the variables describe; None when none is set, or under
/// Slurm with one task (a plain job, or one task of a sweep's job array).
pub fn detect(var: &dyn Fn(&str) -> Option<String>) -> Result<Option<Launch>> {
    if let Some(world) = var("WORLD_SIZE") {
        return from_torchrun(var, &world).map(Some);
    }
    let tasks = var("SLURM_STEP_NUM_TASKS").or_else(|| var("SLURM_NTASKS"));
    match (var("SLURM_PROCID"), tasks) {
        (Some(rank), Some(tasks)) if number("SLURM_NTASKS", &tasks)? > 1 => {
            from_slurm(var, &rank, &tasks).map(Some)
        }
        _ => Ok(None),
    }
}

fn from_torchrun(var: &dyn Fn(&str) -> Option<String>, world: &str) -> Result<Launch> {
    let world = positive("WORLD_SIZE", world)?;
    let rank = var("RANK").ok_or_else(|| {
        usage("WORLD_SIZE is set (a distributed launch) but RANK is not: set RANK to this process's index, 0 to WORLD_SIZE-1 (torchrun sets both)")
    })?;
    let rank = rank_in("RANK", &rank, world, "WORLD_SIZE")?;
    let local_rank = match var("LOCAL_RANK") {
        Some(v) => number("LOCAL_RANK", &v)? as usize,
        None => rank,
    };
    let local_world = optional(var, "LOCAL_WORLD_SIZE")?;
    let missing = |name: &str| {
        usage(format!(
            "WORLD_SIZE is set (a distributed launch) but {name} is not: set MASTER_ADDR and MASTER_PORT to rank 0's host and a free port (torchrun sets them)"
        ))
    };
    let host = var("MASTER_ADDR").ok_or_else(|| missing("MASTER_ADDR"))?;
    let port = var("MASTER_PORT").ok_or_else(|| missing("MASTER_PORT"))?;
    Ok(Launch {
        rank,
        world,
        local_rank,
        local_world,
        host,
        port: port_number("MASTER_PORT", &port)?,
        agent_store: var("TORCHELASTIC_USE_AGENT_STORE").is_some_and(|v| v == "True"),
        restart: match var("TORCHELASTIC_RESTART_COUNT") {
            Some(v) => number("TORCHELASTIC_RESTART_COUNT", &v)?,
            None => 0,
        },
        source: "RANK/WORLD_SIZE",
    })
}

fn from_slurm(var: &dyn Fn(&str) -> Option<String>, rank: &str, tasks: &str) -> Result<Launch> {
    let world = positive("SLURM_NTASKS", tasks)?;
    let rank = rank_in("SLURM_PROCID", rank, world, "SLURM_NTASKS")?;
    let local_rank = match var("SLURM_LOCALID") {
        Some(v) => number("SLURM_LOCALID", &v)? as usize,
        None => 0,
    };
    let host = match var("MASTER_ADDR") {
        Some(h) => h,
        None => {
            let nodes = var("SLURM_STEP_NODELIST")
                .or_else(|| var("SLURM_JOB_NODELIST"))
                .ok_or_else(|| {
                    usage("SLURM_NTASKS > 1 (a distributed srun) but neither MASTER_ADDR nor SLURM_JOB_NODELIST is set: set MASTER_ADDR to the first task's host")
                })?;
            first_host(&nodes).ok_or_else(|| {
                usage(format!(
                    "SLURM_JOB_NODELIST={nodes:?}: expected Slurm's host list (node1,node[2-4]); set MASTER_ADDR instead"
                ))
            })?
        }
    };
    let port = match (var("MASTER_PORT"), var("SLURM_JOB_ID")) {
        (Some(p), _) => port_number("MASTER_PORT", &p)?,
        (None, Some(job)) => (SLURM_PORT_BASE + number("SLURM_JOB_ID", &job)? % 10000) as u16,
        (None, None) => {
            return Err(usage(
                "SLURM_NTASKS > 1 (a distributed srun) but neither MASTER_PORT nor SLURM_JOB_ID is set: set MASTER_PORT to a free port",
            ))
        }
    };
    Ok(Launch {
        rank,
        world,
        local_rank,
        local_world: match optional(var, "SLURM_NTASKS_PER_NODE")? {
            Some(n) => Some(n),
            None => tasks_here(var)?,
        },
        host,
        port,
        agent_store: false,
        restart: 0,
        source: "SLURM_PROCID/SLURM_NTASKS",
    })
}

/// The tasks Slurm placed on this node: SLURM_STEP_TASKS_PER_NODE (else
/// SLURM_TASKS_PER_NODE) at SLURM_NODEID (0 when unset); None when neither
/// list is set.
fn tasks_here(var: &dyn Fn(&str) -> Option<String>) -> Result<Option<usize>> {
    let Some((name, list)) = ["SLURM_STEP_TASKS_PER_NODE", "SLURM_TASKS_PER_NODE"]
        .into_iter()
        .find_map(|name| var(name).map(|list| (name, list)))
    else {
        return Ok(None);
    };
    let node = match var("SLURM_NODEID") {
        Some(v) => number("SLURM_NODEID", &v)? as usize,
        None => 0,
    };
    match tasks_on_node(&list, node) {
        Some(n) if n > 0 => Ok(Some(n)),
        _ => Err(usage(format!(
            "{name}={list:?} with SLURM_NODEID={node}: expected Slurm's tasks per node (2(x3),1) with an entry for node {node}"
        ))),
    }
}

/// Entry `node` of a Slurm tasks-per-node list: "2(x3),1" is 2 tasks on
/// each of nodes 0 to 2 and 1 on node 3.
pub fn tasks_on_node(list: &str, node: usize) -> Option<usize> {
    let mut first: usize = 0;
    for part in list.trim().split(',') {
        let (count, repeat) = match part.split_once("(x") {
            Some((count, repeat)) => (count, repeat.strip_suffix(')')?.parse().ok()?),
            None => (part, 1),
        };
        first = first.saturating_add(repeat);
        if node < first {
            return count.parse().ok();
        }
    }
    None
}

/// The first host of a Slurm host list: "gpu[03-05,9],cpu1" -> "gpu03".
pub fn first_host(list: &str) -> Option<String> {
    let list = list.trim();
    let end = list.find([',', '[']).unwrap_or(list.len());
    let prefix = &list[..end];
    if !list[end..].starts_with('[') {
        return (!prefix.is_empty()).then(|| prefix.to_string());
    }
    let close = list.find(']')?;
    let first = list[end + 1..close].split([',', '-']).next()?;
    if first.is_empty() || !first.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let rest = &list[close + 1..];
    let suffix = &rest[..rest.find(',').unwrap_or(rest.len())];
    Some(format!("{prefix}{first}{suffix}"))
}

fn number(name: &str, value: &str) -> Result<u64> {
    value.trim().parse().map_err(|_| {
        usage(format!(
            "{name}={value:?}: expected a non-negative whole number"
        ))
    })
}

/// A count the launcher may set: None when unset.
fn optional(var: &dyn Fn(&str) -> Option<String>, name: &str) -> Result<Option<usize>> {
    var(name).map(|v| positive(name, &v)).transpose()
}

fn positive(name: &str, value: &str) -> Result<usize> {
    match number(name, value)? {
        0 => Err(usage(format!(
            "{name}=0: expected the number of processes, at least 1"
        ))),
        n => Ok(n as usize),
    }
}

fn rank_in(name: &str, value: &str, world: usize, world_name: &str) -> Result<usize> {
    let rank = number(name, value)? as usize;
    if rank >= world {
        return Err(usage(format!(
            "{name}={rank}: expected 0 to {} ({world_name}={world})",
            world - 1
        )));
    }
    Ok(rank)
}

fn port_number(name: &str, value: &str) -> Result<u16> {
    match value.trim().parse::<u16>() {
        Ok(p) if p > 0 => Ok(p),
        _ => Err(usage(format!(
            "{name}={value:?}: expected a TCP port, 1 to 65535"
        ))),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::error::exit_code;

    /// An environment of `pairs` for [`detect`] and its kin.
    pub(crate) fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k: &str| map.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())
    }

    fn error(pairs: &[(&str, &str)]) -> String {
        let err = detect(&env(pairs)).unwrap_err();
        assert_eq!(exit_code(&err), 2, "{err}");
        err.to_string()
    }

    #[test]
    fn torchrun_variables() {
        let l = detect(&env(&[
            ("WORLD_SIZE", "4"),
            ("RANK", "3"),
            ("LOCAL_RANK", "1"),
            ("LOCAL_WORLD_SIZE", "2"),
            ("MASTER_ADDR", "10.0.0.1"),
            ("MASTER_PORT", "29500"),
            ("TORCHELASTIC_USE_AGENT_STORE", "True"),
            ("TORCHELASTIC_RESTART_COUNT", "2"),
        ]))
        .unwrap()
        .unwrap();
        assert_eq!((l.rank, l.world, l.local_rank), (3, 4, 1));
        assert_eq!(l.local_world, Some(2));
        assert_eq!(
            (l.host.as_str(), l.port, l.agent_store, l.restart),
            ("10.0.0.1", 29500, true, 2)
        );
    }

    #[test]
    fn no_variables_is_one_process_and_so_is_one_slurm_task() {
        assert_eq!(detect(&env(&[])).unwrap(), None);
        let one = env(&[
            ("SLURM_PROCID", "0"),
            ("SLURM_NTASKS", "1"),
            ("SLURM_JOB_ID", "7"),
        ]);
        assert_eq!(detect(&one).unwrap(), None);
    }

    #[test]
    fn slurm_variables_derive_the_master() {
        let l = detect(&env(&[
            ("SLURM_PROCID", "5"),
            ("SLURM_NTASKS", "8"),
            ("SLURM_LOCALID", "1"),
            ("SLURM_JOB_NODELIST", "gpu[07-08]"),
            ("SLURM_JOB_ID", "123456"),
        ]))
        .unwrap()
        .unwrap();
        assert_eq!((l.rank, l.world, l.local_rank), (5, 8, 1));
        assert_eq!((l.host.as_str(), l.port), ("gpu07", 23456));
    }

    #[test]
    fn slurm_tasks_per_node() {
        assert_eq!(tasks_on_node("2", 0), Some(2));
        assert_eq!(tasks_on_node("2(x3),1", 2), Some(2));
        assert_eq!(tasks_on_node("2(x3),1", 3), Some(1));
        assert_eq!(tasks_on_node("2(x3),1", 4), None);
        assert_eq!(tasks_on_node("2,1", 1), Some(1));
        assert_eq!(tasks_on_node("x(x2)", 0), None);
        let srun = |extra: &[(&str, &str)]| {
            let base = [
                ("SLURM_PROCID", "0"),
                ("SLURM_NTASKS", "5"),
                ("SLURM_JOB_NODELIST", "n[1-2]"),
                ("SLURM_JOB_ID", "7"),
            ];
            detect(&env(&[&base[..], extra].concat())).map(|l| l.unwrap().local_world)
        };
        assert_eq!(srun(&[]).unwrap(), None);
        assert_eq!(srun(&[("SLURM_TASKS_PER_NODE", "3,2")]).unwrap(), Some(3));
        let second = [("SLURM_TASKS_PER_NODE", "3,2"), ("SLURM_NODEID", "1")];
        assert_eq!(srun(&second).unwrap(), Some(2));
        let step = [
            ("SLURM_STEP_TASKS_PER_NODE", "4,1"),
            ("SLURM_TASKS_PER_NODE", "3,2"),
        ];
        assert_eq!(srun(&step).unwrap(), Some(4));
        let given = [
            ("SLURM_NTASKS_PER_NODE", "1"),
            ("SLURM_TASKS_PER_NODE", "3,2"),
        ];
        assert_eq!(srun(&given).unwrap(), Some(1));
        let msg = srun(&[("SLURM_TASKS_PER_NODE", "3,2"), ("SLURM_NODEID", "2")])
            .unwrap_err()
            .to_string();
        assert!(msg.contains("SLURM_TASKS_PER_NODE"), "{msg}");
    }

    #[test]
    fn slurm_host_lists() {
        assert_eq!(first_host("node1").as_deref(), Some("node1"));
        assert_eq!(first_host("a1,b2").as_deref(), Some("a1"));
        assert_eq!(first_host("gpu[003-005,9],cpu1").as_deref(), Some("gpu003"));
        assert_eq!(first_host("r[2,4]-ib").as_deref(), Some("r2-ib"));
        assert_eq!(first_host("x[a-b]"), None);
        assert_eq!(first_host(""), None);
    }

    #[test]
    fn bad_variables_name_themselves() {
        let master = [("MASTER_ADDR", "h"), ("MASTER_PORT", "1")];
        let msg = error(&[("WORLD_SIZE", "2"), ("RANK", "0"), ("MASTER_PORT", "1")]);
        assert!(msg.contains("MASTER_ADDR"), "{msg}");
        let msg = error(&[("WORLD_SIZE", "2"), ("RANK", "0"), ("MASTER_ADDR", "h")]);
        assert!(msg.contains("MASTER_PORT"), "{msg}");
        let msg = error(&[&[("WORLD_SIZE", "2"), ("RANK", "2")][..], &master].concat());
        assert!(msg.contains("RANK=2") && msg.contains("0 to 1"), "{msg}");
        let msg = error(&[&[("WORLD_SIZE", "two"), ("RANK", "0")][..], &master].concat());
        assert!(msg.contains("WORLD_SIZE"), "{msg}");
        let msg = error(&[
            ("WORLD_SIZE", "2"),
            ("RANK", "0"),
            ("MASTER_ADDR", "h"),
            ("MASTER_PORT", "99999"),
        ]);
        assert!(msg.contains("MASTER_PORT"), "{msg}");
        let msg = error(&[("SLURM_PROCID", "0"), ("SLURM_NTASKS", "2")]);
        assert!(msg.contains("MASTER_ADDR"), "{msg}");
    }
}
