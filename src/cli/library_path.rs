//! `--libraries DIR`, the library search path, which every command that loads rules takes the
//! same way.

use std::path::PathBuf;

/// The library search path.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct LibraryPath {
    /// A directory of libraries (`NAME.lib.yaml`) that the rules of every rule directory may
    /// import as if the libraries lay beside them, e.g. a second ConfigMap; repeat it for
    /// several. A library beside the rules may not have the name of one found here: both
    /// are reported.
    #[arg(long = "libraries", value_name = "DIR")]
    pub libraries: Vec<PathBuf>,
}
