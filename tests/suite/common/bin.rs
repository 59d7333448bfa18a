//! Running the `paperlab` binary, checking how it ended, and tables of
//! command lines it must refuse.

use std::ffi::OsStr;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

/// The binary cargo built for these tests.
pub const PAPERLAB: &str = env!("CARGO_BIN_EXE_paperlab");

/// One run of the binary, or of a copy of it ([`Bin::at`]), in a working
/// directory: give it arguments and environment, then run it to its end
/// ([`Bin::output`]: stdout and stderr captured) or start it
/// ([`Bin::spawn`]: stderr piped, stdout as [`Bin::stdout`] says, else
/// discarded). Stdin is empty.
pub struct Bin(Command);

/// `paperlab` in `cwd`.
pub fn bin(cwd: &Path) -> Bin {
    Bin::at(Path::new(PAPERLAB), cwd)
}

/// Run `paperlab ARGS` in `cwd` to its end.
pub fn paperlab<I, S>(cwd: &Path, args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    bin(cwd).args(args).output()
}

impl Bin {
    /// The program at `program` (a copy of the binary) in `cwd`.
    pub fn at(program: &Path, cwd: &Path) -> Bin {
        let mut command = Command::new(program);
        command
            .current_dir(cwd)
            .stdin(Stdio::null())
            .stdout(Stdio::null());
        Bin(command)
    }

    pub fn args<I, S>(mut self, args: I) -> Bin
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.0.args(args);
        self
    }

    pub fn env(mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Bin {
        self.0.env(key, value);
        self
    }

    pub fn envs<I, K, V>(mut self, vars: I) -> Bin
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<OsStr>,
        V: AsRef<OsStr>,
    {
        self.0.envs(vars);
        self
    }

    pub fn stdout(mut self, stdout: Stdio) -> Bin {
        self.0.stdout(stdout);
        self
    }

    /// Start it. A binary just copied can be "busy" (ETXTBSY) for a moment:
    /// a process forked by another test's thread may still hold the copy's
    /// file descriptor until it execs; the start is tried again.
    pub fn spawn(mut self) -> Child {
        self.0.stderr(Stdio::piped());
        for _ in 0..100 {
            match self.0.spawn() {
                Err(e) if e.raw_os_error() == Some(26) => {
                    std::thread::sleep(Duration::from_millis(20))
                }
                started => return started.unwrap(),
            }
        }
        panic!("{:?}: text file busy", self.0.get_program());
    }

    /// Run it to its end; both streams captured.
    pub fn output(self) -> Output {
        self.stdout(Stdio::piped())
            .spawn()
            .wait_with_output()
            .unwrap()
    }
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Assert success, showing stderr otherwise.
pub fn ok(out: Output) -> Output {
    assert!(
        out.status.success(),
        "paperlab failed ({:?}):\n{}",
        out.status.code(),
        stderr(&out)
    );
    out
}

/// What is wrong with `out` for a run that must exit with `code`, naming
/// every one of `words` on stderr, without a panic; None if nothing.
fn wrong_ending(out: &Output, code: i32, words: &[&str]) -> Option<String> {
    let err = stderr(out);
    let missing: Vec<&&str> = words.iter().filter(|w| !err.contains(**w)).collect();
    if out.status.code() != Some(code) {
        Some(format!("exit {:?}, not {code}:\n{err}", out.status.code()))
    } else if !missing.is_empty() {
        Some(format!("stderr does not mention {missing:?}:\n{err}"))
    } else if err.contains("panicked") || err.contains("RUST_BACKTRACE") {
        Some(format!("a panic:\n{err}"))
    } else {
        None
    }
}

/// Assert exit code `code` and that stderr mentions every one of `words`.
pub fn fails(out: Output, code: i32, words: &[&str]) {
    if let Some(wrong) = wrong_ending(&out, code, words) {
        panic!("{wrong}");
    }
}

/// Assert that `text` holds every one of `words`.
pub fn assert_mentions(text: &str, words: &[&str]) {
    for w in words {
        assert!(text.contains(w), "{w:?} is not mentioned in:\n{text}");
    }
}

/// `paperlab ARGS --print-config` in `cwd`: the configuration the run
/// would have (the flags checked, nothing created, no data read).
pub fn resolved<I, S>(cwd: &Path, args: I) -> serde_json::Value
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let out = ok(bin(cwd).args(args).args(["--print-config"]).output());
    serde_json::from_slice(&out.stdout).expect("--print-config prints JSON")
}

/// A command line that must be refused (after `paperlab`, subcommand
/// first) and the words its error must hold: the flag, the value, what it
/// expects.
pub type Refused<'a> = (&'a [&'a str], &'a [&'a str]);

/// Command lines clap refuses while parsing them, each `prefix` then a
/// row's arguments (a later flag wins). Each is parsed in this process by
/// the binary's own command line (`paperlab::cli::command()`, which the
/// binary parses before anything else): it must fail as a usage error (exit
/// code 2), its message holding every word. A row clap accepts fails the
/// test: its check comes after parsing, and it belongs in a table for
/// [`refused_by_binary`].
pub fn refused_by_parser(prefix: &[&str], rows: &[Refused]) {
    let mut wrong = vec![];
    for &(row, words) in rows {
        let argv = [prefix, row].concat();
        let line = argv.join(" ");
        match parse(&argv) {
            Ok(_) => wrong.push(format!(
                "`{line}` parses: its check comes later (a row for refused_by_binary)"
            )),
            Err(e) => {
                let message = e.to_string();
                let missing: Vec<&&str> = words.iter().filter(|w| !message.contains(**w)).collect();
                if e.exit_code() != 2 {
                    wrong.push(format!("`{line}`: exit code {}:\n{message}", e.exit_code()));
                } else if !missing.is_empty() {
                    wrong.push(format!("`{line}` does not mention {missing:?}:\n{message}"));
                }
            }
        }
    }
    report(&wrong, rows.len());
}

/// Fails listing the `wrong` rows of a table of `rows`, if any.
fn report(wrong: &[String], rows: usize) {
    assert!(
        wrong.is_empty(),
        "{} of {rows} rows:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}

/// `argv` (after `paperlab`) parsed by the binary's command line: its
/// subcommand with the flags it takes for these arguments (train-gan's
/// are its --model's).
fn parse(argv: &[&str]) -> Result<clap::ArgMatches, clap::Error> {
    let args: Vec<std::ffi::OsString> = argv[1..].iter().map(Into::into).collect();
    let sub = paperlab::cli::subcommand(argv[0], &args).expect("a subcommand of paperlab");
    sub.try_get_matches_from(argv)
}

/// Command lines the binary refuses after parsing them (a check across
/// flags, of a file or directory, of the data), each `prefix` then a row's
/// arguments: each is run in `cwd`, one after another, and must exit with 2
/// naming every word on stderr, without a panic. A row that clap refuses
/// already fails the test: it belongs in a table for [`refused_by_parser`],
/// which checks it without a process (rows with --config excepted: the
/// binary layers the preset).
pub fn refused_by_binary(cwd: &Path, prefix: &[&str], rows: &[Refused]) {
    let mut wrong = vec![];
    for &(row, words) in rows {
        let argv = [prefix, row].concat();
        let line = argv.join(" ");
        if !argv.contains(&"--config") && parse(&argv).is_err() {
            wrong.push(format!(
                "`{line}`: clap refuses it (a row for refused_by_parser)"
            ));
        } else if let Some(why) = wrong_ending(&paperlab(cwd, &argv), 2, words) {
            wrong.push(format!("`{line}`: {why}"));
        }
    }
    report(&wrong, rows.len());
}
