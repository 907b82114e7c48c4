//! Vision: QR codes from an image file or a camera frame (PNG or JPEG),
//! decoded by `rqrr` (pure Rust, with Reed–Solomon error correction). A
//! code that does not decode and correct cleanly is refused, never guessed:
//! every grid found must decode, and exactly one code must be on the image.

/// Most pixels Vision looks at (a 4K frame).
pub const MAX_PIXELS: u64 = 3840 * 2160;

/// Why an image gave no part label.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum VisionError {
    /// Not a PNG or JPEG image, or a broken one.
    #[error("not a readable PNG or JPEG image: {0}")]
    Image(String),
    /// Too large.
    #[error("image of {0}×{1} pixels is larger than Vision reads")]
    TooLarge(u32, u32),
    /// No QR code was found.
    #[error("no QR code found in the image")]
    NoCode,
    /// More than one code: which part is on the bench is ambiguous.
    #[error("{0} QR codes in the image: show one part at a time")]
    Several(usize),
    /// A code was found but does not decode (damaged, dirty, cut off).
    #[error("the QR code is damaged or unreadable ({0}): refused rather than misread")]
    Damaged(String),
}

/// Decodes the one QR code in an image to its text.
pub fn read_qr(bytes: &[u8]) -> Result<String, VisionError> {
    let reader = image::ImageReader::new(std::io::Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| VisionError::Image(e.to_string()))?;
    let (w, h) = reader
        .into_dimensions()
        .map_err(|e| VisionError::Image(e.to_string()))?;
    if u64::from(w) * u64::from(h) > MAX_PIXELS {
        return Err(VisionError::TooLarge(w, h));
    }
    let img = image::load_from_memory(bytes)
        .map_err(|e| VisionError::Image(e.to_string()))?
        .to_luma8();
    let mut prepared = rqrr::PreparedImage::prepare(img);
    let grids = prepared.detect_grids();
    match grids.len() {
        0 => Err(VisionError::NoCode),
        1 => grids[0]
            .decode()
            .map(|(_, text)| text)
            .map_err(|e| VisionError::Damaged(e.to_string())),
        n => Err(VisionError::Several(n)),
    }
}
