//! Black-box tests: they run the real `cpbridge` binary and look only at what it prints and what it leaves on disk.
//! One test binary for the whole CLI, because linking is slow on small machines.

mod cp;
mod sandbox;

use std::path::Path;
use std::process::{Command, Output};

/// Runs `cpbridge` with the given arguments, without any `CPBRIDGE_*` variables from the caller's environment.
pub fn cpbridge(args: &[&str]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_cpbridge"));
    command.args(args).env_remove("CPBRIDGE_CP_URL").env_remove("CPBRIDGE_LOG");
    command.output().expect("the cpbridge binary runs")
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

pub fn db_arg(path: &Path) -> String {
    format!("sqlite:{}", path.display())
}
