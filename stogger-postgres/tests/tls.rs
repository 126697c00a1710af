//! TLS against a real server with certificates made by the openssl CLI:
//! `require` encrypts without checking, `verify-ca` checks the chain only,
//! `verify-full` checks chain and host name; SCRAM works over TLS.

mod common;

use std::path::Path;
use std::process::Command;

use common::*;
use stogger_postgres::{check, OpenStatus, Writer};

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| {
            panic!("this test needs the openssl CLI (apt-get install openssl): {e}")
        });
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA, and a server certificate from it valid only for `db.example`.
fn make_certs(dir: &Path) {
    for (name, subj) in [
        ("ca", "/CN=stogger test CA"),
        ("other-ca", "/CN=another CA"),
    ] {
        openssl(
            dir,
            &[
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "2",
                "-keyout",
                &format!("{name}.key"),
                "-out",
                &format!("{name}.pem"),
                "-subj",
                subj,
                "-addext",
                "basicConstraints=critical,CA:TRUE",
                "-addext",
                "keyUsage=critical,keyCertSign,cRLSign",
            ],
        );
    }
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=db.example",
        ],
    );
    std::fs::write(
        dir.join("ext.cnf"),
        "subjectAltName=DNS:db.example\nbasicConstraints=CA:FALSE\n\
         extendedKeyUsage=serverAuth\nkeyUsage=digitalSignature,keyEncipherment\n",
    )
    .unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-out",
            "server.crt",
            "-extfile",
            "ext.cnf",
        ],
    );
}

#[test]
fn sslmodes_encrypt_and_verify_like_libpq() {
    let mut pg = cluster("pgtls");
    let certs = tempfile::tempdir().unwrap();
    make_certs(certs.path());
    // Install the server's key and certificate; the server runs as its own
    // user when the tests run as root.
    let data = pg.data_dir().to_path_buf();
    for f in ["server.crt", "server.key"] {
        std::fs::copy(certs.path().join(f), data.join(f)).unwrap();
    }
    let owner = Command::new("stat")
        .args(["-c", "%U"])
        .arg(&data)
        .output()
        .unwrap();
    let owner = String::from_utf8_lossy(&owner.stdout).trim().to_string();
    let chown = Command::new("chown")
        .arg(&owner)
        .arg(data.join("server.crt"))
        .arg(data.join("server.key"))
        .status()
        .unwrap();
    assert!(chown.success());
    let chmod = Command::new("chmod")
        .arg("600")
        .arg(data.join("server.key"))
        .status()
        .unwrap();
    assert!(chmod.success());
    let mut conf = std::fs::OpenOptions::new()
        .append(true)
        .open(data.join("postgresql.conf"))
        .unwrap();
    std::io::Write::write_all(
        &mut conf,
        b"\nssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\n",
    )
    .unwrap();
    pg.stop_server().unwrap();
    pg.start_server().unwrap();

    let base = pg.tcp_dsn("stogger", "secret", "stogger");
    let ca = certs.path().join("ca.pem");
    let other = certs.path().join("other-ca.pem");
    let dsn = |q: String| format!("{base}?{q}");

    // require: encrypted (and SCRAM authentication works over TLS), rows arrive.
    let c = config(&dsn("sslmode=require".into()), "tls_logs");
    let report = check(&c);
    assert_eq!(report.tls, Some(true), "{report:#?}");
    let opened = open(&c, None);
    assert_eq!(opened.status, OpenStatus::Connected);
    let row = OwnedRow::new("over-tls", "{}");
    assert_eq!(opened.writer.write(&[row.as_ref()]), 1);
    assert!(opened.writer.flush(FLUSH));
    opened.writer.close(FLUSH);
    assert_eq!(sql(&pg, "stogger", "SELECT count(*) FROM tls_logs"), "1");

    // disable: plain text.
    assert_eq!(
        check(&config(&dsn("sslmode=disable".into()), "tls_logs")).tls,
        Some(false)
    );

    // verify-ca: the chain is ours; the name (db.example vs 127.0.0.1) is not checked.
    let c = config(
        &dsn(format!("sslmode=verify-ca&sslrootcert={}", ca.display())),
        "tls_logs",
    );
    let report = check(&c);
    assert!(report.connected && report.tls == Some(true), "{report:#?}");

    // verify-ca with a CA that did not sign the server: refused.
    let c = config(
        &dsn(format!("sslmode=verify-ca&sslrootcert={}", other.display())),
        "tls_logs",
    );
    let opened = Writer::open(&c, None).unwrap();
    let OpenStatus::Retrying(reason) = &opened.status else {
        panic!("{:?}", opened.status)
    };
    assert!(reason.to_lowercase().contains("certificate"), "{reason}");
    assert!(!reason.contains("secret"), "{reason}");
    drop(opened);

    // verify-full: right chain, but the certificate names db.example, not 127.0.0.1.
    let c = config(
        &dsn(format!("sslmode=verify-full&sslrootcert={}", ca.display())),
        "tls_logs",
    );
    let report = check(&c);
    assert!(!report.connected, "{report:#?}");
    assert!(
        report.problems[0].to_lowercase().contains("certificate"),
        "{report:#?}"
    );
    // verify-full with the name the certificate carries (hostaddr keeps the
    // connection on loopback while the TLS name is db.example).
    let named = format!(
        "host=db.example hostaddr=127.0.0.1 port={} user=stogger password=secret dbname=stogger \
         sslmode=verify-full sslrootcert={}",
        pg.port(),
        ca.display()
    );
    let report = check(&config(&named, "tls_logs"));
    assert!(report.connected && report.tls == Some(true), "{report:#?}");
}
