//! Turning a CSV file's bytes into text, whatever Excel or the HR system saved it as.

use encoding_rs::{Encoding, WINDOWS_1252};

/// Decodes UTF-8 (with or without BOM), UTF-16 with BOM, and otherwise Windows-1252,
/// the "CSV (Comma delimited)" encoding of Excel on Western Windows.
pub fn decode_text(bytes: Vec<u8>) -> String {
    if let Some((encoding, bom_len)) = Encoding::for_bom(&bytes) {
        return encoding
            .decode_without_bom_handling(&bytes[bom_len..])
            .0
            .into_owned();
    }
    // Plain UTF-8 is the common case: keep the buffer rather than copy a large sheet.
    String::from_utf8(bytes).unwrap_or_else(|e| {
        tracing::info!("the file is not UTF-8; reading it as Windows-1252");
        WINDOWS_1252
            .decode_without_bom_handling(e.as_bytes())
            .0
            .into_owned()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_utf8_bom() {
        assert_eq!(decode_text(b"\xEF\xBB\xBFuser_id\n".to_vec()), "user_id\n");
    }

    #[test]
    fn reads_utf16le_with_bom() {
        let mut bytes = vec![0xFF, 0xFE];
        for unit in "José".encode_utf16() {
            bytes.extend_from_slice(&unit.to_le_bytes());
        }
        assert_eq!(decode_text(bytes), "José");
    }

    #[test]
    fn falls_back_to_windows_1252() {
        assert_eq!(decode_text(b"Jos\xE9 \x80".to_vec()), "José €");
    }
}
