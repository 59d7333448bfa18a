//! `compare --claims`: each claim's sides paired by seed, the mean
//! difference and its t interval against SciPy (ttest_rel and t.ppf, from
//! the .venv), each of the three verdicts, curve measures, an estimate,
//! the table figure, and bad claims refused with exit 2 naming the file and
//! key, nothing written.

use crate::common::*;
use crate::seeds::python;
use std::path::Path;

/// A finished run of sweep "s" written by hand as paperlab writes one:
/// config.json (its variant and seed), metrics.csv (test_error per epoch)
/// and summary.json (test_error, a table of errors by tests).
fn fake_run(ws: &Path, variant: &str, seed: u64, test_error: f64, curve: &[f64]) {
    let name = format!("s-{variant}-seed={seed}");
    let dir = run_dir(ws, "train-toy", &name);
    std::fs::create_dir_all(&dir).unwrap();
    let config = serde_json::json!({
        "command": "train-toy", "paperlab_version": "0", "git_commit": "0",
        "device": "cpu", "seed": seed,
        "config": {"seed": seed, "name": name, "variant": variant},
    });
    std::fs::write(dir.join("config.json"), config.to_string()).unwrap();
    let mut metrics = "epoch,test_error,seconds,images_per_sec\n".to_string();
    for (e, y) in curve.iter().enumerate() {
        metrics += &format!("{},{y},1,10\n", e + 1);
    }
    std::fs::write(dir.join("metrics.csv"), metrics).unwrap();
    let summary = serde_json::json!({
        "command": "train-toy", "selection": null, "best": null, "best_epoch": null,
        "epochs": curve.len(), "steps": 10, "train_images_per_sec": 100.0,
        "test_error": test_error,
        "by_tests": {"1": 1.5 * test_error, "4": test_error},
    });
    std::fs::write(dir.join("summary.json"), summary.to_string()).unwrap();
}

/// Group a's test errors by seed, and the others' (seed 4 only in a: left out).
const A: [f64; 4] = [0.10, 0.12, 0.11, 0.5];
const B: [f64; 3] = [0.15, 0.16, 0.19];
const C: [f64; 3] = [0.13, 0.10, 0.12];

const CLAIMS: &str = r#"
paper = "A toy paper"
sweep = "s"

[[claims]]
name = "a-beats-b"
says = "a is below b"
metric = "test_error"
lower = "a"
higher = "b"
paper = "1% against 2%"
source = "Table 1"

[[claims]]
name = "b-beats-a"
says = "b is below a"
metric = "test_error"
lower = "b"
higher = "a"
paper = "-"
source = "-"

[[claims]]
name = "a-beats-c"
says = "a is below c"
metric = "test_error"
lower = "s-a"
higher = "c"
paper = "-"
source = "-"

[[claims]]
name = "early"
says = "a is below b after one epoch"
metric = { column = "test_error", epoch = 1 }
lower = "a"
higher = "b"
paper = "-"
source = "Figure 2"

[[claims]]
name = "rise"
says = "c rises less after its best than a"
metric = { column = "test_error", measure = "last-minus-min" }
lower = "c"
higher = "a"
paper = "-"
source = "-"

[[claims]]
name = "tests-help"
says = "four tests beat one"
lower = { group = "b", metric = "by_tests.4" }
higher = { group = "b", metric = "by_tests.1" }
paper = "-"
source = "-"

[[claims]]
name = "estimate"
says = "b's error is about 15%"
metric = "test_error"
group = "b"
paper = "15%"
source = "Table 1"

[[figures]]
table = "by_tests"
x = "tests"
"#;

/// Runs with the chosen numbers: curves whose first epoch is the test
/// error plus 0.1 and whose rise after the best is `rise`.
fn runs(ws: &Path) -> Vec<(&'static str, Vec<f64>, Vec<f64>)> {
    let rises = |xs: &[f64], scale: f64| -> Vec<f64> {
        xs.iter()
            .enumerate()
            .map(|(i, _)| scale * (i as f64 + 1.0))
            .collect()
    };
    let groups = [
        ("a", A.to_vec(), rises(&A, 0.01)),
        ("b", B.to_vec(), rises(&B, 0.0)),
        ("c", C.to_vec(), vec![0.002, 0.011, 0.021]),
    ];
    for (variant, errors, rise) in &groups {
        // Written in reverse seed order: pairing goes by seed, not order.
        for i in (0..errors.len()).rev() {
            let e = errors[i];
            fake_run(ws, variant, i as u64 + 1, e, &[e + 0.1, e, e + rise[i]]);
        }
    }
    groups.to_vec()
}

#[test]
fn verdicts_pair_by_seed_and_match_scipy() {
    let ws = tempdir();
    let groups = runs(ws.path());
    std::fs::write(ws.path().join("toy.toml"), CLAIMS).unwrap();
    ok(paperlab(
        ws.path(),
        [
            "compare",
            "results/train-toy/*",
            "--claims",
            "toy.toml",
            "--out",
            "cmp",
        ],
    ));
    let value = |g: &str, i: usize| -> Vec<f64> {
        let (_, errors, rise) = groups.iter().find(|(n, _, _)| *n == g).unwrap();
        match i {
            0 => errors[..3].to_vec(),
            1 => errors[..3].iter().map(|e| e + 0.1).collect(),
            _ => rise[..3].to_vec(),
        }
    };
    // (claim, higher, lower) as numbers; SciPy's paired t test gives the
    // statistic, from which the interval's half-width is |mean / t| t.ppf.
    let pairs = [
        ("a-beats-b", value("b", 0), value("a", 0)),
        ("b-beats-a", value("a", 0), value("b", 0)),
        ("a-beats-c", value("c", 0), value("a", 0)),
        ("early", value("b", 1), value("a", 1)),
        ("rise", value("a", 2), value("c", 2)),
        (
            "tests-help",
            value("b", 0).iter().map(|e| 1.5 * e).collect(),
            value("b", 0),
        ),
    ];
    let expected = python(&format!(
        r#"
import json, numpy as np
from scipy.stats import ttest_rel, t
out = {{}}
for name, hi, lo in {pairs:?}:
    hi, lo = np.array(hi), np.array(lo)
    d = hi - lo; n = len(d); m = d.mean()
    stat = ttest_rel(hi, lo).statistic
    h = abs(m / stat) * t.ppf(0.975, n - 1) if np.isfinite(stat) and stat != 0 else float("nan")
    out[name] = [n, m, d.std(ddof=1), m - h, m + h]
b = np.array({b:?}); h = t.ppf(0.975, 2) * b.std(ddof=1) / np.sqrt(3)
out["estimate"] = [3, b.mean(), b.std(ddof=1), b.mean() - h, b.mean() + h]
print(json.dumps(out))
"#,
        pairs = pairs
            .iter()
            .map(|(n, h, l)| (n.to_string(), h.clone(), l.clone()))
            .collect::<Vec<_>>(),
        b = B,
    ));
    let judged = json(&ws.path().join("cmp/claims.json"));
    let claims = judged["claims"].as_array().unwrap();
    let verdict = |name: &str| {
        let c = claims.iter().find(|c| c["name"] == name).unwrap();
        c["verdict"].as_str().unwrap().to_string()
    };
    assert_eq!(verdict("a-beats-b"), "holds");
    assert_eq!(verdict("b-beats-a"), "contradicted");
    assert_eq!(verdict("a-beats-c"), "undecided at this size");
    assert_eq!(verdict("early"), "holds");
    assert_eq!(verdict("rise"), "holds");
    assert_eq!(verdict("tests-help"), "holds");
    assert_eq!(verdict("estimate"), "estimate");
    for (name, _, _) in &pairs {
        let c = claims.iter().find(|c| c["name"] == *name).unwrap();
        let d = &c["difference"];
        let want = &expected[name];
        let got = [&d["n"], &d["mean"], &d["sd"], &d["ci_low"], &d["ci_high"]];
        for (i, (g, w)) in got.iter().zip(want.as_array().unwrap()).enumerate() {
            let (g, w) = (g.as_f64(), w.as_f64().unwrap());
            match g {
                Some(g) => assert!(
                    (g - w).abs() <= 1e-9 + 1e-9 * w.abs(),
                    "{name}[{i}]: {g} against {w}"
                ),
                None => assert!(w.is_nan(), "{name}[{i}]: none against {w}"),
            }
        }
    }
    // The sides: seed 4 (only a has it) counts in a's own summary, not in pairs.
    let a = &claims[0]["lower"];
    assert_eq!(a["group"], "s-a");
    assert_eq!(a["summary"]["n"], 4);
    assert_eq!(claims[0]["difference"]["n"], 3);
    let estimate = &claims.iter().find(|c| c["name"] == "estimate").unwrap()["lower"]["summary"];
    for (key, i) in [("mean", 1), ("sd", 2), ("ci_low", 3), ("ci_high", 4)] {
        let (g, w) = (
            estimate[key].as_f64().unwrap(),
            expected["estimate"][i].as_f64().unwrap(),
        );
        assert!((g - w).abs() <= 1e-9, "estimate {key}: {g} against {w}");
    }

    // claims.csv and claims.md carry the same verdicts; compare's own files and the figure are there.
    let csv_text = std::fs::read_to_string(ws.path().join("cmp/claims.csv")).unwrap();
    let md = std::fs::read_to_string(ws.path().join("cmp/claims.md")).unwrap();
    assert!(csv_text.starts_with("claim,verdict,lower,"), "{csv_text}");
    for line in csv_text.lines().skip(1) {
        let row: Vec<&str> = line.split(',').collect();
        assert!(
            md.contains(&format!("| {} | {} |", row[0], row[1])),
            "{line} not in\n{md}"
        );
    }
    for file in [
        "compare.md",
        "compare.csv",
        "test_error.png",
        "by_tests.png",
        "by_tests.svg",
    ] {
        assert!(ws.path().join("cmp").join(file).exists(), "{file}");
    }
    let svg = std::fs::read_to_string(ws.path().join("cmp/by_tests.svg")).unwrap();
    assert!(svg.contains("s-a (n=4)") && svg.contains("tests"), "{svg}");
}

#[test]
fn bad_claims_exit_2_naming_the_file_and_key_and_write_nothing() {
    let ws = tempdir();
    runs(ws.path());
    let head = "paper = \"p\"\nsweep = \"s\"\n[[claims]]\nname = \"x\"\nsays = \"-\"\npaper = \"-\"\nsource = \"-\"\n";
    let cases: [(&str, &[&str]); 8] = [
        (
            "metric = \"test_error\"\nlower = \"a\"\nhigher = \"nosuch\"\n",
            &["bad.toml", "claim x", "higher = \"nosuch\"", "s-a"],
        ),
        (
            "metric = \"nosuch\"\nlower = \"a\"\nhigher = \"b\"\n",
            &["bad.toml", "claim x", "lower", "metric \"nosuch\""],
        ),
        (
            "metric = { column = \"nosuch\", epoch = 1 }\nlower = \"a\"\nhigher = \"b\"\n",
            &["bad.toml", "claim x", "nosuch at epoch 1"],
        ),
        (
            "metric = { column = \"test_error\", epoch = 9 }\nlower = \"a\"\nhigher = \"b\"\n",
            &["bad.toml", "claim x", "test_error at epoch 9"],
        ),
        (
            "metric = { column = \"test_error\" }\nlower = \"a\"\nhigher = \"b\"\n",
            &["bad.toml", "claim x", "epoch = N", "measure"],
        ),
        (
            "metric = \"test_error\"\nlower = \"a\"\ngroup = \"b\"\n",
            &["bad.toml", "claim x", "lower and higher", "group"],
        ),
        (
            "lower = \"a\"\nhigher = \"b\"\n",
            &["bad.toml", "claim x", "lower", "no metric"],
        ),
        (
            "metric = \"test_error\"\nlower = \"a\"\nhigher = \"b\"\nwhere = \"-\"\n",
            &["bad.toml", "where"],
        ),
    ];
    for (text, words) in cases {
        std::fs::write(ws.path().join("bad.toml"), format!("{head}{text}")).unwrap();
        let args = [
            "compare",
            "results/train-toy/*",
            "--claims",
            "bad.toml",
            "--out",
            "bad",
        ];
        fails(paperlab(ws.path(), args), 2, words);
        assert!(!ws.path().join("bad").exists(), "{text}: nothing written");
    }
    let figure = "paper = \"p\"\nsweep = \"s\"\n[[figures]]\ntable = \"nosuch\"\nx = \"-\"\n";
    std::fs::write(ws.path().join("bad.toml"), figure).unwrap();
    let args = [
        "compare",
        "results/train-toy/*",
        "--claims",
        "bad.toml",
        "--out",
        "bad",
    ];
    fails(
        paperlab(ws.path(), args),
        2,
        &["bad.toml", "table = \"nosuch\""],
    );
    fails(
        paperlab(
            ws.path(),
            [
                "compare",
                "results/train-toy/*",
                "--claims",
                "none.toml",
                "--out",
                "bad",
            ],
        ),
        2,
        &["--claims none.toml"],
    );
    assert!(!ws.path().join("bad").exists(), "nothing written");
}

/// Every committed claims file parses and names its sweep's runs.
#[test]
fn the_claims_files_name_their_sweeps() {
    for entry in std::fs::read_dir(repo("experiments/claims")).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        let file: toml::Table = toml::from_str(&text).unwrap();
        let sweep = file["sweep"].as_str().unwrap();
        let sweep_file = repo(&format!("experiments/sweeps/{sweep}.toml"));
        let sweep_text = std::fs::read_to_string(&sweep_file)
            .unwrap_or_else(|e| panic!("{}: {e}", sweep_file.display()));
        let runs: toml::Table = toml::from_str(&sweep_text).unwrap();
        let names: Vec<&str> = match runs.get("runs") {
            Some(list) => list
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["name"].as_str().unwrap())
                .collect(),
            None => vec![],
        };
        for claim in file["claims"].as_array().unwrap() {
            let sides = ["lower", "higher", "group"];
            for side in sides.iter().filter_map(|s| claim.get(*s)) {
                let group = side
                    .as_str()
                    .or_else(|| side.get("group")?.as_str())
                    .unwrap();
                assert!(
                    names.contains(&group) || group == sweep,
                    "{}: {group} is not a run of {}",
                    path.display(),
                    sweep_file.display()
                );
            }
        }
    }
}
