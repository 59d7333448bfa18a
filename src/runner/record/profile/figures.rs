//! What --profile reports from the recorded events: the per-step figures
//! of summary.json's "profile" and the per-op table of ops.csv. Only what
//! happened inside the engine's step ranges counts per step; host reads
//! between them (a progress update, a log point, an epoch's end) are
//! counted apart. scripts/bench_ops.py counts PyTorch eager's events by
//! the same rules.

use super::events::{Activity, Event};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::ffi::CStr;

/// The range the engine opens around each recorded step.
pub const STEP_RANGE: &CStr = c"paperlab::step";

/// Ops that make the host wait for the device: a scalar read (item and
/// what calls it) and nonzero, which must learn its output's size.
const HOST_READS: [&str; 2] = ["aten::_local_scalar_dense", "aten::nonzero"];

/// Ops Python's bindings dispatch to inspect a tensor, which torch.profiler's
/// tables leave out too.
const HIDDEN: [&str; 3] = ["aten::is_leaf", "aten::output_nr", "aten::_version"];

/// The events of a recording and the step ranges among them.
pub struct Recording {
    events: Vec<Event>,
    /// Each step range's (start, end), in time order.
    steps: Vec<(i64, i64)>,
    /// The self time of each event (0 for all but host records).
    self_ns: Vec<i64>,
}

/// One row of ops.csv: an op's calls and self times over the steps.
pub struct OpRow {
    pub name: String,
    pub calls: u64,
    pub self_cpu_ns: i64,
    pub self_device_ns: i64,
}

impl Recording {
    pub fn new(events: Vec<Event>) -> Recording {
        let mut steps: Vec<(i64, i64)> = events
            .iter()
            .filter(|e| e.activity == Activity::Cpu && e.name.as_bytes() == STEP_RANGE.to_bytes())
            .map(|e| (e.start_ns, e.end_ns))
            .collect();
        steps.sort_unstable();
        let self_ns = self_times(&events);
        Recording {
            events,
            steps,
            self_ns,
        }
    }

    /// Steps recorded.
    pub fn steps(&self) -> usize {
        self.steps.len()
    }

    /// Whether time `t` falls inside a step range.
    fn in_step(&self, t: i64) -> bool {
        let i = self.steps.partition_point(|&(start, _)| start <= t);
        i > 0 && t <= self.steps[i - 1].1
    }

    /// Host ops (neither ranges nor memory events) inside the steps.
    fn step_ops(&self) -> impl Iterator<Item = (usize, &Event)> {
        self.events.iter().enumerate().filter(|(_, e)| {
            e.activity == Activity::Cpu
                && !e.on_device
                && e.name != "[memory]"
                && e.name.as_bytes() != STEP_RANGE.to_bytes()
                && self.in_step(e.start_ns)
        })
    }

    /// The per-step figures (and the host reads between steps, in all),
    /// by name; `device` adds the CUDA ones.
    pub fn figures(&self, device: bool) -> BTreeMap<String, f64> {
        let n = self.steps().max(1) as f64;
        let in_steps = |e: &&Event| self.in_step(e.start_ns);
        let dispatched = |e: &&Event| {
            e.scope == 0 && e.name.starts_with("aten::") && !HIDDEN.contains(&e.name.as_str())
        };
        let ops = self.step_ops().filter(|(_, e)| dispatched(e)).count();
        let read =
            |e: &&Event| e.activity == Activity::Cpu && HOST_READS.contains(&e.name.as_str());
        let reads_in = self.events.iter().filter(read).filter(in_steps).count();
        let reads_all = self.events.iter().filter(read).count();
        let allocations: Vec<i64> = self
            .events
            .iter()
            .filter(|e| e.name == "[memory]" && e.bytes > 0)
            .filter(in_steps)
            .map(|e| e.bytes)
            .collect();
        let host_ns: i64 = self.steps.iter().map(|(a, b)| b - a).sum();
        let mut f = BTreeMap::from([
            ("steps".to_string(), self.steps() as f64),
            ("ops_per_step".into(), ops as f64 / n),
            ("host_reads_per_step".into(), reads_in as f64 / n),
            (
                "host_reads_between_steps".into(),
                (reads_all - reads_in) as f64,
            ),
            ("allocations_per_step".into(), allocations.len() as f64 / n),
            (
                "allocated_mib_per_step".into(),
                allocations.iter().sum::<i64>() as f64 / (1 << 20) as f64 / n,
            ),
            ("cpu_ms_per_step".into(), host_ns as f64 / 1e6 / n),
        ]);
        if device {
            f.extend(self.device_figures(n));
        }
        f
    }

    /// CUDA's figures: kernel launches (runtime calls on the host), copies
    /// to the host, and the time the device sat idle within the steps.
    fn device_figures(&self, n: f64) -> [(String, f64); 3] {
        let launches = self
            .events
            .iter()
            .filter(|e| e.activity == Activity::Runtime && e.name.contains("LaunchKernel"))
            .filter(|e| self.in_step(e.start_ns))
            .count();
        let step_ops: HashSet<u64> = self.step_ops().map(|(_, e)| e.correlation).collect();
        let to_host = self
            .events
            .iter()
            .filter(|e| e.activity == Activity::DeviceCopy && e.name.contains("DtoH"))
            .filter(|e| step_ops.contains(&e.linked))
            .count();
        [
            ("kernel_launches_per_step".into(), launches as f64 / n),
            ("device_to_host_copies_per_step".into(), to_host as f64 / n),
            (
                "gpu_idle_ms_per_step".into(),
                self.idle_ns() as f64 / 1e6 / n,
            ),
        ]
    }

    /// Nanoseconds within the steps' span when nothing ran on the device.
    fn idle_ns(&self) -> i64 {
        let (Some(first), Some(last)) = (self.steps.first(), self.steps.last()) else {
            return 0;
        };
        let (from, to) = (first.0, last.1);
        let mut busy: Vec<(i64, i64)> = self
            .events
            .iter()
            .filter(|e| e.on_device)
            .map(|e| (e.start_ns.max(from), e.end_ns.min(to)))
            .filter(|(a, b)| a < b)
            .collect();
        busy.sort_unstable();
        let (mut covered, mut reach) = (0, from);
        for (a, b) in busy {
            if b > reach {
                covered += b - a.max(reach);
                reach = b;
            }
        }
        (to - from) - covered
    }

    /// ops.csv's rows: every host op inside the steps, by name, with its
    /// self time on the host and of the device work it queued; the most
    /// host time first.
    pub fn op_table(&self) -> Vec<OpRow> {
        let mut rows: BTreeMap<&str, OpRow> = BTreeMap::new();
        let mut by_correlation = HashMap::new();
        for (i, e) in self.step_ops() {
            let row = rows.entry(&e.name).or_insert_with(|| OpRow {
                name: e.name.clone(),
                calls: 0,
                self_cpu_ns: 0,
                self_device_ns: 0,
            });
            row.calls += 1;
            row.self_cpu_ns += self.self_ns[i];
            by_correlation.insert(e.correlation, e.name.as_str());
        }
        for e in self.events.iter().filter(|e| e.on_device && e.linked != 0) {
            if let Some(row) = by_correlation.get(&e.linked).and_then(|n| rows.get_mut(n)) {
                row.self_device_ns += e.end_ns - e.start_ns;
            }
        }
        let mut rows: Vec<OpRow> = rows.into_values().collect();
        rows.sort_by(|a, b| b.self_cpu_ns.cmp(&a.self_cpu_ns).then(a.name.cmp(&b.name)));
        rows
    }
}

/// Each host record's duration less its direct children's (the records it
/// encloses on its thread), as torch.profiler's self CPU time.
fn self_times(events: &[Event]) -> Vec<i64> {
    let mut self_ns = vec![0; events.len()];
    let mut host: Vec<usize> = (0..events.len())
        .filter(|&i| events[i].activity == Activity::Cpu && !events[i].on_device)
        .filter(|&i| events[i].end_ns > events[i].start_ns)
        .collect();
    host.sort_by_key(|&i| (events[i].thread, events[i].start_ns, -events[i].end_ns));
    let mut open: Vec<usize> = vec![];
    for i in host {
        let e = &events[i];
        while let Some(&top) = open.last() {
            if events[top].thread == e.thread && events[top].end_ns > e.start_ns {
                break;
            }
            open.pop();
        }
        self_ns[i] = e.end_ns - e.start_ns;
        if let Some(&parent) = open.last() {
            self_ns[parent] -= e.end_ns - e.start_ns;
        }
        open.push(i);
    }
    self_ns
}
