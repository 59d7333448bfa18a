//! Running one test alone in a process of its own: this test binary started
//! again with the test's name as its filter, so that no other test's thread
//! draws from torch's generator or changes libtorch's thread count while it
//! runs (see the module documentation of `common`).

use std::process::Command;

/// Set in the child to the name of the test it runs alone.
const ALONE: &str = "PAPERLAB_TEST_ALONE";

/// The first statement of a test that needs the process to itself:
/// `alone!(name_of_this_test);`. In the suite's process it runs this test
/// again in a child process (the rest of the test body runs there) and
/// checks that the child ran exactly it and that it passed; in the child it
/// does nothing, and the test goes on.
macro_rules! alone {
    ($test:ident) => {
        if $crate::common::run_alone(module_path!(), stringify!($test)) {
            return;
        }
    };
}
pub(crate) use alone;

/// For [`alone!`]: true after running test `name` of `module` (a
/// `module_path!()`, crate name first) in a child process, where it passed;
/// false in that child.
pub fn run_alone(module: &str, name: &str) -> bool {
    // libtest names a test by its path without the crate's name.
    let path = module.split_once("::").map_or("", |(_, rest)| rest);
    let test = format!("{path}::{name}");
    if std::env::var(ALONE).is_ok_and(|t| t == test) {
        return false;
    }
    let out = Command::new(std::env::current_exe().unwrap())
        .args([&test, "--exact", "--test-threads", "1"])
        .env(ALONE, &test)
        // Its result line as this function reads it.
        .env_remove("RUST_TEST_NOCAPTURE")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let ran = stdout.contains(&format!("test {test} ... ok")) && stdout.contains("1 passed");
    assert!(
        out.status.success() && ran,
        "{test}, alone in a child process ({}), did not pass{}:\n{stdout}\n{}",
        out.status,
        if out.status.success() {
            " (no test of that name ran: is alone!'s argument the test's name?)"
        } else {
            ""
        },
        String::from_utf8_lossy(&out.stderr)
    );
    true
}

/// Fails in a child process of [`run_alone`], passes in the suite's: the
/// failing child `alone!` must report.
#[test]
fn fails_alone() {
    let alone = std::env::var(ALONE).unwrap_or_default();
    assert!(
        !alone.ends_with("::fails_alone"),
        "failing, alone, as asked"
    );
}

/// A child whose test fails, or that runs no test of the name, fails the
/// test that ran it.
#[test]
fn alone_fails_with_its_child() {
    for name in ["fails_alone", "no_such_test"] {
        let ran = std::panic::catch_unwind(|| run_alone(module_path!(), name));
        assert!(ran.is_err(), "run_alone({name}) passed");
    }
}
