//! TLS: the certificate the gateway serves (HTTP/2 and HTTP/1.1 by ALPN).

use std::path::{Path, PathBuf};

use crate::GatewayError;

/// Where a peer folder keeps the gateway's certificate and key.
pub fn default_paths(folder: &Path) -> (PathBuf, PathBuf) {
    (folder.join("tls/cert.pem"), folder.join("tls/key.pem"))
}

/// Makes a self-signed certificate for `names` (DNS names or IP addresses)
/// at `cert`/`key` unless both exist. The key file is readable by its owner only.
pub fn ensure_self_signed(cert: &Path, key: &Path, names: &[&str]) -> Result<bool, GatewayError> {
    if cert.exists() && key.exists() {
        return Ok(false);
    }
    let made =
        rcgen::generate_simple_self_signed(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
            .map_err(|e| GatewayError::Tls(e.to_string()))?;
    if let Some(dir) = cert.parent() {
        std::fs::create_dir_all(dir)?;
    }
    if let Some(dir) = key.parent() {
        std::fs::create_dir_all(dir)?;
    }
    write_private(key, made.key_pair.serialize_pem().as_bytes())?;
    std::fs::write(cert, made.cert.pem())?;
    Ok(true)
}

#[cfg(unix)]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

#[cfg(not(unix))]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::write(path, bytes)
}

/// Installs rustls' crypto provider (ring) for the process; harmless when
/// one is installed already.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// The server's TLS configuration from PEM files.
pub async fn load(
    cert: &Path,
    key: &Path,
) -> Result<axum_server::tls_rustls::RustlsConfig, GatewayError> {
    install_crypto_provider();
    axum_server::tls_rustls::RustlsConfig::from_pem_file(cert, key)
        .await
        .map_err(|e| {
            GatewayError::Tls(format!(
                "reading {} and {}: {e}",
                cert.display(),
                key.display()
            ))
        })
}
