//! The `paperlab` binary: parse, dispatch, and turn errors into one message
//! and an exit code (2 usage/data, 1 failure while running, 130 interrupted,
//! 75 stopped by SIGUSR1 to be requeued).

use std::backtrace::Backtrace;

fn main() {
    // Last resort: a panic (a libtorch exception reaching an unwrap) is a
    // bug: one line naming the run and what failed, exit 1; libtorch's C++
    // frames and the Rust backtrace only under RUST_BACKTRACE.
    std::panic::set_hook(Box::new(|info| {
        let msg = paperlab::error::panic_text(info.payload());
        let details = std::env::var_os("RUST_BACKTRACE").is_some_and(|v| v != "0");
        let run = paperlab::error::current_run();
        eprintln!(
            "{}",
            paperlab::error::internal_error(msg, run.as_deref(), details)
        );
        if details {
            if let Some(at) = info.location() {
                eprintln!("panicked at {at}");
            }
            eprintln!("{}", Backtrace::capture());
        }
        paperlab::runner::dist::shutdown(false);
        std::process::exit(1);
    }));
    let code = match paperlab::cli::run(std::env::args_os().collect()) {
        Ok(()) => 0,
        Err(err) => {
            eprintln!("error: {err:#}");
            paperlab::error::exit_code(&err)
        }
    };
    // A run that finished or stopped where every process agreed ends its
    // process group cleanly; any other failure (a lost peer) aborts it.
    let agreed = [0, 130, paperlab::error::EXIT_REQUEUED].contains(&code);
    paperlab::runner::dist::shutdown(agreed);
    std::process::exit(code);
}
