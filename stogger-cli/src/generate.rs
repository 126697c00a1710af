//! `stogger completions SHELL` and `stogger man-pages DIR`: generated from
//! the clap definitions the parser uses, so they always match it. The
//! packages (`cargo xtask dist`) ship what these write.

use clap::CommandFactory;
use std::path::Path;

/// Prints the completion script for `shell` on stdout.
pub fn completions(shell: clap_complete::Shell) -> u8 {
    let mut cmd = crate::Cli::command();
    clap_complete::generate(shell, &mut cmd, "stogger", &mut std::io::stdout());
    0
}

/// Writes `stogger.1` and `stogger-<command>.1` for every command into `dir`.
pub fn man_pages(dir: &Path) -> u8 {
    let written = std::fs::create_dir_all(dir)
        .and_then(|()| clap_mangen::generate_to(crate::Cli::command(), dir));
    match written {
        Ok(()) => 0,
        Err(e) => {
            crate::error(&format!(
                "cannot write man pages into {}: {e}",
                dir.display()
            ));
            1
        }
    }
}
