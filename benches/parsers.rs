//! Parser throughput: commands and replies per second (`cargo bench`).
//!
//! - `parse_command/mix`: a realistic session's worth of control lines
//!   (login, navigation, passive setup, transfers, listings, a few odd
//!   spellings and errors a real client or person sends), parsed in a loop.
//! - `parse_reply/*`: single-line replies (220, 227, 229, 226, 550), a
//!   FEAT reply as `serv` sends it, and a 213 STAT reply of 50 lines.
//!
//! Throughput is reported in elements (commands or replies) per second;
//! `cargo bench --bench parsers -- --quick` gives a fast rough run.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ftp::protocol::parse_command;
use ftp::protocol::reply::parse_reply;

/// Control lines in roughly the proportions a client session sends them:
/// transfers dominate, each preceded by its data-connection setup.
const COMMAND_MIX: &[&str] = &[
    "USER anonymous\r\n",
    "PASS guest@example.com\r\n",
    "SYST\r\n",
    "FEAT\r\n",
    "OPTS UTF8 ON\r\n",
    "PWD\r\n",
    "TYPE I\r\n",
    "CWD /pub/releases/2024\r\n",
    "EPSV\r\n",
    "LIST -la\r\n",
    "SIZE linux-6.8.tar.xz\r\n",
    "MDTM linux-6.8.tar.xz\r\n",
    "EPSV\r\n",
    "RETR linux-6.8.tar.xz\r\n",
    "PASV\r\n",
    "REST 1048576\r\n",
    "RETR /pub/releases/2024/notes with spaces.txt\r\n",
    "EPRT |1|127.0.0.1|50123|\r\n",
    "STOR upload.bin\r\n",
    "PORT 127,0,0,1,195,80\r\n",
    "APPE log.txt\r\n",
    "EPSV\r\n",
    "MLSD\r\n",
    "MLST report.pdf\r\n",
    "CDUP\r\n",
    "MKD new dir\r\n",
    "RNFR old.txt\r\n",
    "RNTO new.txt\r\n",
    "DELE new.txt\r\n",
    "TYPE A\r\n",
    "NLST\r\n",
    "NOOP\r\n",
    "STAT\r\n",
    "retr lowercase.bin\n",
    "XPWD\r\n",
    "HELP SITE\r\n",
    "SITE CHMOD 644 x\r\n",
    "EPSV ALL\r\n",
    "ABOR\r\n",
    "QUIT\r\n",
];

/// One line of a long STAT reply (a directory listing over the control
/// connection): `ls -l` style, as servers send it.
fn stat_reply(lines: usize) -> String {
    let mut s = String::from("213-Status of /pub:\r\n");
    for i in 0..lines - 2 {
        s.push_str(&format!(
            "-rw-r--r--   1 ftp      ftp      {:>12} Nov 24 06:16 file-{i:03}.bin\r\n",
            1_048_576 + i * 4096
        ));
    }
    s.push_str("213 End of status\r\n");
    s
}

const FEAT: &str = "211-Features:\r\n EPRT\r\n EPSV\r\n MDTM\r\n MLST type*;size*;modify*;perm*;unique*;\r\n PASV\r\n REST STREAM\r\n SIZE\r\n TVFS\r\n UTF8\r\n211 End\r\n";

const SINGLE_LINE: &[&str] = &[
    "220 FTP server ready; log in as anonymous\r\n",
    "331 anonymous login ok; send any password (your e-mail address, by custom)\r\n",
    "230 logged in as anonymous\r\n",
    "200 type set to I\r\n",
    "229 Entering Extended Passive Mode (|||40123|)\r\n",
    "227 Entering Passive Mode (127,0,0,1,156,123)\r\n",
    "150 opening binary data connection for linux-6.8.tar.xz (1073741824 bytes)\r\n",
    "226 transfer complete: 1073741824 bytes in 0.612 s\r\n",
    "550 no such file or directory: missing.txt\r\n",
    "257 \"/pub/releases\" is the current directory\r\n",
];

fn commands(c: &mut Criterion) {
    // Every line must parse (or be a clean error), so the benchmark measures
    // the full path and not an early bail-out.
    let parsed = COMMAND_MIX
        .iter()
        .filter(|l| parse_command(l).is_ok())
        .count();
    assert!(parsed >= COMMAND_MIX.len() - 2, "the mix no longer parses");

    let mut group = c.benchmark_group("parse_command");
    group.throughput(Throughput::Elements(COMMAND_MIX.len() as u64));
    group.bench_function("mix", |b| {
        b.iter(|| {
            for line in COMMAND_MIX {
                let _ = black_box(parse_command(black_box(line)));
            }
        })
    });
    group.finish();
}

fn replies(c: &mut Criterion) {
    for r in SINGLE_LINE {
        assert!(parse_reply(r).is_ok(), "{r:?} does not parse");
    }
    let stat = stat_reply(50);
    let (_, parsed) = parse_reply(&stat).expect("the STAT reply parses");
    assert_eq!(parsed.lines().len(), 50);
    let (_, parsed) = parse_reply(FEAT).expect("the FEAT reply parses");
    assert_eq!(parsed.lines().len(), 11);

    let mut group = c.benchmark_group("parse_reply");
    group.throughput(Throughput::Elements(SINGLE_LINE.len() as u64));
    group.bench_function("single_line", |b| {
        b.iter(|| {
            for r in SINGLE_LINE {
                let _ = black_box(parse_reply(black_box(r)));
            }
        })
    });
    group.throughput(Throughput::Elements(1));
    group.bench_function("feat_11_lines", |b| {
        b.iter(|| black_box(parse_reply(black_box(FEAT))))
    });
    group.bench_function("stat_213_50_lines", |b| {
        b.iter(|| black_box(parse_reply(black_box(&stat))))
    });
    group.finish();
}

criterion_group!(benches, commands, replies);
criterion_main!(benches);
