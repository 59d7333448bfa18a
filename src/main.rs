//! The `paperlab` binary: parse, dispatch, and turn errors into one message
//! and an exit code (2 usage/data, 1 failure while running, 130 interrupted).

fn main() {
    // Last resort: a libtorch or internal failure prints one line, no backtrace.
    std::panic::set_hook(Box::new(|info| {
        let msg = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("unknown panic");
        let first = msg.lines().next().unwrap_or(msg);
        eprintln!("paperlab: internal error: {first}");
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
    paperlab::runner::dist::shutdown(code == 0 || code == 130);
    std::process::exit(code);
}
