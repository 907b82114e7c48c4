//! The tokio runtime the async commands run on.

/// A multi-threaded runtime with every driver enabled.
pub(crate) fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}
