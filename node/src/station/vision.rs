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

/// A part label as a PNG QR code (LogisticsNode prints them at receiving;
/// tests make their images with it): 8 pixels per module, a 4-module quiet zone.
pub fn label_png(text: &str) -> Result<Vec<u8>, VisionError> {
    let code =
        qrcode::QrCode::new(text.as_bytes()).map_err(|e| VisionError::Image(e.to_string()))?;
    let width = code.width();
    let colors = code.to_colors();
    let (scale, quiet) = (8usize, 4usize);
    let side = (width + 2 * quiet) * scale;
    let side_px = u32::try_from(side).map_err(|e| VisionError::Image(e.to_string()))?;
    let mut img = image::GrayImage::from_pixel(side_px, side_px, image::Luma([255u8]));
    for (i, c) in colors.iter().enumerate() {
        if *c != qrcode::Color::Dark {
            continue;
        }
        let (mx, my) = (i % width + quiet, i / width + quiet);
        for y in my * scale..(my + 1) * scale {
            for x in mx * scale..(mx + 1) * scale {
                // In range by construction: x, y < side.
                img.put_pixel(x as u32, y as u32, image::Luma([0u8]));
            }
        }
    }
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png)
        .map_err(|e| VisionError::Image(e.to_string()))?;
    Ok(out.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Paints a block over the middle of a label: the finder patterns stay,
    /// a third of the data is gone (beyond the error correction).
    fn damaged(png: &[u8]) -> Vec<u8> {
        let mut img = image::load_from_memory(png).expect("png").to_luma8();
        let (w, h) = img.dimensions();
        for y in h * 3 / 10..h * 7 / 10 {
            for x in w * 3 / 10..w * 7 / 10 {
                let p = img.get_pixel_mut(x, y);
                p.0[0] = 255 - p.0[0];
            }
        }
        let mut out = std::io::Cursor::new(Vec::new());
        img.write_to(&mut out, image::ImageFormat::Png)
            .expect("encode");
        out.into_inner()
    }

    #[test]
    fn a_generated_label_reads_back_exactly() {
        let text = crate::station::specialists::part_label("job-4471-1", "AA-88213-001");
        let png = label_png(&text).expect("label");
        assert_eq!(read_qr(&png).expect("read"), text);
        // As a JPEG camera frame too.
        let img = image::load_from_memory(&png).expect("png");
        let mut jpeg = std::io::Cursor::new(Vec::new());
        img.to_rgb8()
            .write_to(&mut jpeg, image::ImageFormat::Jpeg)
            .expect("jpeg");
        assert_eq!(read_qr(&jpeg.into_inner()).expect("read jpeg"), text);
    }

    #[test]
    fn a_damaged_label_is_refused_not_misread() {
        for serial in ["AA-88213-001", "AA-88213-002", "BB-7"] {
            let text = crate::station::specialists::part_label("job-4471-1", serial);
            let bad = damaged(&label_png(&text).expect("label"));
            match read_qr(&bad) {
                Err(VisionError::Damaged(_)) | Err(VisionError::NoCode) => {}
                other => panic!("a damaged label gave {other:?}"),
            }
        }
    }

    #[test]
    fn not_an_image_two_codes_and_no_code_are_refused() {
        assert!(matches!(
            read_qr(b"not an image"),
            Err(VisionError::Image(_))
        ));
        let blank = {
            let img = image::GrayImage::from_pixel(200, 200, image::Luma([255u8]));
            let mut out = std::io::Cursor::new(Vec::new());
            img.write_to(&mut out, image::ImageFormat::Png)
                .expect("encode");
            out.into_inner()
        };
        assert_eq!(read_qr(&blank), Err(VisionError::NoCode));
        // Two labels side by side.
        let a = image::load_from_memory(&label_png("SMART-PART|job=j|serial=1").expect("a"))
            .expect("a")
            .to_luma8();
        let b = image::load_from_memory(&label_png("SMART-PART|job=j|serial=2").expect("b"))
            .expect("b")
            .to_luma8();
        let mut both = image::GrayImage::from_pixel(
            a.width() + b.width(),
            a.height().max(b.height()),
            image::Luma([255u8]),
        );
        image::imageops::overlay(&mut both, &a, 0, 0);
        image::imageops::overlay(&mut both, &b, i64::from(a.width()), 0);
        let mut out = std::io::Cursor::new(Vec::new());
        both.write_to(&mut out, image::ImageFormat::Png)
            .expect("encode");
        assert_eq!(read_qr(&out.into_inner()), Err(VisionError::Several(2)));
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]
        /// Flipped bytes anywhere in a label's file: refused, or read exactly
        /// as printed — never misread, never a panic.
        #[test]
        fn a_corrupted_label_file_is_refused_or_read_exactly(
            flips in proptest::collection::vec((0usize..100_000, 1u8..=255), 1..8)
        ) {
            let text = crate::station::specialists::part_label("job-7", "P-001");
            let mut png = label_png(&text).expect("label");
            for (at, x) in flips {
                let i = at % png.len();
                png[i] ^= x;
            }
            if let Ok(read) = read_qr(&png) {
                proptest::prop_assert_eq!(read, text);
            }
        }

        /// Arbitrary bytes: an error, never a panic.
        #[test]
        fn arbitrary_bytes_are_refused(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..4096)) {
            let _ = read_qr(&bytes);
        }
    }

    #[test]
    fn a_huge_image_is_refused_before_decoding() {
        let img = image::GrayImage::from_pixel(4000, 2200, image::Luma([255u8]));
        let mut out = std::io::Cursor::new(Vec::new());
        img.write_to(&mut out, image::ImageFormat::Png)
            .expect("encode");
        assert_eq!(
            read_qr(&out.into_inner()),
            Err(VisionError::TooLarge(4000, 2200))
        );
    }
}
