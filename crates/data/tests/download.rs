//! Download against a test-local HTTP server on 127.0.0.1 serving archives built here.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use flate2::Compression;
use flate2::write::GzEncoder;
use kiln_data::cifar_binary::{RECORD_BYTES, RECORDS_PER_BATCH, encode_records};
use kiln_data::download::{download_cifar10, download_cifar10_with_md5, md5_file};
use kiln_data::{ChecksumSource, DataError, Split, load};

/// A `.tar.gz` holding `cifar-10-batches-bin/` with six distinct batches of the official size.
fn tarball() -> &'static Vec<u8> {
    static TARBALL: OnceLock<Vec<u8>> = OnceLock::new();
    TARBALL.get_or_init(|| {
        let n = RECORDS_PER_BATCH;
        let images: Vec<u8> = (0..n * 3072).map(|k| (k % 3072 / 12) as u8).collect();
        let labels: Vec<u8> = (0..n).map(|i| (i % 10) as u8).collect();
        let mut batch = encode_records(&images, &labels);
        assert_eq!(batch.len(), n * RECORD_BYTES);
        let mut builder = tar::Builder::new(GzEncoder::new(Vec::new(), Compression::fast()));
        let names = [
            "data_batch_1.bin",
            "data_batch_2.bin",
            "data_batch_3.bin",
            "data_batch_4.bin",
            "data_batch_5.bin",
            "test_batch.bin",
        ];
        for (i, name) in names.iter().enumerate() {
            batch[1] = i as u8; // identical batch files would be refused
            let mut header = tar::Header::new_gnu();
            header.set_size(batch.len() as u64);
            header.set_mode(0o644);
            header.set_cksum();
            builder
                .append_data(
                    &mut header,
                    format!("cifar-10-batches-bin/{name}"),
                    &batch[..],
                )
                .unwrap();
        }
        let meta = b"airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n\n";
        let mut header = tar::Header::new_gnu();
        header.set_size(meta.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        builder
            .append_data(
                &mut header,
                "cifar-10-batches-bin/batches.meta.txt",
                &meta[..],
            )
            .unwrap();
        builder.into_inner().unwrap().finish().unwrap()
    })
}

fn md5_hex(bytes: &[u8]) -> String {
    let tmp = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(tmp.path(), bytes).unwrap();
    md5_file(tmp.path()).unwrap()
}

/// Serves at most `conns` connections (or until 30 s pass), each answered with `status`, a
/// `Content-Length` of `claimed` (or the body length) and `body`, then stops.
fn serve(status: &'static str, body: Vec<u8>, claimed: Option<usize>, conns: usize) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut served = 0;
        while served < conns && Instant::now() < deadline {
            let Ok((mut stream, _)) = listener.accept() else {
                std::thread::sleep(Duration::from_millis(5));
                continue;
            };
            served += 1;
            stream.set_nonblocking(false).unwrap();
            stream
                .set_read_timeout(Some(Duration::from_secs(5)))
                .unwrap();
            let mut req = Vec::new();
            let mut buf = [0u8; 1024];
            while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => req.extend_from_slice(&buf[..n]),
                }
            }
            let head = format!(
                "HTTP/1.1 {status}\r\nContent-Length: {}\r\nContent-Type: application/gzip\r\n\
                 Connection: close\r\n\r\n",
                claimed.unwrap_or(body.len())
            );
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.write_all(&body);
            let _ = stream.flush();
        }
    });
    format!("http://{addr}/cifar-10-binary.tar.gz")
}

/// Names in `dir` (empty when it does not exist).
fn entries(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|it| {
            it.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

#[test]
fn downloads_checks_and_unpacks() {
    let body = tarball().clone();
    let md5 = md5_hex(&body);
    let url = serve("200 OK", body, None, 1);
    let tmp = tempfile::tempdir().unwrap();
    let dest = tmp.path().join("data");
    let dir = download_cifar10_with_md5(&dest, &url, &md5).unwrap();
    assert_eq!(dir, dest.join("cifar-10-batches-bin"));
    assert_eq!(
        entries(&dest),
        ["cifar-10-batches-bin", "cifar-10-binary.tar.gz"]
    );
    let test = load(&dest, Split::Test).unwrap();
    assert_eq!(test.len(), 10_000);
    assert_eq!(test.counts_per_class(), vec![1_000; 10]);
    // The unpacked folder got a SHA256SUMS of its files, which every load now verifies.
    assert!(test.warnings().is_empty(), "{:?}", test.warnings());
    assert_eq!(
        test.integrity().sources,
        [ChecksumSource::File(dir.join("SHA256SUMS"))]
    );
    assert_eq!(
        test.integrity().verified,
        ["batches.meta.txt", "test_batch.bin"]
    );
    let list = std::fs::read_to_string(dir.join("SHA256SUMS")).unwrap();
    assert_eq!(list.lines().count(), 7, "{list}");
    assert!(
        !entries(&dir).iter().any(|e| e.contains("tmp")),
        "{:?}",
        entries(&dir)
    );
    // Already there: returns at once, without contacting the (now finished) server.
    assert_eq!(download_cifar10_with_md5(&dest, &url, &md5).unwrap(), dir);
}

#[test]
fn archive_placed_by_hand_needs_no_network() {
    let body = tarball();
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("cifar-10-binary.tar.gz"), body).unwrap();
    let closed = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let url = format!("http://{closed}/nothing-listens-here");
    let dir = download_cifar10_with_md5(tmp.path(), &url, &md5_hex(body)).unwrap();
    assert!(dir.join("test_batch.bin").is_file());
}

#[test]
fn md5_mismatch_leaves_nothing_behind() {
    let mut body = tarball().clone();
    let good = md5_hex(&body);
    let mid = body.len() / 2;
    body[mid] ^= 0x55;
    let url = serve("200 OK", body, None, 1);
    let tmp = tempfile::tempdir().unwrap();
    let err = download_cifar10_with_md5(tmp.path(), &url, &good).unwrap_err();
    assert!(matches!(err, DataError::Checksum { .. }), "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains(&good) && msg.contains("cifar-10-binary.tar.gz"),
        "{msg}"
    );
    assert_eq!(entries(tmp.path()), Vec::<String>::new(), "left behind");
}

#[test]
fn default_md5_is_the_official_one() {
    let url = serve("200 OK", tarball().clone(), None, 1);
    let tmp = tempfile::tempdir().unwrap();
    let msg = download_cifar10(tmp.path(), &url).unwrap_err().to_string();
    assert!(msg.contains("c32a1d4ab5d03f1284b67883e8d87530"), "{msg}");
    assert_eq!(entries(tmp.path()), Vec::<String>::new());
}

#[test]
fn http_errors_explain_the_manual_route() {
    let tmp = tempfile::tempdir().unwrap();
    let url = serve("404 Not Found", b"no".to_vec(), None, 1);
    let err = download_cifar10(tmp.path(), &url).unwrap_err();
    assert!(matches!(err, DataError::Download { .. }), "{err}");
    let msg = err.to_string();
    for needle in [
        "404",
        "cifar-10-batches-bin/",
        "cifar-10-binary.tar.gz",
        "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz",
    ] {
        assert!(msg.contains(needle), "missing '{needle}' in: {msg}");
    }
    assert_eq!(entries(tmp.path()), Vec::<String>::new());

    // Offline: nothing listens on the port.
    let closed = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let err = download_cifar10(tmp.path(), &format!("http://{closed}/x.tar.gz")).unwrap_err();
    assert!(matches!(err, DataError::Download { .. }), "{err}");
    assert_eq!(entries(tmp.path()), Vec::<String>::new());
}

#[test]
fn interrupted_transfer_leaves_nothing_behind() {
    let body = tarball()[..1000].to_vec();
    let url = serve("200 OK", body, Some(tarball().len()), 1);
    let tmp = tempfile::tempdir().unwrap();
    let err = download_cifar10_with_md5(tmp.path(), &url, &md5_hex(tarball())).unwrap_err();
    assert!(matches!(err, DataError::Download { .. }), "{err}");
    assert_eq!(entries(tmp.path()), Vec::<String>::new());
}

#[test]
fn corrupt_archive_with_matching_md5_is_not_half_extracted() {
    // A truncated gzip stream: the MD5 given matches it, but unpacking fails midway.
    let body = tarball()[..tarball().len() * 2 / 3].to_vec();
    let md5 = md5_hex(&body);
    let url = serve("200 OK", body, None, 1);
    let tmp = tempfile::tempdir().unwrap();
    let err = download_cifar10_with_md5(tmp.path(), &url, &md5).unwrap_err();
    assert!(matches!(err, DataError::Format { .. }), "{err}");
    // Only the verified archive remains; no partial cifar-10-batches-bin, no temp folder.
    assert_eq!(entries(tmp.path()), ["cifar-10-binary.tar.gz"]);
}
