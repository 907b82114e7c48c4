//! Partitions on 127.0.0.1: each peer of a testnet started with faults
//! enabled reads its own fault file every 200 ms and keeps no connection to
//! or from the peers it lists (the peer is its own firewall). The file is
//! `{"cut": ["vault-hub", "station-2"]}` with the peers' genesis names.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::TestnetError;

/// The environment variable that names a peer's fault file. Unset in
/// production: the peer then reads no fault file at all.
pub const FAULT_FILE_ENV: &str = "SMART_FAULT_FILE";

/// What a peer is told to do wrong.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Faults {
    /// Genesis names of the peers this peer must not talk to.
    #[serde(default)]
    pub cut: Vec<String>,
}

impl Faults {
    /// The fault file of the peer whose folder is `folder`.
    pub fn path(folder: &Path) -> PathBuf {
        folder.join("faults.json")
    }

    /// Reads a fault file; a missing file means no faults.
    pub fn read(file: &Path) -> Result<Faults, TestnetError> {
        match std::fs::read(file) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| TestnetError::Layout(file.to_path_buf(), e.to_string())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Faults::default()),
            Err(e) => Err(TestnetError::Io(file.to_path_buf(), e)),
        }
    }

    /// Writes a fault file atomically (a rename), so a peer never reads half of it.
    pub fn write(&self, file: &Path) -> Result<(), TestnetError> {
        let tmp = file.with_extension("json.tmp");
        let text = serde_json::to_vec(self)
            .map_err(|e| TestnetError::Layout(file.to_path_buf(), e.to_string()))?;
        std::fs::write(&tmp, text).map_err(|e| TestnetError::Io(tmp.clone(), e))?;
        std::fs::rename(&tmp, file).map_err(|e| TestnetError::Io(file.to_path_buf(), e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fault_file_round_trips_and_a_missing_one_means_none() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = Faults::path(dir.path());
        assert_eq!(Faults::read(&file).expect("read"), Faults::default());
        let f = Faults {
            cut: vec!["vault-hub".into()],
        };
        f.write(&file).expect("write");
        assert_eq!(Faults::read(&file).expect("read"), f);
        std::fs::write(&file, b"{\"cut\": 3}").expect("write");
        assert!(Faults::read(&file).is_err());
    }
}
