//! Host-port forms of the data-connection commands and replies.
//!
//! - RFC 959 §4.1.2 `host-port`: `h1,h2,h3,h4,p1,p2`, used by PORT and the 227
//!   reply to PASV (IPv4 only).
//! - RFC 2428 §2 EPRT argument: `<d><net-prt><d><net-addr><d><tcp-port><d>`
//!   with `net-prt` 1 (IPv4) or 2 (IPv6) and `<d>` any printable ASCII
//!   character (usually `|`).
//! - RFC 2428 §3 EPSV reply text: `(<d><d><d><tcp-port><d>)`.
//!
//! Servers phrase the 227 text freely ("Entering Passive Mode (h,h,h,h,p,p)",
//! "=h,h,h,h,p,p", no parentheses at all), so [`find_host_port`] scans for the
//! first six-number group rather than expecting one phrasing.

use std::net::{IpAddr, SocketAddr, SocketAddrV4};

use nom::{
    bytes::complete::{tag, take_till1},
    character::complete::{anychar, char, digit1, u16 as dec_u16, u8 as dec_u8},
    combinator::{all_consuming, map_res, verify},
    IResult, Parser,
};

/// `h1,h2,h3,h4,p1,p2`: an IPv4 address and a port as six decimal bytes.
pub fn host_port(input: &str) -> IResult<&str, SocketAddrV4> {
    let (input, (h1, _, h2, _, h3, _, h4, _, p1, _, p2)) = (
        dec_u8,
        char(','),
        dec_u8,
        char(','),
        dec_u8,
        char(','),
        dec_u8,
        char(','),
        dec_u8,
        char(','),
        dec_u8,
    )
        .parse(input)?;
    let port = u16::from(p1) << 8 | u16::from(p2);
    Ok((input, SocketAddrV4::new([h1, h2, h3, h4].into(), port)))
}

/// Serializes `addr` in the `h1,h2,h3,h4,p1,p2` form.
pub fn format_host_port(addr: SocketAddrV4) -> String {
    let [h1, h2, h3, h4] = addr.ip().octets();
    let [p1, p2] = addr.port().to_be_bytes();
    format!("{h1},{h2},{h3},{h4},{p1},{p2}")
}

/// Finds the first `h1,h2,h3,h4,p1,p2` group in the text of a 227 reply.
pub fn find_host_port(text: &str) -> Option<SocketAddrV4> {
    text.char_indices()
        .filter(|&(i, c)| c.is_ascii_digit() && !text[..i].ends_with(|p: char| p.is_ascii_digit()))
        .find_map(|(i, _)| host_port(&text[i..]).ok().map(|(_, addr)| addr))
}

/// The delimiter of the RFC 2428 forms: any printable ASCII character but the
/// digits (a digit delimiter would make the numbers ambiguous).
fn delimiter(input: &str) -> IResult<&str, char> {
    verify(anychar, |c| c.is_ascii_graphic() && !c.is_ascii_digit()).parse(input)
}

/// The argument of EPRT: `|1|132.235.1.2|6275|` or `|2|::1|5282|`.
pub fn eprt_argument(input: &str) -> IResult<&str, SocketAddr> {
    let (input, d) = delimiter(input)?;
    let (input, family) = dec_u8(input)?;
    let (input, _) = char(d)(input)?;
    let (input, ip) =
        map_res(take_till1(|c| c == d), |s: &str| s.parse::<IpAddr>()).parse(input)?;
    let (input, _) = char(d)(input)?;
    let (input, port) = dec_u16(input)?;
    let (input, _) = char(d)(input)?;
    let family_matches = matches!((family, ip), (1, IpAddr::V4(_)) | (2, IpAddr::V6(_)));
    if !family_matches {
        return Err(nom::Err::Error(nom::error::Error::new(
            input,
            nom::error::ErrorKind::Verify,
        )));
    }
    Ok((input, SocketAddr::new(ip, port)))
}

/// Serializes `addr` as an EPRT argument with `|` delimiters.
pub fn format_eprt(addr: SocketAddr) -> String {
    let family = if addr.is_ipv4() { 1 } else { 2 };
    format!("|{family}|{}|{}|", addr.ip(), addr.port())
}

/// `(|||port|)` inside the text of a 229 reply; returns the port.
pub fn epsv_port(input: &str) -> IResult<&str, u16> {
    let (input, _) = char('(')(input)?;
    let (input, d) = delimiter(input)?;
    let (input, _) = (char(d), char(d)).parse(input)?;
    let (input, port) = map_res(digit1, str::parse::<u16>).parse(input)?;
    let (input, _) = (char(d), tag(")")).parse(input)?;
    Ok((input, port))
}

/// Finds the `(|||port|)` group in the text of a 229 reply.
pub fn find_epsv_port(text: &str) -> Option<u16> {
    text.match_indices('(')
        .find_map(|(i, _)| epsv_port(&text[i..]).ok().map(|(_, port)| port))
}

/// Serializes a port in the `(|||port|)` form of the 229 reply.
pub fn format_epsv_port(port: u16) -> String {
    format!("(|||{port}|)")
}

/// Parses a whole string as `h1,h2,h3,h4,p1,p2` (the PORT argument).
pub fn parse_host_port(input: &str) -> Option<SocketAddrV4> {
    all_consuming(host_port).parse(input).ok().map(|(_, a)| a)
}

/// Parses a whole string as an EPRT argument.
pub fn parse_eprt(input: &str) -> Option<SocketAddr> {
    all_consuming(eprt_argument)
        .parse(input)
        .ok()
        .map(|(_, a)| a)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn pasv_reply_phrasings() {
        let want: SocketAddrV4 = "127.0.0.1:1025".parse().unwrap();
        for text in [
            "Entering Passive Mode (127,0,0,1,4,1).",
            "Entering Passive Mode 127,0,0,1,4,1",
            "=127,0,0,1,4,1",
            "Passive (port 21) (127,0,0,1,4,1)",
        ] {
            assert_eq!(find_host_port(text), Some(want), "{text}");
        }
        assert_eq!(find_host_port("Entering Passive Mode (1,2,3)"), None);
        assert_eq!(find_host_port("(256,0,0,1,4,1)"), None);
    }

    #[test]
    fn epsv_reply_forms() {
        assert_eq!(
            find_epsv_port("Entering Extended Passive Mode (|||6446|)"),
            Some(6446)
        );
        assert_eq!(find_epsv_port("ok (!!!6446!)"), Some(6446));
        assert_eq!(find_epsv_port("(|||70000|)"), None);
        assert_eq!(find_epsv_port("(|||6446)"), None);
    }

    #[test]
    fn eprt_arguments() {
        assert_eq!(
            parse_eprt("|1|132.235.1.2|6275|"),
            Some("132.235.1.2:6275".parse().unwrap())
        );
        assert_eq!(
            parse_eprt("|2|::1|5282|"),
            Some("[::1]:5282".parse().unwrap())
        );
        assert_eq!(parse_eprt("|2|132.235.1.2|6275|"), None, "family mismatch");
        assert_eq!(parse_eprt("|1|132.235.1.2|6275"), None);
        assert_eq!(parse_eprt("|3|1.2.3.4|1|"), None);
    }

    proptest! {
        #[test]
        fn host_port_round_trips(ip: [u8; 4], port: u16) {
            let addr = SocketAddrV4::new(ip.into(), port);
            prop_assert_eq!(parse_host_port(&format_host_port(addr)), Some(addr));
            let text = format!("Entering Passive Mode ({}).", format_host_port(addr));
            prop_assert_eq!(find_host_port(&text), Some(addr));
        }

        #[test]
        fn eprt_round_trips(addr: SocketAddr) {
            // Scope ids and flow info are not part of the wire form.
            let addr = SocketAddr::new(addr.ip(), addr.port());
            prop_assert_eq!(parse_eprt(&format_eprt(addr)), Some(addr));
        }

        #[test]
        fn epsv_round_trips(port: u16) {
            prop_assert_eq!(find_epsv_port(&format_epsv_port(port)), Some(port));
        }
    }
}
