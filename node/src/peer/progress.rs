//! Progress bars on a terminal (and nothing when stderr is not one), and
//! giving memory back after a long piece of work.

use std::io::IsTerminal;

/// A bar of `len` steps drawn with `template`, or `None` when stderr is not a
/// terminal (logs and pipes get no control characters).
pub(crate) fn bar(len: u64, template: &str) -> Option<indicatif::ProgressBar> {
    if !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = indicatif::ProgressBar::new(len);
    bar.set_style(
        indicatif::ProgressStyle::with_template(template)
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    Some(bar)
}

/// Hands freed heap pages back to the OS after a burst of allocation (a long
/// catch-up decodes thousands of blocks): glibc keeps them in its per-thread
/// arenas otherwise, and a station's resident memory would stay at the
/// burst's peak. A no-op where the allocator is not glibc's.
pub(crate) fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[allow(unsafe_code)]
    // SAFETY: malloc_trim takes no pointers and only releases free pages;
    // it is safe to call from any thread at any time.
    unsafe {
        libc::malloc_trim(0);
    }
}
