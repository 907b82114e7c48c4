//! A hub's folder moved onto a small tmpfs (the disk-full scenario).

use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};

/// A tmpfs mounted on a hub's folder, unmounted when dropped (unless the
/// run failed: then it stays for a look).
pub(super) struct SmallDisk {
    mount: PathBuf,
    pub(super) keep: bool,
}

impl SmallDisk {
    /// Moves `folder` onto a new tmpfs of `mib` MiB (a symlink takes its place).
    pub(super) fn mount(folder: &Path, mib: u64) -> Result<SmallDisk> {
        let mount = folder.with_extension("disk");
        std::fs::create_dir_all(&mount)?;
        let status = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={mib}m"), "tmpfs"])
            .arg(&mount)
            .stderr(std::process::Stdio::null())
            .status()
            .context("running mount")?;
        if !status.success() {
            bail!("cannot mount a tmpfs here (needs root)");
        }
        // Kept for a look unless the run gets to the end.
        let disk = SmallDisk { mount, keep: true };
        let inner = disk.mount.join("peer");
        let copied = std::process::Command::new("cp")
            .arg("-a")
            .arg(folder)
            .arg(&inner)
            .status()?;
        if !copied.success() {
            bail!("copying {} onto the tmpfs", folder.display());
        }
        std::fs::remove_dir_all(folder)?;
        std::os::unix::fs::symlink(&inner, folder)?;
        Ok(disk)
    }

    /// Frees space: the tmpfs grows to `mib` MiB.
    pub(super) fn grow(&self, mib: u64) -> Result<()> {
        let status = std::process::Command::new("mount")
            .args(["-o", &format!("remount,size={mib}m")])
            .arg(&self.mount)
            .status()?;
        if !status.success() {
            bail!("remounting {}", self.mount.display());
        }
        Ok(())
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        if self.keep {
            return;
        }
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.mount)
            .status();
    }
}
