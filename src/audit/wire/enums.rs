//! TLS wire values as newtypes with named constants, in the rustls style: `ContentType(22)` is
//! `ContentType::HANDSHAKE`, any other value still round-trips, and Debug/Display name known
//! values and print unknown ones in hex. Pure.

use std::fmt;

/// Defines a wire newtype over `$repr` with named constants, `name()`, Debug/Display (the name,
/// or `Type(0x..)` for an unknown value) and conversions both ways.
macro_rules! wire_enum {
    (
        $(#[$doc:meta])*
        $name:ident($repr:ty) {
            $( $(#[$konst_doc:meta])* $konst:ident = $value:literal, )*
        }
    ) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(pub $repr);

        impl $name {
            $( $(#[$konst_doc])* pub const $konst: Self = Self($value); )*

            /// Every value with a name, in declaration order.
            pub const KNOWN: &[Self] = &[$(Self::$konst),*];

            /// The constant's name for a known value.
            pub fn name(self) -> Option<&'static str> {
                match self {
                    $( Self::$konst => Some(stringify!($konst)), )*
                    _ => None,
                }
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                match self.name() {
                    Some(name) => f.write_str(name),
                    None => write!(
                        f,
                        concat!(stringify!($name), "({:#0width$x})"),
                        self.0,
                        width = 2 + 2 * size_of::<$repr>()
                    ),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(self, f)
            }
        }

        impl From<$repr> for $name {
            fn from(value: $repr) -> Self {
                Self(value)
            }
        }

        impl From<$name> for $repr {
            fn from(value: $name) -> Self {
                value.0
            }
        }
    };
}

wire_enum! {
    /// A record's content type (RFC 8446 section 5.1, RFC 6520 for heartbeat).
    ContentType(u8) {
        /// ChangeCipherSpec: the plaintext part of a TLS 1.2 flight is over.
        CHANGE_CIPHER_SPEC = 20,
        /// An alert.
        ALERT = 21,
        /// Handshake messages.
        HANDSHAKE = 22,
        /// Encrypted application data.
        APPLICATION_DATA = 23,
        /// A heartbeat request or response (where Heartbleed lived).
        HEARTBEAT = 24,
    }
}

wire_enum! {
    /// A handshake message type (RFC 8446 section 4, RFC 5246 section 7.4, RFC 6066 section 8).
    HandshakeType(u8) {
        /// ClientHello.
        CLIENT_HELLO = 1,
        /// ServerHello (and HelloRetryRequest).
        SERVER_HELLO = 2,
        /// Certificate.
        CERTIFICATE = 11,
        /// ServerKeyExchange (TLS 1.2 and older).
        SERVER_KEY_EXCHANGE = 12,
        /// ServerHelloDone (TLS 1.2 and older).
        SERVER_HELLO_DONE = 14,
        /// ClientKeyExchange (TLS 1.2 and older).
        CLIENT_KEY_EXCHANGE = 16,
        /// Finished.
        FINISHED = 20,
        /// CertificateStatus: a stapled OCSP response (TLS 1.2 and older).
        CERTIFICATE_STATUS = 22,
    }
}

wire_enum! {
    /// An alert description (RFC 8446 section 6, RFC 7507).
    AlertDescription(u8) {
        /// close_notify.
        CLOSE_NOTIFY = 0,
        /// unexpected_message.
        UNEXPECTED_MESSAGE = 10,
        /// bad_record_mac: a record failed to decrypt or authenticate.
        BAD_RECORD_MAC = 20,
        /// decryption_failed (TLS 1.0's separate padding alert, withdrawn since TLS 1.1).
        DECRYPTION_FAILED = 21,
        /// handshake_failure: nothing offered is acceptable.
        HANDSHAKE_FAILURE = 40,
        /// illegal_parameter.
        ILLEGAL_PARAMETER = 47,
        /// decode_error.
        DECODE_ERROR = 50,
        /// decrypt_error: a Finished or signature did not verify.
        DECRYPT_ERROR = 51,
        /// protocol_version: the version offered is not spoken.
        PROTOCOL_VERSION = 70,
        /// insufficient_security.
        INSUFFICIENT_SECURITY = 71,
        /// internal_error.
        INTERNAL_ERROR = 80,
        /// inappropriate_fallback: TLS_FALLBACK_SCSV honoured (RFC 7507).
        INAPPROPRIATE_FALLBACK = 86,
        /// unrecognized_name: the SNI names no site here.
        UNRECOGNIZED_NAME = 112,
    }
}

wire_enum! {
    /// A hello extension type (IANA TLS ExtensionType Values).
    ExtensionType(u16) {
        /// server_name (SNI).
        SERVER_NAME = 0x0000,
        /// status_request (OCSP stapling).
        STATUS_REQUEST = 0x0005,
        /// supported_groups.
        SUPPORTED_GROUPS = 0x000A,
        /// ec_point_formats.
        EC_POINT_FORMATS = 0x000B,
        /// signature_algorithms.
        SIGNATURE_ALGORITHMS = 0x000D,
        /// heartbeat (RFC 6520).
        HEARTBEAT = 0x000F,
        /// application_layer_protocol_negotiation.
        ALPN = 0x0010,
        /// supported_versions (TLS 1.3).
        SUPPORTED_VERSIONS = 0x002B,
        /// psk_key_exchange_modes (TLS 1.3).
        PSK_KEY_EXCHANGE_MODES = 0x002D,
        /// key_share (TLS 1.3).
        KEY_SHARE = 0x0033,
        /// renegotiation_info (RFC 5746 secure renegotiation).
        RENEGOTIATION_INFO = 0xFF01,
    }
}

wire_enum! {
    /// A cipher suite value: every suite list, ServerHello and table lookup of the audit speaks
    /// it ([`super::super::suites`] holds the IANA names of the rest).
    CipherSuite(u16) {
        /// RFC 5746's signalling value for secure renegotiation (SSL 3.0 clients).
        TLS_EMPTY_RENEGOTIATION_INFO_SCSV = 0x00FF,
        /// RFC 7507: the client fell back to a lower version on purpose.
        TLS_FALLBACK_SCSV = 0x5600,
        /// TLS 1.3.
        TLS_AES_128_GCM_SHA256 = 0x1301,
        /// TLS 1.3.
        TLS_AES_256_GCM_SHA384 = 0x1302,
        /// TLS 1.3.
        TLS_CHACHA20_POLY1305_SHA256 = 0x1303,
        /// TLS 1.3 (RFC 8446).
        TLS_AES_128_CCM_SHA256 = 0x1304,
        /// TLS 1.3 (RFC 8446).
        TLS_AES_128_CCM_8_SHA256 = 0x1305,
    }
}

/// Reports write a cipher suite as its number, as the IANA table does.
impl serde::Serialize for CipherSuite {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u16(self.0)
    }
}

/// An array of [`CipherSuite`]s from their IANA values: `cipher_suites![0xC02B, 0x1301]`.
macro_rules! cipher_suites {
    ($($id:expr),* $(,)?) => {
        [$($crate::audit::wire::CipherSuite($id)),*]
    };
}
pub(crate) use cipher_suites;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_values_are_named_and_unknown_ones_round_trip_in_hex() {
        assert_eq!(ContentType::from(22), ContentType::HANDSHAKE);
        assert_eq!(ContentType::HANDSHAKE.to_string(), "HANDSHAKE");
        assert_eq!(format!("{:?}", ContentType(99)), "ContentType(0x63)");
        assert_eq!(u8::from(ContentType(99)), 99);
        assert_eq!(
            AlertDescription(86),
            AlertDescription::INAPPROPRIATE_FALLBACK
        );
        assert_eq!(AlertDescription(255).name(), None);
        assert_eq!(ExtensionType(0xFF01).to_string(), "RENEGOTIATION_INFO");
        assert_eq!(ExtensionType(0x1234).to_string(), "ExtensionType(0x1234)");
        assert_eq!(format!("{}", CipherSuite(0x5600)), "TLS_FALLBACK_SCSV");
        assert_eq!(format!("{}", CipherSuite(0xC02F)), "CipherSuite(0xc02f)");
        assert_eq!(HandshakeType::from(14), HandshakeType::SERVER_HELLO_DONE);
    }

    #[test]
    fn every_value_round_trips_through_its_integer() {
        for v in 0..=u8::MAX {
            assert_eq!(u8::from(ContentType::from(v)), v);
            assert_eq!(u8::from(HandshakeType::from(v)), v);
            assert_eq!(u8::from(AlertDescription::from(v)), v);
        }
        for v in [0u16, 0x00FF, 0x1301, 0x5600, 0xFF01, 0xFFFF] {
            assert_eq!(u16::from(ExtensionType::from(v)), v);
            assert_eq!(u16::from(CipherSuite::from(v)), v);
        }
        // Names are unique within each type.
        let mut names: Vec<_> = ExtensionType::KNOWN.iter().map(|e| e.name()).collect();
        names.dedup();
        assert_eq!(names.len(), ExtensionType::KNOWN.len());
    }
}
